"""The DAG with `rollout.backend: vllm`: the same rules, every sampling stage on vLLM."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from tests.markers import needs

pytestmark = [needs("vllm"), pytest.mark.workflow, pytest.mark.vllm, pytest.mark.slow]

# config/test.yaml, trimmed to one model per kind of vLLM use (rollouts, online RL with weight
# sync, RISE's best-of-N and evaluation), each rule starting its own engine. One head: vLLM's
# CPU attention needs a head size of at least 32 (hidden 32 / 1 head).
OVERLAY = """\
models: [base, score_stage1]
base_model: {tiny: {heads: 1}}
rollout: {backend: vllm}
rise: {iterations: 1}
scaling: {enabled: false}
"""

BIN = Path(sys.executable).parent
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
COPY = ["Snakefile", "rules", "config", "envs", "workflow/schemas", "workflow/report"]


def snakemake(cwd, *args):
    proc = subprocess.run(
        [str(BIN / "snakemake"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert proc.returncode == 0, f"snakemake {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"


def copy_workflow(root: Path, d: Path) -> Path:
    for name in COPY:
        (shutil.copytree if (root / name).is_dir() else shutil.copy)(root / name, d / name)
    return d


def test_dag_runs_on_vllm_with_weights_synced_in_place(root, tmp_path):
    wf = copy_workflow(root, tmp_path)
    (wf / "vllm.yaml").write_text(OVERLAY)
    snakemake(wf, "--cores", "2", "--configfile", "config/test.yaml", "vllm.yaml")

    summary = (wf / "results/report/summary.md").read_text()
    for model in ("base", "score_stage1", "rise_1"):
        assert f"| {model} |" in summary
    for path in [
        "rollouts/base/arith-train",
        "rollouts/base/arith-test",
        "rollouts/score_stage1/arith-test",
        "rise/iter_1/rollouts",
        "rise_eval/rise_1/arith-sequential",
    ]:
        df = pd.read_parquet(wf / f"results/{path}.parquet")
        assert set(df["backend"]) == {"vllm"}, path

    # online RL: one engine for the whole run, its weights replaced before each of the 2 steps
    log = (wf / "logs/score/score_stage1.log").read_text()
    assert log.count("Initializing a V1 LLM engine") == 1
    assert log.count("synced in place") == 2
    assert log.count("Successfully reset prefix cache") == 2
    # RISE's best-of-N samples ran on vLLM too
    assert "Initializing a V1 LLM engine" in (wf / "logs/rise/iter_1/improve.log").read_text()
