"""The stages as the rules call them (`selfcorrect …` on one thread), for the stage tests'
fixtures: each helper runs one stage, asserts it succeeded and returns its output path."""

import json
from pathlib import Path

from selfcorrect.cli import main


def cli(*args) -> int:
    """`selfcorrect --threads 1 ARGS…`: the exit code (0, or 2 with one error line)."""
    return main(["--threads", "1", *map(str, args)])


def run_stage(*args) -> None:
    code = cli(*args)
    assert code == 0, f"selfcorrect {' '.join(map(str, args))} exited {code}"


def prepare(out: Path, split: str = "train", cfg: dict | None = None, task: str = "arith"):
    run_stage(
        "prepare", "--task", task, "--split", split, "--cfg", json.dumps(cfg or {}), "--out", out
    )
    return out


def rollout(model: Path, problems: Path, out: Path, cfg: dict, name: str = "base"):
    args = ["--model", model, "--name", name, "--problems", problems]
    run_stage("rollout", *args, "--cfg", json.dumps(cfg), "--out", out)
    return out


def label(rollouts: Path, problems: Path, out: Path):
    run_stage("label", "--rollouts", rollouts, "--problems", problems, "--out", out)
    return out
