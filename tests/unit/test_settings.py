"""Typed stage settings (selfcorrect/settings.py): built from the validated --cfg, so their
values are the schema's defaults wherever the --cfg leaves a key out."""

import dataclasses

import pytest

from selfcorrect.config import load_schema, validate_stage_cfg
from selfcorrect.errors import SelfCorrectError
from selfcorrect.settings import STAGES, ScoreConfig, TinyConfig, build, parse
from selfcorrect.train.losses import LossConfig
from selfcorrect.train.score import loss_config

# the smallest valid --cfg of each stage (rollout's optional `limit` given: absent it is None)
MINIMAL = {
    "base-model": {"task": "arith"},
    "score": {"score": {"steps": 1}},
    "rollout": {"rollout": {"limit": 3}},
}


def schema_default(*path):
    node = load_schema()
    for key in path:
        node = node["properties"][key]
    return node["default"]


def test_a_partial_cfg_takes_the_schemas_defaults():
    cfg = parse("score", {"score": {"steps": 5, "samples": 4}})
    score = cfg.score
    assert isinstance(score, ScoreConfig) and (score.steps, score.samples) == (5, 4)
    assert score.alpha == schema_default("score", "alpha") == 10.0
    assert score.backend == schema_default("rollout", "backend") == "auto"
    assert score.beta2 == schema_default("score", "beta2")
    assert score.credit == schema_default("score", "credit")
    assert cfg.task_cfg == {}
    rise = parse("rise-train", {"epochs": 1})
    assert rise.epochs == 1 and rise.tau == schema_default("rise", "train", "tau")
    base = parse("base-model", {"task": "arith"}).base_model
    assert isinstance(base.tiny, TinyConfig)
    assert base.pretrain.steps == schema_default("base_model", "pretrain", "steps")
    assert parse("distributed", {}).zero_stage == schema_default("distributed", "zero_stage")
    assert parse("rollout", {}).rollout.limit is None


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_every_stage_is_its_validated_cfg_again(stage):
    """Each settings class has a field for every key its schema section holds, no more (a key
    added to the schema alone fails here), and `asdict` gives the validated --cfg back."""
    given = MINIMAL.get(stage, {})
    validated = validate_stage_cfg(stage, given)
    assert dataclasses.asdict(parse(stage, given)) == validated


@pytest.mark.parametrize(
    ("stage", "cfg", "message"),
    [
        ("score", {"score": {"steps": 1, "alhpa": 1}}, "--cfg: score.alhpa: unknown key"),
        ("sft", {"epochs": 1, "tau": 0.4}, "--cfg: tau: unknown key"),
        ("distributed", {"zero_stage": 1}, "--cfg: zero_stage: 1 is not one of [2, 3]"),
    ],
)
def test_an_unknown_key_or_bad_value_is_one_line(stage, cfg, message):
    with pytest.raises(SelfCorrectError) as err:
        parse(stage, cfg)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_settings_and_schema_must_agree():
    shape = {"hidden_size": 8, "intermediate_size": 8, "layers": 1, "heads": 1}
    with pytest.raises(SelfCorrectError, match=r"fields without a key: \['max_positions'\]"):
        build(TinyConfig, shape)
    with pytest.raises(SelfCorrectError, match=r"keys without a field: \['width'\]"):
        build(TinyConfig, {**shape, "max_positions": 16, "width": 3})


def test_the_losses_own_defaults_are_the_schemas():
    """LossConfig keeps defaults for calling a loss directly; they may not disagree."""
    score = parse("score", {"score": {"steps": 1}}).score
    assert loss_config(score) == LossConfig(k=score.samples)
    assert LossConfig(k=1).tau == parse("rise-train", {}).tau
