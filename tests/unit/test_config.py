import pytest

from selfcorrect.config import load_config, task_config, validate_config
from selfcorrect.errors import SelfCorrectError


def test_defaults_are_filled_from_the_schema():
    cfg = validate_config({})
    assert cfg["task"] == "arith"
    assert cfg["rollout"]["turns"] == 2
    assert cfg["rollout"]["eval"]["temperature"] == 0.0  # greedy evaluation, as in the paper
    assert cfg["rollout"]["train"]["samples"] == 4
    assert cfg["tasks"]["arith"]["sft"]["copy"] == 0.7
    assert task_config("gsm8k", {"source": "x.jsonl"}) == {"source": "x.jsonl"}


def test_a_partial_object_keeps_the_rest_of_its_default():
    cfg = validate_config({"resources": {"train": {"runtime": 600}},
                           "rollout": {"train": {"max_new_tokens": 64}}})
    # the family's own defaults, not the generic ones of $defs (gpu 0, one greedy sample)
    assert cfg["resources"]["train"] == {"gpu": 1, "cpus_per_gpu": 8, "mem_mb": 8000,
                                         "runtime": 600, "cpus": 8}
    assert cfg["rollout"]["train"]["samples"] == 4
    assert cfg["rollout"]["train"]["temperature"] == 1.0
    assert cfg["rollout"]["train"]["max_new_tokens"] == 64


@pytest.mark.parametrize(
    "config, key",
    [
        ({"rollout": {"turns": 0}}, "rollout.turns"),
        ({"rollout": {"eval": {"temperature": -1}}}, "rollout.eval.temperature"),
        ({"tasks": {"arith": {"n_test": "many"}}}, "tasks.arith.n_test"),
        ({"models": ["bad-name"]}, "models.0"),
        ({"unknown_key": 1}, "unknown_key"),
    ],
)
def test_errors_are_one_line_and_name_the_key(config, key):
    with pytest.raises(SelfCorrectError) as err:
        validate_config(config)
    message = str(err.value)
    assert "\n" not in message and key in message


def test_shipped_configs_are_valid(root):
    for path in [root / "config/config.yaml", root / "config/test.yaml"]:
        assert load_config(path)["base_model"]["source"] == "tiny"


def test_missing_and_malformed_config_files(tmp_path):
    with pytest.raises(SelfCorrectError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed\n")
    with pytest.raises(SelfCorrectError, match="bad.yaml: not valid YAML"):
        load_config(bad)


def number_keys(schema: dict, node: dict | None = None, prefix: tuple = ()) -> list[tuple]:
    """Every key the schema declares as a number, as a path of property names (through
    `$ref`s to `$defs` and `allOf`)."""
    node = schema if node is None else node
    if "$ref" in node:
        node = {**node, **schema["$defs"][node["$ref"].split("/")[-1]]}
    found = []
    for part in node.get("allOf", []):
        found += number_keys(schema, part, prefix)
    for name, sub in node.get("properties", {}).items():
        types = sub.get("type")
        if types == "number" or (isinstance(types, list) and "number" in types):
            found.append((*prefix, name))
        found += number_keys(schema, sub, (*prefix, name))
    return found


def nested(path: tuple, value) -> dict:
    for name in reversed(path):
        value = {name: value}
    return value


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
def test_every_number_must_be_finite(bad):
    from selfcorrect.config import load_schema

    keys = number_keys(load_schema())
    assert {("score", "lr"), ("score", "alpha"), ("score", "beta1"), ("rise", "train", "lr"),
            ("rollout", "eval", "temperature")} <= set(keys)
    for path in keys:
        with pytest.raises(SelfCorrectError) as err:
            validate_config(nested(path, float(bad)))
        assert str(err.value) == f"config: {'.'.join(path)}: {float(bad)} is not a finite number"


def test_a_yaml_nan_is_refused_with_the_file_and_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("score:\n  alpha: .nan\n")
    with pytest.raises(SelfCorrectError, match=r"c.yaml: score.alpha: nan is not a finite number"):
        load_config(path)
