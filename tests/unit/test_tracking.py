"""selfcorrect.tracking: TensorBoard event files when a logdir is given, nothing otherwise."""

from __future__ import annotations

# the `tracking` extra (the Makefile installs it for the tests)
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from selfcorrect import tracking
from selfcorrect.cli import _parser

ROW = {
    "step": 1,
    "method": "score_stage1",
    "reward_t1": 0.25,
    "reward_t2": 0.5,
    "kl_t1": float("nan"),
    "done": True,
}


def test_enabled_tracker_writes_scalars_per_step(tmp_path):
    logdir = tmp_path / "tensorboard" / "score"
    with tracking.tracking(logdir) as tracker:
        assert tracker.enabled
        # strings, booleans, the step itself and NaN are not scalars to plot
        assert tracking.log_step("train", ROW, 1) == 2
        tracking.log_step("train", {**ROW, "reward_t2": 0.75}, 2)
    assert list(logdir.glob("events.out.tfevents.*"))
    events = EventAccumulator(str(logdir))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["train/reward_t1", "train/reward_t2"]
    points = [(e.step, e.value) for e in events.Scalars("train/reward_t2")]
    assert points == [(1, 0.5), (2, 0.75)]
    # closed on exit: logging now goes nowhere
    assert tracking.log_step("train", ROW, 3) == 0


def test_disabled_tracker_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with tracking.tracking(None) as tracker:
        assert not tracker.enabled
        assert tracking.log_step("train", ROW, 1) == 0
    assert list(tmp_path.iterdir()) == []


def test_only_rank_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    with tracking.tracking(tmp_path / "tb") as tracker:
        assert tracking.log_step("train", ROW, 1) == 0 and not tracker.enabled
    assert not (tmp_path / "tb").exists()


def test_config_switch_is_off_by_default_and_checked():
    from selfcorrect.config import validate_config
    from selfcorrect.errors import SelfCorrectError

    assert validate_config({})["tracking"] == {"tensorboard": False}
    assert validate_config({"tracking": {"tensorboard": True}})["tracking"]["tensorboard"]
    with pytest.raises(SelfCorrectError, match="tracking.tensorboard: 'maybe' is not of type"):
        validate_config({"tracking": {"tensorboard": "maybe"}})


def test_cli_option_is_off_unless_given():
    assert (
        _parser().parse_args(["report", "--metrics", "m.json", "--out-dir", "o"]).tensorboard
        is None
    )
    args = _parser().parse_args(
        [
            "--tensorboard",
            "tb",
            "rise-train",
            "--init",
            "a",
            "--data",
            "d",
            "--cfg",
            "{}",
            "--out",
            "o",
        ]
    )
    assert args.tensorboard == "tb"


@pytest.mark.slow
def test_the_score_trainer_logs_each_step(tmp_path, monkeypatch):
    """Two SCoRe steps on a tiny model inside an open tracker: one point per step and metric."""
    import pandas as pd
    import torch

    from selfcorrect.models.tiny import build_model, build_tokenizer
    from selfcorrect.settings import TinyConfig, parse
    from selfcorrect.tasks import get_task
    from selfcorrect.train.score import ScoreRecipe

    tok = build_tokenizer()
    torch.manual_seed(0)
    tiny = TinyConfig(hidden_size=32, intermediate_size=64, layers=1, heads=2, max_positions=64)
    given = {
        "steps": 2,
        "problems_per_step": 2,
        "samples": 2,
        "max_new_tokens": 4,
        "warmup_steps": 0,
        "checkpoint_every": 2,
        "micro_batch_problems": 2,
        "bf16": False,
        "offline_starts": 0.0,
        "keep": "last",
    }
    cfg = parse("score", {"score": given}).score
    problems = pd.DataFrame(get_task("arith").problems("train", {"n_train": 4}))
    monkeypatch.setattr(ScoreRecipe, "reward", lambda self, problem, gen: 0.5)
    recipe = ScoreRecipe(
        cfg,
        "score_stage1",
        build_model(tok, tiny),
        build_model(tok, tiny),
        tok,
        problems,
        get_task("arith"),
        {},
        tmp_path / "ckpt",
        None,
    )
    with tracking.tracking(tmp_path / "tb"):
        log = recipe.train()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert "train/reward_t2" in events.Tags()["scalars"]
    assert [(e.step, e.value) for e in events.Scalars("train/reward_t2")] == [(1, 0.5), (2, 0.5)]
    assert [e.step for e in events.Scalars("train/loss")] == list(log["step"])
