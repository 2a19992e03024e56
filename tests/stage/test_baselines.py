"""The SFT baselines end to end through the CLI on a tiny model: two-attempt rollouts ->
labels -> Pair-SFT data -> fine-tuning; the parameters change and the model's likelihood of its
training targets rises. Plus the scaling stage on those rollouts' labels."""

import json

import pytest
import torch
from tests.stage.stage_cli import cli, label, prepare, rollout, run_stage

from selfcorrect.artifacts import read_parquet
from selfcorrect.metrics import scaling_curve
from selfcorrect.models.load import load_model
from selfcorrect.train import core
from selfcorrect.train.rise import encode


@pytest.fixture(scope="module")
def run(tmp_path_factory, save_tiny):
    d = tmp_path_factory.mktemp("baselines")
    save_tiny(d / "base", max_positions=128)
    prepare(d / "train.parquet", "train", {"n_train": 8})
    sampling = {"samples": 4, "temperature": 1.0, "top_p": 1.0, "max_new_tokens": 30, "seed": 0}
    cfg = {"task_cfg": {}, "rollout": {"backend": "hf", "batch_size": 64, "turns": 2}}
    rollout(d / "base", d / "train.parquet", d / "r.parquet", {**cfg, "sampling": sampling})
    label(d / "r.parquet", d / "train.parquet", d / "l.parquet")
    return d


def _nll(model_dir, data) -> float:
    model, tok = load_model(model_dir)
    prompts, actions = encode(tok, data)
    ids, attention, mask = core.pack(prompts, actions, tok.pad_token_id, model.device)
    with torch.no_grad():
        logp = core.token_logprobs(model, ids, attention)
    return float(-(logp * mask).sum() / mask.sum())


def test_pair_sft_trains_towards_its_targets(run, tmp_path):
    # An untrained model is rarely right: give every problem one correct first attempt by
    # overwriting labels, so the data builder has partners (its logic is unit-tested).
    labels = read_parquet(run / "l.parquet", "labels")
    labels.loc[(labels["turn"] == 1) & (labels["sample"] == 0), "reward"] = 1.0
    labels.to_parquet(tmp_path / "l.parquet")
    run_stage(
        "baseline-data",
        "--kind",
        "pair_sft_plus",
        "--rollouts",
        run / "r.parquet",
        "--labels",
        tmp_path / "l.parquet",
        "--out",
        tmp_path / "data.parquet",
    )
    data = read_parquet(tmp_path / "data.parquet", "rise_data")
    assert len(data) == 8 * 4  # D+: every first attempt gets a partner
    cfg = {
        "epochs": 3,
        "problems_per_batch": 4,
        "lr": 3e-3,
        "weight_decay": 0.0,
        "warmup_steps": 0,
        "max_grad_norm": 1.0,
        "bf16": False,
        "seed": 0,
    }
    run_stage(
        "sft",
        "--init",
        run / "base",
        "--data",
        tmp_path / "data.parquet",
        "--cfg",
        json.dumps(cfg),
        "--out",
        tmp_path / "pair_sft_plus",
    )
    before, after = _nll(run / "base", data), _nll(tmp_path / "pair_sft_plus", data)
    assert after < before - 0.1, (before, after)
    assert (tmp_path / "pair_sft_plus" / "train_log.parquet").exists()


def test_baseline_data_rejects_single_turn_rollouts(run, tmp_path, capsys):
    r = read_parquet(run / "r.parquet", "rollouts")
    r[r["turn"] == 1].to_parquet(tmp_path / "one.parquet")
    code = cli(
        "baseline-data",
        "--kind",
        "star",
        "--rollouts",
        tmp_path / "one.parquet",
        "--labels",
        run / "l.parquet",
        "--out",
        tmp_path / "x.parquet",
    )
    assert code == 2
    assert "one.parquet: baselines need two-attempt rollouts" in capsys.readouterr().err
    assert not (tmp_path / "x.parquet").exists()


def test_scaling_stage_writes_the_curve(run, tmp_path):
    run_stage(
        "scaling",
        "--labels",
        run / "l.parquet",
        "--budgets",
        2,
        4,
        "--name",
        "base",
        "--benchmark",
        "arith",
        "--out",
        tmp_path / "s.json",
    )
    curve = json.loads((tmp_path / "s.json").read_text())["curve"]
    expected = scaling_curve(read_parquet(run / "l.parquet", "labels"), [2, 4])
    assert curve == expected.to_dict(orient="records")
    assert (
        cli(
            "scaling",
            "--labels",
            run / "l.parquet",
            "--budgets",
            8,
            "--name",
            "base",
            "--benchmark",
            "arith",
            "--out",
            tmp_path / "bad.json",
        )
        == 2
    )  # K = 4 < 8
