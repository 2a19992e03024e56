"""Multi-process training under DeepSpeed (DS_ACCELERATOR=cpu, gloo), launched as users launch
it: `torchrun --standalone --nproc-per-node 2 …`. The same global batch on 1 process (plain
PyTorch) and on 2 processes (ZeRO-2, ZeRO-3) gives the same loss curve and the same weights
within float tolerance, for SCoRe and RISE; a ZeRO-3 run killed with SIGKILL resumes from its
DeepSpeed checkpoint to the uninterrupted run's result.

SCoRe's verifier is replaced by a dense synthetic reward (the share of digits in the attempt),
as in test_score.py, so an untrained model gets a learning signal. The first DeepSpeed run on a
fresh machine compiles a communication op (~50 s, cached in ~/.cache/torch_extensions).
"""

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from tests.markers import needs

from selfcorrect.artifacts import write_parquet
from selfcorrect.config import WORKFLOW_SCORE_KEYS, validate_config
from selfcorrect.tasks import get_task

pytestmark = [needs("deepspeed"), pytest.mark.deepspeed, pytest.mark.slow]

ROOT = Path(__file__).parents[2]
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
# a user's launcher script: the package CLI with the synthetic reward patched in
LAUNCHER = """\
import sys
import selfcorrect.train.score as s
s.ScoreRecipe.reward = lambda self, problem, gen: (
    sum(c.isdigit() for c in gen.text) / max(1, len(gen.text)))
from selfcorrect.cli import main
sys.exit(main(sys.argv[1:]))
"""
TIMING = ["tokens_per_s", "seconds"]


def env():
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT / "workflow"),
        "DS_ACCELERATOR": "cpu",
        "OMP_NUM_THREADS": "1",
    }


@pytest.fixture(scope="module")
def base(tmp_path_factory, save_tiny):
    d = tmp_path_factory.mktemp("ds")
    save_tiny(d / "model")
    write_parquet(
        get_task("arith").problems("train", {"n_train": 24}), d / "train.parquet", "problems"
    )
    (d / "launch.py").write_text(LAUNCHER)
    return d


def score_args(base, out, ck, stage, steps=4):
    cfg = validate_config({})["score"]
    for key in WORKFLOW_SCORE_KEYS:
        cfg.pop(key)
    # P = 5 problems over 2 ranks: 3 and 2 problems, 2 and 1 micro-batches of 2 problems, so
    # the uneven split (a zero-weight micro-batch on rank 1) is exercised too
    cfg.update(
        steps=steps,
        problems_per_step=5,
        samples=4,
        max_new_tokens=8,
        lr=3e-3,
        warmup_steps=2,
        checkpoint_every=1,
        micro_batch_problems=2,
        bf16=False,
        offline_starts=0.0,
        keep="best",
        best_window=2,
        beta1=0.01,
        beta2=0.1,
    )
    return [
        "--threads",
        "1",
        "--distributed",
        json.dumps({"zero_stage": stage, "offload": False}),
        "score",
        "--method",
        "score_stage2",
        "--init",
        base / "model",
        "--ref",
        base / "model",
        "--problems",
        base / "train.parquet",
        "--cfg",
        json.dumps({"task_cfg": {}, "score": cfg}),
        "--checkpoints",
        ck,
        "--out",
        out,
    ]


def launch(cmd, args, **kw):
    return subprocess.Popen(
        [*cmd, *map(str, args)],
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def finish(proc, timeout=600):
    err = proc.communicate(timeout=timeout)[1]
    assert proc.returncode == 0, err[-3000:]
    return err


def train_on(cmd: list, zero_stage: int, command: str, init, data, train: dict, out) -> None:
    """`command` (rise-train, sft) on 1 process (`cmd` = python) or under torchrun: exactly the
    command the training rule runs."""
    distributed = json.dumps({"zero_stage": zero_stage, "offload": False})
    args = ["--threads", "1", "--distributed", distributed, command, "--init", init]
    args += ["--data", data, "--cfg", json.dumps(train), "--out", out]
    finish(launch([*cmd, "-m", "selfcorrect.cli"], args))


def assert_same_run(a: Path, b: Path, atol=1e-4):
    """Same telemetry (rewards, losses, KL, grad norms) and weights within float tolerance."""
    la = pd.read_parquet(a / "train_log.parquet").drop(columns=TIMING, errors="ignore")
    lb = pd.read_parquet(b / "train_log.parquet").drop(columns=TIMING, errors="ignore")
    pd.testing.assert_frame_equal(la, lb, check_exact=False, atol=atol, rtol=1e-3)
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=atol, rtol=1e-3, msg=key)


@pytest.fixture(scope="module")
def score_plain(base):
    out = base / "score_plain"
    finish(launch([sys.executable, base / "launch.py"], score_args(base, out, base / "ck1", 2)))
    return out


@pytest.mark.parametrize("stage", [2, 3])
def test_score_two_processes_match_one(base, score_plain, stage):
    out = base / f"score_zero{stage}"
    finish(
        launch(
            [*TORCHRUN, base / "launch.py"], score_args(base, out, base / f"ck_zero{stage}", stage)
        )
    )
    assert_same_run(score_plain, out)
    log = pd.read_parquet(out / "train_log.parquet")
    assert log["grad_norm"].gt(0).all() and log["loss"].ne(0).all()  # a real signal moved
    # the DeepSpeed checkpoint of the last step, recorded as complete
    meta = json.loads((base / f"ck_zero{stage}" / "deepspeed.json").read_text())
    assert meta == {
        "tag": "step4",
        "fingerprint": meta["fingerprint"],
        "world_size": 2,
        "zero_stage": stage,
        "sub_group_size": meta["sub_group_size"],
    }
    # ZeRO-3's optimizer state is split in sub-groups: a resume needs the same split
    assert (meta["sub_group_size"] is None) == (stage < 3)
    # what it was trained from (train/fingerprint.py), hashed on rank 0 and shared
    assert set(meta["fingerprint"]) == {"init", "reference", "problems", "config"}


def test_zero3_killed_run_resumes_to_the_same_result(base):
    """SIGKILL the whole launcher mid-run, rerun the same command: it resumes from the last
    complete DeepSpeed checkpoint and ends where the uninterrupted ZeRO-3 run ended."""
    steps, ck, out = 6, base / "ck_kill", base / "score_resumed"
    whole = launch(
        [*TORCHRUN, base / "launch.py"],
        score_args(base, base / "score_whole", base / "ck_whole", 3, steps),
    )
    finish(whole)
    killed = launch([*TORCHRUN, base / "launch.py"], score_args(base, out, ck, 3, steps))
    meta = ck / "deepspeed.json"
    deadline = time.time() + 300
    while time.time() < deadline and killed.poll() is None:
        if meta.exists() and json.loads(meta.read_text())["tag"] in ("step2", "step3"):
            break
        time.sleep(0.05)
    # the launcher and both ranks at once, as when a node dies or Slurm kills the job (torchrun
    # starts each rank in its own session, so killing the launcher's group would not reach them)
    import psutil  # installed with deepspeed

    procs = [psutil.Process(killed.pid), *psutil.Process(killed.pid).children(recursive=True)]
    for proc in procs:
        proc.send_signal(signal.SIGKILL)
    psutil.wait_procs(procs, timeout=30)
    killed.wait()
    tag = json.loads(meta.read_text())["tag"]
    assert tag in ("step2", "step3", "step4") and not out.exists()
    err = finish(launch([*TORCHRUN, base / "launch.py"], score_args(base, out, ck, 3, steps)))
    assert f"resumed from {ck / 'deepspeed' / tag} at step {tag[4:]}" in err
    assert_same_run(base / "score_whole", out, atol=1e-6)


def rise_data(n_problems=7, per_problem=(1, 3)):
    """Improved actions with a varying number per problem and varying rewards."""
    rng = np.random.default_rng(0)
    rows = []
    for p in range(n_problems):
        for s in range(rng.integers(*per_problem, endpoint=True)):
            a, b = rng.integers(10, 99, size=2)
            rows.append(
                {
                    "problem_id": f"p{p}",
                    "sample": s,
                    "turn": 2,
                    "context": f"<|user|>{a}+{b}<|end|><|assistant|>",
                    "action": f"{a + b}|{a}+{b}={a + b}|y" if s % 2 else f"{a}",
                    "reward": float(s % 2),
                    "current_reward": 0.0,
                    "source": "self",
                    "iteration": 1,
                }
            )
    return pd.DataFrame(rows)


def test_rise_two_processes_match_one(base):
    write_parquet(rise_data(), base / "improved.parquet", "rise_data")
    # 7 problems in batches of 3: the last batch has 1 problem, so rank 1 runs a zero-weight
    # backward there
    train = {
        "train_from": "base",
        "loss": "awr",
        "tau": 0.4,
        "epochs": 2,
        "problems_per_batch": 3,
        "lr": 3e-3,
        "weight_decay": 0.0,
        "warmup_steps": 1,
        "max_grad_norm": 1.0,
        "bf16": False,
        "seed": 0,
    }
    runs = {}
    for name, cmd, stage in [
        ("plain", [sys.executable], 2),
        ("zero2", TORCHRUN, 2),
        ("zero3", TORCHRUN, 3),
    ]:
        runs[name] = base / f"rise_{name}"
        train_on(
            cmd, stage, "rise-train", base / "model", base / "improved.parquet", train, runs[name]
        )
    assert len(pd.read_parquet(runs["plain"] / "train_log.parquet")) == 6
    assert_same_run(runs["plain"], runs["zero2"])
    assert_same_run(runs["plain"], runs["zero3"])


def sft_traces(n_problems=5, samples=3):
    """Two-attempt traces with mixed rewards, so every SFT baseline's set is non-empty."""
    rng = np.random.default_rng(1)
    rows = []
    for p in range(n_problems):
        for s in range(samples):
            a, b = rng.integers(10, 99, size=2)
            ctx1 = f"<|user|>{a}+{b}<|end|><|assistant|>"
            y1 = f"{a + b}" if (p + s) % 2 else f"{a}"
            rows.append(
                {
                    "problem_id": f"p{p}",
                    "sample": s,
                    "ctx1": ctx1,
                    "y1": y1,
                    "r1": float((p + s) % 2),
                    "ctx2": f"{ctx1}{y1}<|end|><|user|>fix<|end|><|assistant|>",
                    "y2": f"{a + b}|{a}+{b}={a + b}|y",
                    "r2": float(s != 1),
                }
            )
    return pd.DataFrame(rows)


def test_sft_baselines_on_two_processes(base):
    """Every SFT-type baseline's training set trains on 2 processes (their loss returns other
    statistics than RISE's, which once raised KeyError there) and matches the 1-process run:
    the three sets in one run, each problem under its baseline's name."""
    from selfcorrect.train.baseline_data import BUILDERS

    train = {
        "epochs": 1,
        "problems_per_batch": 3,
        "lr": 3e-3,
        "weight_decay": 0.0,
        "warmup_steps": 0,
        "max_grad_norm": 1.0,
        "bf16": False,
        "seed": 0,
    }
    sets = []
    for kind, build in BUILDERS.items():
        data = build(sft_traces(), 1)
        assert len(data) > 0, kind
        sets.append(data.assign(problem_id=kind + "/" + data["problem_id"]))
    data = pd.concat(sets, ignore_index=True)
    write_parquet(data, base / "sft.parquet", "rise_data")
    for name, cmd in [("plain", [sys.executable]), ("zero2", TORCHRUN)]:
        train_on(cmd, 2, "sft", base / "model", base / "sft.parquet", train, base / f"sft_{name}")
    log = pd.read_parquet(base / "sft_zero2" / "train_log.parquet")
    assert len(log) == math.ceil(data["problem_id"].nunique() / train["problems_per_batch"])
    assert {"loss", "reward_mean"} <= set(log.columns)
    assert_same_run(base / "sft_plain", base / "sft_zero2")
