"""A checkpoint resumes only a run of the same inputs: after the base model is rebuilt in
place, the rerun starts fresh, says so, and ends where a run from the new base ends — not
with the stale run's weights."""

import json
import logging
from dataclasses import asdict

import pytest
import torch
from safetensors.torch import load_file
from test_score import digit_share, score_cfg

from selfcorrect import cli
from selfcorrect.artifacts import write_parquet
from selfcorrect.tasks import get_task
from selfcorrect.train import core
from selfcorrect.train.score import ScoreRecipe


@pytest.fixture
def data(tmp_path, monkeypatch):
    monkeypatch.setattr(ScoreRecipe, "reward", digit_share)
    write_parquet(
        get_task("arith").problems("train", {"n_train": 8}), tmp_path / "train.parquet", "problems"
    )
    return tmp_path


def train(d, out: str, checkpoints: str, caplog, **overrides) -> tuple[dict, str]:
    score = score_cfg(steps=2, checkpoint_every=1, **overrides)
    cfg = {"task_cfg": {}, "score": asdict(score)}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="selfcorrect"):
        rc = cli.main(
            [
                "--threads",
                "1",
                "score",
                "--method",
                "score_stage1",
                "--init",
                str(d / "base"),
                "--ref",
                str(d / "base"),
                "--problems",
                str(d / "train.parquet"),
                "--cfg",
                json.dumps(cfg),
                "--checkpoints",
                str(d / checkpoints),
                "--out",
                str(d / out),
            ]
        )
    assert rc == 0
    return load_file(d / out / "model.safetensors"), caplog.text


def same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_a_rebuilt_base_starts_fresh_instead_of_resuming_the_stale_checkpoint(
    data, caplog, save_tiny
):
    save_tiny(data / "base", seed=0)
    stale, _ = train(data, "stale", "ck", caplog)
    assert (data / "ck" / core.CHECKPOINT).exists()  # the finished run leaves its checkpoint

    save_tiny(data / "base", seed=1)  # the base model rebuilt in place with other weights
    rerun, text = train(data, "rerun", "ck", caplog)
    checkpoint = data / "ck" / core.CHECKPOINT
    assert (
        f"checkpoint {checkpoint} was trained from other inputs (init, reference): starting fresh"
    ) in text
    assert "resumed from" not in text
    assert not same(stale, rerun)

    fresh, _ = train(data, "fresh", "ck_fresh", caplog)  # the new base, no checkpoint at all
    assert same(rerun, fresh)

    # the same inputs again: the checkpoint is resumed (at its last step, so nothing retrains)
    again, text = train(data, "again", "ck", caplog)
    assert f"resumed from {checkpoint} at step 2" in text
    assert same(again, rerun)


def test_changed_problems_or_settings_are_named(data, caplog, save_tiny):
    save_tiny(data / "base", seed=0)
    train(data, "a", "ck", caplog)
    problems = get_task("arith").problems("train", {"n_train": 8, "seed": 5})
    write_parquet(problems, data / "train.parquet", "problems")
    _, text = train(data, "b", "ck", caplog)
    assert "was trained from other inputs (problems): starting fresh" in text
    _, text = train(data, "c", "ck", caplog, lr=1e-3)
    assert "was trained from other inputs (config): starting fresh" in text


def test_a_checkpoint_without_a_fingerprint_is_not_resumed(data, caplog, save_tiny):
    save_tiny(data / "base", seed=0)
    train(data, "a", "ck", caplog)
    file = data / "ck" / core.CHECKPOINT
    ckpt = torch.load(file, weights_only=False)
    del ckpt["fingerprint"]  # written before fingerprints existed
    torch.save(ckpt, file)
    (data / "ck" / "best.pt").write_bytes(b"stale")
    _, text = train(data, "b", "ck", caplog)
    assert "was trained from other inputs (no fingerprint recorded): starting fresh" in text
    assert not (data / "ck" / "best.pt").exists()  # stale kept weights removed with it
