"""Each stage through the CLI, as the rules call it, on a tiny model."""

import json

import pandas as pd
import pytest
import torch
from tests.stage.stage_cli import cli, label, prepare, rollout, run_stage
from transformers import AutoModelForCausalLM

from selfcorrect.artifacts import read_parquet

TINY_BASE = {
    "source": "tiny",
    "tiny": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "layers": 1,
        "heads": 2,
        "max_positions": 128,
    },
    "pretrain": {
        "steps": 40,
        "batch_size": 16,
        "lr": 3e-3,
        "warmup_steps": 5,
        "weight_decay": 0.0,
        "bf16": True,
        "eval_every": 20,
        "eval_problems": 8,
        "eval_max_new_tokens": 30,
        "seed": 0,
    },
}
SAMPLING = {"top_p": 1.0, "max_new_tokens": 30, "seed": 0}
ROLLOUT = {"backend": "auto", "batch_size": 64, "turns": 2}
TRAIN = {**SAMPLING, "samples": 3, "temperature": 1.0}
EVAL = {**SAMPLING, "samples": 1, "temperature": 0.0}
TASK_CFG = {"n_train": 6, "n_test": 5}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """prepare -> base-model -> rollout -> label -> evaluate -> report, once for the module."""
    d = tmp_path_factory.mktemp("stages")
    for split in ("train", "test"):
        prepare(d / f"data/{split}.parquet", split, TASK_CFG)
    base_cfg = {"base_model": TINY_BASE, "task": "arith", "task_cfg": TASK_CFG, "batch_size": 64}
    assert cli("base-model", "--cfg", json.dumps(base_cfg), "--out", d / "models/base") == 0
    for split, sampling in (("train", TRAIN), ("test", EVAL)):
        rollout_cfg = {"task_cfg": TASK_CFG, "rollout": ROLLOUT, "sampling": sampling}
        data = d / f"data/{split}.parquet"
        rollout(d / "models/base", data, d / f"rollouts/{split}.parquet", rollout_cfg)
        label(d / f"rollouts/{split}.parquet", data, d / f"labels/{split}.parquet")
    run_stage(
        "evaluate",
        "--labels",
        d / "labels/test.parquet",
        "--name",
        "base",
        "--benchmark",
        "arith",
        "--out-table",
        d / "eval/arith.parquet",
        "--out-metrics",
        d / "eval/arith.json",
    )
    assert cli("report", "--metrics", d / "eval/arith.json", "--out-dir", d / "report") == 0
    return d


def test_prepare_writes_the_declared_schema(run):
    train = read_parquet(run / "data/train.parquet", "problems")
    assert len(train) == 6 and set(train.task) == {"arith"}


def test_base_model_is_pretrained_and_loads_with_from_pretrained(run):
    model_dir = run / "models/base"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    assert model.config.model_type == "llama"
    curve = pd.read_parquet(model_dir / "pretrain_log.parquet")
    assert len(curve) == 40
    assert curve["loss"].iloc[-5:].mean() < curve["loss"].iloc[:5].mean()
    assert curve["acc@t1"].notna().sum() == 2  # evaluated at steps 20 and 40
    # the saved weights are not the initialisation: same seed, untrained model differs
    from selfcorrect.models.tiny import build_model, build_tokenizer
    from selfcorrect.settings import TinyConfig

    torch.manual_seed(0)
    fresh = build_model(build_tokenizer(), TinyConfig(**TINY_BASE["tiny"]))
    assert not torch.allclose(fresh.model.embed_tokens.weight, model.model.embed_tokens.weight)


def test_rollouts_have_one_row_per_problem_sample_turn(run):
    train = read_parquet(run / "rollouts/train.parquet", "rollouts")
    assert len(train) == 6 * 3 * 2
    assert set(train.turn) == {1, 2} and set(train["sample"]) == {0, 1, 2}
    assert set(train.finish_reason) <= {"stop", "length"}
    assert (train.prompt_tokens > 0).all() and (train.completion_tokens > 0).all()
    assert set(train.temperature) == {1.0}
    # turn 2 reads turn 1's attempt and the correction instruction through the chat template
    first = train[train.turn == 1].set_index(["problem_id", "sample"]).sort_index()
    second = train[train.turn == 2].set_index(["problem_id", "sample"]).sort_index()
    for ctx, prev in zip(second.context, first.completion):
        assert f"<|assistant|>{prev}<|end|><|user|>recheck<|end|><|assistant|>" in ctx
    test = read_parquet(run / "rollouts/test.parquet", "rollouts")
    assert len(test) == 5 * 1 * 2 and set(test.temperature) == {0.0}


def test_labels_and_metrics(run):
    labels = read_parquet(run / "labels/train.parquet", "labels")
    assert set(labels.verdict) <= {"correct", "wrong", "no_answer", "error"}
    assert ((labels.reward == 1.0) == (labels.verdict == "correct")).all()
    metrics = json.loads((run / "eval/arith.json").read_text())
    assert metrics["model"] == "base" and metrics["metrics"]["n_problems"] == 5
    assert len(metrics["accuracy_by_turn"]) == 2


def test_report_files(run):
    summary = (run / "report/summary.md").read_text()
    assert "| base |" in summary and "Acc@t1" in summary
    for name in ("metrics.csv", "accuracy_per_turn.png", "transitions.png"):
        assert (run / "report" / name).stat().st_size > 0


def test_greedy_rollouts_are_reproducible(run, tmp_path):
    rollout_cfg = json.dumps({"task_cfg": TASK_CFG, "rollout": ROLLOUT, "sampling": EVAL})
    out = tmp_path / "again.parquet"
    run_stage(
        "rollout",
        "--model",
        run / "models/base",
        "--name",
        "base",
        "--problems",
        run / "data/test.parquet",
        "--cfg",
        rollout_cfg,
        "--out",
        out,
    )
    a = read_parquet(out, "rollouts")
    b = read_parquet(run / "rollouts/test.parquet", "rollouts")
    assert a.completion.tolist() == b.completion.tolist()


# Bad input: one line naming the culprit, a non-zero exit, no output left behind.


def error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    return err[-1]


def test_unknown_task(tmp_path, capsys):
    out = tmp_path / "x.parquet"
    assert cli("prepare", "--task", "nope", "--split", "test", "--out", out) == 2
    assert "unknown task 'nope'" in error_line(capsys)
    assert not out.exists()


def test_missing_model_path(run, tmp_path, capsys):
    out = tmp_path / "r.parquet"
    cfg = json.dumps({"task_cfg": TASK_CFG, "rollout": ROLLOUT, "sampling": EVAL})
    assert (
        cli(
            "rollout",
            "--model",
            tmp_path / "no_model",
            "--name",
            "x",
            "--problems",
            run / "data/test.parquet",
            "--cfg",
            cfg,
            "--out",
            out,
        )
        == 2
    )
    line = error_line(capsys)
    assert "no_model" in line and "not found" in line
    assert not out.exists()


def test_parquet_with_a_missing_column(run, tmp_path, capsys):
    broken = tmp_path / "rollouts.parquet"
    pd.read_parquet(run / "rollouts/test.parquet").drop(columns="completion").to_parquet(broken)
    out = tmp_path / "labels.parquet"
    assert (
        cli("label", "--rollouts", broken, "--problems", run / "data/test.parquet", "--out", out)
        == 2
    )
    line = error_line(capsys)
    assert "rollouts.parquet" in line and "'completion'" in line
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["rollouts.parquet"]


def test_tiny_base_needs_a_task_with_transcripts(tmp_path, capsys):
    cfg = {"base_model": TINY_BASE, "task": "gsm8k", "task_cfg": {}, "batch_size": 64}
    assert cli("base-model", "--cfg", json.dumps(cfg), "--out", tmp_path / "base") == 2
    assert "pre-training transcripts" in error_line(capsys)
    assert not (tmp_path / "base").exists()


def test_a_local_model_source_is_saved_as_a_loadable_directory_with_a_card(run, tmp_path):
    cfg = {
        "base_model": {**TINY_BASE, "source": str(run / "models/base")},
        "task": "gsm8k",
        "task_cfg": {},
        "batch_size": 64,
    }
    assert cli("base-model", "--cfg", json.dumps(cfg), "--out", tmp_path / "base") == 0
    assert (tmp_path / "base/model.safetensors").exists()
    assert f"base_model: {run / 'models/base'}" in (tmp_path / "base/README.md").read_text()
    from transformers import AutoModelForCausalLM

    from selfcorrect.models.load import load_model

    model, tok = load_model(tmp_path / "base")
    assert tok.padding_side == "left" and model.config.model_type == "llama"
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    source = AutoModelForCausalLM.from_pretrained(run / "models/base")
    assert all(
        a.equal(b) for a, b in zip(plain.state_dict().values(), source.state_dict().values())
    )


def test_missing_local_model_source(tmp_path, capsys):
    cfg = {
        "base_model": {**TINY_BASE, "source": str(tmp_path / "nowhere")},
        "task": "gsm8k",
        "task_cfg": {},
        "batch_size": 64,
    }
    assert cli("base-model", "--cfg", json.dumps(cfg), "--out", tmp_path / "base") == 2
    assert "base_model.source" in error_line(capsys)
