import pytest

from selfcorrect.config import (
    check_models,
    load_config,
    task_config,
    validate_config,
    validate_stage_cfg,
)
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
    cfg = validate_config(
        {"resources": {"train": {"runtime": 600}}, "rollout": {"train": {"max_new_tokens": 64}}}
    )
    # the family's own defaults, not the generic ones of $defs (gpu 0, one greedy sample)
    assert cfg["resources"]["train"] == {
        "gpu": 1,
        "cpus_per_gpu": 8,
        "mem_mb": 8000,
        "runtime": 600,
        "cpus": 8,
    }
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
    for path in [root / "config/template.yaml", *sorted((root / "config/presets").glob("*"))]:
        load_config(path)


def test_the_template_is_complete_with_real_model_settings(root):
    cfg = load_config(root / "config/template.yaml")
    assert cfg["base_model"]["source"] != "tiny" and cfg["task"] == "gsm8k"
    assert cfg["models"] == ["base", "score_stage1", "score"]
    assert cfg["rollout"]["eval"]["max_new_tokens"] >= 512
    assert cfg["rollout"]["eval_turns"] == 2 and cfg["rollout"]["eval_window"] == 0
    assert cfg["rise"]["iterations"] == 0 and not cfg["scaling"]["enabled"]


def test_missing_and_malformed_config_files(tmp_path):
    with pytest.raises(SelfCorrectError, match="not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("task: [unclosed\n")
    with pytest.raises(SelfCorrectError, match="bad.yaml: not valid YAML"):
        load_config(bad)


def test_schema_defaults_are_a_real_models():
    """A config file is complete on its own: what it leaves out takes these, never the tiny
    default's values (32-token answers, 4 evaluation attempts, window 1, RISE and scaling on)."""
    cfg = validate_config({})
    assert cfg["rollout"]["train"]["max_new_tokens"] == 512
    assert cfg["rollout"]["eval"]["max_new_tokens"] == 512
    assert (cfg["rollout"]["eval_turns"], cfg["rollout"]["eval_window"]) == (2, 0)
    assert cfg["score"]["lr"] == 5.0e-6 and cfg["score"]["max_new_tokens"] == 1024
    assert cfg["rise"]["iterations"] == 0 and cfg["scaling"]["enabled"] is False


def test_command_line_strings_are_converted_by_the_schema_type():
    # Snakemake hands nested --config values over as strings: score={stage1_steps: 10}
    cfg = validate_config(
        {
            "score": {"stage1_steps": "10", "lr": "1e-5", "bf16": "false"},
            "scaling": {"budgets": ["2", "4"], "enabled": "true"},
            "rollout": {"eval": {"temperature": "0.5"}},
            "baselines": {"self_refine": {"instruction": "10"}},
        }
    )
    assert cfg["score"]["stage1_steps"] == 10 and isinstance(cfg["score"]["stage1_steps"], int)
    assert cfg["score"]["lr"] == 1e-5 and cfg["score"]["bf16"] is False
    assert cfg["scaling"]["budgets"] == [2, 4] and cfg["scaling"]["enabled"] is True
    assert cfg["rollout"]["eval"]["temperature"] == 0.5
    assert cfg["baselines"]["self_refine"]["instruction"] == "10"  # a string where one belongs
    with pytest.raises(SelfCorrectError, match=r"score.stage1_steps: 'ten' is not of type"):
        validate_config({"score": {"stage1_steps": "ten"}})
    with pytest.raises(SelfCorrectError, match=r"score.stage1_steps: 0 is less than"):
        validate_config({"score": {"stage1_steps": "0"}})


@pytest.mark.parametrize(
    "config, message",
    [
        ({"scor": {}}, "config: scor: unknown key (did you mean 'score'?)"),
        (
            {"tasks": {"gsm8k": {"sorce": "x.parquet"}}},
            "config: tasks.gsm8k.sorce: unknown key (did you mean 'source'?)",
        ),
        (
            {"tasks": {"arith": {"n_trian": 8}}},
            "config: tasks.arith.n_trian: unknown key (did you mean 'n_train'?)",
        ),
        (
            {"tasks": {"math": {"sources": {"test": {"source": "x", "splt": "test"}}}}},
            "config: tasks.math.sources.test.splt: unknown key (did you mean 'split'?)",
        ),
        (
            {"rollout": {"eval": {"max_new_token": 8}}},
            "config: rollout.eval.max_new_token: unknown key (did you mean 'max_new_tokens'?)",
        ),
        ({"task": "gsm8"}, "config: task: unknown task 'gsm8' (did you mean 'gsm8k'?)"),
        (
            {"benchmarks": ["arith", "humaneva"]},
            "config: benchmarks.1: unknown task 'humaneva' (did you mean 'humaneval'?)",
        ),
        (
            {"task": "nosuch"},
            "config: task: unknown task 'nosuch' (known: arith, gsm8k, humaneval, math, mbpp, wordprob)",
        ),
        ({"tasks": {"gms8k": {}}}, "config: tasks.gms8k: unknown task 'gms8k'"),
    ],
)
def test_unknown_keys_and_names_are_refused_with_the_nearest_one(config, message):
    with pytest.raises(SelfCorrectError) as err:
        validate_config(config)
    assert str(err.value).startswith(message)


def test_task_sections_keep_their_settings():
    cfg = validate_config(
        {
            "task": "math",
            "tasks": {
                "math": {
                    "sources": {
                        "train": "a.jsonl",
                        "test": {"source": "b", "split": "test", "limit": 5},
                    },
                    "hub_config": "default",
                    "split_names": {"test": "validation"},
                    "limit": 10,
                }
            },
        }
    )
    assert cfg["tasks"]["math"]["sources"]["train"] == "a.jsonl"
    assert cfg["tasks"]["math"]["split_names"] == {"test": "validation"}


def test_model_names_are_checked_against_what_the_rules_build():
    known = ["base", "score_stage1", "score", "rise_1"]
    check_models(["base", "score"], known)
    with pytest.raises(
        SelfCorrectError,
        match=r"models.1: no method builds 'scor' \(did you "
        r"mean 'score'\?\)",
    ):
        check_models(["base", "scor"], known)
    # a list that picks from `models` (scaling.models) is checked against it
    with pytest.raises(SelfCorrectError, match=r"^config: scaling.models.0: not in `models`: 'sta"):
        check_models(["star_1"], known, key="scaling.models")


def test_stage_cfg_is_validated_and_completed_like_the_config():
    cfg = validate_stage_cfg("score", {"score": {"steps": "3"}})
    assert cfg["score"]["steps"] == 3 and cfg["score"]["seed"] == 0
    assert cfg["score"]["lr"] == validate_config({})["score"]["lr"]
    assert validate_stage_cfg("rise-train", {})["loss"] == "rwr"
    base = validate_stage_cfg("base-model", {"task": "arith"})
    assert base["base_model"]["pretrain"]["seed"] == 0 and base["task_cfg"]["n_train"] == 2048
    rollout = validate_stage_cfg("rollout", {"rollout": {"turns": 3}})
    assert rollout["rollout"]["window"] == 0 and rollout["sampling"]["max_new_tokens"] == 512
    for stage, cfg, message in [
        ("score", {"score": {"stage1_steps": 3}}, "--cfg: score.stage1_steps: unknown key"),
        ("score", {"score": {}}, "--cfg: score: 'steps' is a required property"),
        ("rise-train", {"los": "rwr"}, "--cfg: los: unknown key (did you mean 'loss'?)"),
        (
            "base-model",
            {"task": "arith", "task_cfg": {"n_tests": 3}},
            "--cfg: tasks.arith.n_tests: unknown key (did you mean 'n_test'?)",
        ),
        ("rollout", {"rollout": {"turns": 0}}, "--cfg: rollout.turns: 0 is less than"),
    ]:
        with pytest.raises(SelfCorrectError) as err:
            validate_stage_cfg(stage, cfg)
        assert str(err.value).startswith(message), str(err.value)


def test_stage_command_answers_bad_cfg_with_one_line(capsys):
    from selfcorrect.cli import main

    rc = main(
        [
            "rise-train",
            "--init",
            "m",
            "--data",
            "d.parquet",
            "--out",
            "o",
            "--cfg",
            '{"tau": "warm"}',
        ]
    )
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "\n" not in err
    assert err == "selfcorrect rise-train: error: --cfg: tau: 'warm' is not of type 'number'"
    rc = main(
        [
            "prepare",
            "--task",
            "gsm8k",
            "--split",
            "test",
            "--out",
            "o.parquet",
            "--cfg",
            '{"sorce": "x.parquet"}',
        ]
    )
    assert rc == 2
    assert capsys.readouterr().err.strip() == (
        "selfcorrect prepare: error: --cfg: tasks.gsm8k.sorce: unknown key (did you mean 'source'?)"
    )


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
    assert {
        ("score", "lr"),
        ("score", "alpha"),
        ("score", "beta1"),
        ("rise", "train", "lr"),
        ("rollout", "eval", "temperature"),
    } <= set(keys)
    for path in keys:
        with pytest.raises(SelfCorrectError) as err:
            validate_config(nested(path, float(bad)))
        assert str(err.value) == f"config: {'.'.join(path)}: {float(bad)} is not a finite number"


def test_a_yaml_nan_is_refused_with_the_file_and_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("score:\n  alpha: .nan\n")
    with pytest.raises(SelfCorrectError, match=r"c.yaml: score.alpha: nan is not a finite number"):
        load_config(path)


def test_the_run_seed_sets_every_stage_seed_the_config_leaves_out():
    cfg = validate_config({"seed": 3, "score": {"seed": 7}, "tasks": {"arith": {"seed": 5}}})
    assert cfg["base_model"]["pretrain"]["seed"] == 3
    assert cfg["rollout"]["train"]["seed"] == cfg["rise"]["train"]["seed"] == 3
    assert cfg["score"]["seed"] == 7  # set by the config itself
    assert cfg["tasks"]["arith"]["seed"] == 5
    assert validate_config({"seed": 3})["tasks"]["arith"]["seed"] == 0  # the problems stay
    assert validate_config(cfg) == cfg  # a resolved config validates to itself
