"""The tiny DAG through a real Slurm: Debian's slurm-wlm on this machine with two fake GPUs.

tests/slurm/local_slurm.sh installs (as root) and starts munge, slurmctld and slurmd; the DAG
then runs as a user runs it on a cluster, `--profile profiles/slurm`, with the overlay that
says what this one-node cluster needs (profiles/slurm-local). The sbatch lines the executor
plugin logs (with --verbose) and Slurm's own record of each job are checked: GPU rules asked
for `--gpus`, the others did not, and the cheap rules never left the submit host.
"""

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

pytestmark = [pytest.mark.slurm, pytest.mark.workflow, pytest.mark.slow]

BIN = Path(sys.executable).parent
# Slurm jobs inherit this environment (sbatch --export=ALL): the venv's bin and, when set,
# PYTHONPATH reach the jobs as they would from a user's activated environment.
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "OMP_NUM_THREADS": "1",
}
COPY = [
    "Snakefile",
    "rules",
    "config",
    "envs",
    "profiles",
    "tests/slurm",
    "workflow/schemas",
    "workflow/report",
]
PROFILE = ["--profile", "profiles/slurm", "--workflow-profile", "profiles/slurm-local"]
CONFIG = ["--configfile", "config/test.yaml", "tests/slurm/tiny.yaml"]
GPU_RULES = {"rollout", "score_run"}
LOCAL_RULES = {"prepare_task", "evaluate_model", "build_report"}


def slurm_is_up() -> bool:
    try:
        proc = subprocess.run(
            ["sinfo", "-h", "-p", "gpu", "-o", "%G"],
            capture_output=True,
            env=ENV,
            text=True,
            timeout=20,
            check=False,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and "gpu:a100" in proc.stdout


@pytest.fixture(scope="module")
def slurm(root, slurm_conf):
    """A running local Slurm: reuse one that is up, else start it (root) and stop it after."""
    ENV["SLURM_CONF"] = slurm_conf
    if slurm_is_up():
        yield
        return
    if os.geteuid() != 0:
        pytest.skip("no local Slurm running and not root: `sudo tests/slurm/local_slurm.sh up`")
    script = str(root / "tests/slurm/local_slurm.sh")
    up = subprocess.run(
        ["bash", script, "up"], capture_output=True, text=True, env=ENV, timeout=900, check=False
    )
    assert up.returncode == 0, f"local_slurm.sh up failed:\n{up.stdout}\n{up.stderr}"
    assert slurm_is_up(), f"Slurm did not come up:\n{up.stdout}"
    yield
    subprocess.run(
        ["bash", script, "down"], capture_output=True, text=True, env=ENV, timeout=120, check=False
    )


def snakemake(cwd, *args):
    proc = subprocess.run(
        [str(BIN / "snakemake"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=ENV,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"snakemake {' '.join(args)} failed:\n{proc.stderr[-6000:]}"
    return proc.stdout + proc.stderr


def submissions(log: str) -> list[dict]:
    """Each sbatch call the plugin logged: its rule (from the Slurm log path), flags, job id."""
    calls = re.findall(r"sbatch call: (sbatch .*?) --wrap=", log)
    ids = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/rule_([^/]+)/", log)
    out = [{"rule": re.search(r"slurm_logs/rule_([^/]+)/", c).group(1), "call": c} for c in calls]
    assert Counter(o["rule"] for o in out) == Counter(rule for _, rule in ids)
    return out, [(int(j), rule) for j, rule in ids]


def slurm_record(job_id: int) -> str:
    return subprocess.run(
        ["scontrol", "-o", "show", "job", str(job_id)],
        capture_output=True,
        text=True,
        env=ENV,
        check=True,
    ).stdout


def check_submissions(log: str, expected: Counter) -> None:
    calls, ids = submissions(log)
    assert Counter(c["rule"] for c in calls) == expected
    for c in calls:
        flags = c["call"].split()
        if c["rule"] in GPU_RULES:
            assert "--gpus=a100:1" in flags and "--cpus-per-gpu=1" in flags, c["call"]
            assert flags[flags.index("-p") + 1] == "gpu", c["call"]
        else:
            assert not any(f.startswith(("--gpus", "--gres")) for f in flags), c["call"]
            assert flags[flags.index("-p") + 1] == "cpu", c["call"]  # the default partition
    # Slurm's side: every job completed, and only GPU rules hold a GPU
    for job_id, rule in ids:
        record = slurm_record(job_id)
        assert "JobState=COMPLETED" in record, record
        assert ("TresPerJob=gres:gpu:a100:1" in record) == (rule in GPU_RULES), record


@pytest.fixture(scope="module")
def run(slurm, root, tmp_path_factory):
    wf = tmp_path_factory.mktemp("slurm_wf")
    for name in COPY:
        (wf / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (root / name).is_dir() else shutil.copy)(root / name, wf / name)
    log = snakemake(wf, "--cores", "all", *PROFILE, *CONFIG, "--verbose")
    return wf, log


def test_tiny_dag_through_slurm(run):
    wf, log = run
    check_submissions(log, Counter({"base_model": 1, "rollout": 3, "label": 3, "score_run": 1}))
    assert not LOCAL_RULES & {c["rule"] for c in submissions(log)[0]}
    # results/ complete: both models evaluated and in the report
    for model in ("base", "score_stage1"):
        assert (wf / f"results/models/{model}/config.json").exists()
        table = pd.read_parquet(wf / f"results/eval/{model}/arith.parquet")
        assert len(table) > 0
    summary = (wf / "results/report/summary.md").read_text()
    assert "| base |" in summary and "| score_stage1 |" in summary
    assert (wf / "results/report/metrics.csv").exists()


def test_rerun_one_stage_through_slurm(run):
    """docs/slurm.md: rerunning Stage I resubmits it and what depends on it, nothing upstream."""
    wf, _ = run
    before = (wf / "results/models/base/config.json").stat().st_mtime_ns
    log = snakemake(
        wf,
        "--cores",
        "all",
        *PROFILE,
        *CONFIG,
        "--verbose",
        "--forcerun",
        "results/models/score_stage1",
    )
    check_submissions(log, Counter({"score_run": 1, "rollout": 1, "label": 1}))
    assert "rollout/score_stage1_arith_test/" in log
    assert (wf / "results/models/base/config.json").stat().st_mtime_ns == before


def test_a_real_base_model_is_only_recorded_on_the_submit_host(run):
    """With a real model (an HF id or, here, a local directory) base_model is a localrule: it
    loads the source and saves it on the submit host."""
    wf, _ = run
    shutil.copytree(wf / "results/models/base", wf / "local_model")
    log = snakemake(
        wf,
        "results/models/base",
        "--cores",
        "all",
        *PROFILE,
        *CONFIG,
        "--verbose",
        "--config",
        f"base_model={{source: {wf / 'local_model'}}}",
        "--forcerun",
        "base_model",
    )
    assert "localrule base_model:" in log
    assert "sbatch call" not in log
    assert (wf / "results/models/base/README.md").exists()  # saved there, with its card
