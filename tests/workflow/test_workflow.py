"""The DAG as users run it: lint, dry-run, a full tiny run, rerunning one stage, and the
training rules on 2 "GPUs" (DeepSpeed on CPU) from that run's inputs."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from selfcorrect.report.provenance import config_hash

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
# rules call `selfcorrect …`: the environment's bin directory must be on PATH, as when activated
ENV = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
COPY = ["Snakefile", "rules", "config", "envs", "workflow/schemas", "workflow/report"]


def snakemake(cwd, *args, check=True, env=None):
    proc = subprocess.run(
        [SNAKEMAKE, *args], cwd=cwd, capture_output=True, text=True, env=env or ENV, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def snakemake_at_once(runs: dict) -> dict:
    """Several snakemake calls (key -> (cwd, args)) run side by side, each one process: the
    same outcomes as one after the other (check=False), on both cores."""
    procs = {
        key: subprocess.Popen(
            [SNAKEMAKE, *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        for key, (cwd, args) in runs.items()
    }
    done = {}
    for key, proc in procs.items():
        out, err = proc.communicate()
        done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    return done


def planned_jobs(proc) -> dict[str, int]:
    """Job counts from the 'Job stats' table of a dry run."""
    lines = proc.stdout.splitlines()
    if "Nothing to be done" in proc.stdout + proc.stderr:
        return {}
    start = lines.index("Job stats:") + 3
    jobs = {}
    for line in lines[start:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def copy_workflow(root: Path, d: Path) -> Path:
    """A copy of the workflow (the package itself is installed) to run in isolation."""
    for name in COPY:
        src, dst = root / name, d / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    return d


@pytest.fixture(scope="module")
def workdir(root, tmp_path_factory):
    return copy_workflow(root, tmp_path_factory.mktemp("wf"))


@pytest.fixture
def fresh(root, tmp_path):
    return copy_workflow(root, tmp_path / "wf")


def test_lint_is_clean(root):
    proc = snakemake(root, "--lint")
    assert "Congratulations" in proc.stdout + proc.stderr


def test_dry_run_lists_the_dag(fresh):
    proc = snakemake(fresh, "-n")
    assert planned_jobs(proc) == {
        "base_model": 1,
        "prepare_task": 2,
        "score_run": 6,
        "rollout": 15,
        "label": 15,
        "evaluate_model": 13,
        "baseline_data": 4,
        "baseline_sft": 4,
        "scaling_rollout": 2,  # scaling.models: base and score
        "scaling_label": 2,  # scaling.models: base and score
        "scaling_curve": 2,  # scaling.models: base and score
        "rise_collect": 2,
        "rise_label": 2,
        "rise_improve": 2,
        "rise_train": 2,
        "rise_eval_rollout": 6,
        "rise_eval_label": 6,
        "rise_evaluate": 3,
        "build_report": 1,
        "all": 1,
    }


def test_local_runs_start_the_long_trainers_first(fresh):
    """Priorities: training-split rollouts and labels, then SCoRe runs longest first."""
    priority = {}
    for block in re.split(r"^\[.*\]$", snakemake(fresh, "-n").stdout, flags=re.MULTILINE):
        out = next((ln.split()[1] for ln in block.splitlines() if "output:" in ln), None)
        prio = [int(ln.split()[1]) for ln in block.splitlines() if "priority:" in ln]
        if out:
            priority[out.rstrip(",")] = prio[0] if prio else 0
    assert priority["results/rollouts/base/arith-train.parquet"] == 1000
    assert priority["results/labels/base/arith-train.parquet"] == 1000
    assert priority["results/rollouts/base/arith-test.parquet"] == 0
    score = {
        m: priority[f"results/models/{m}"]
        for m in (
            "score_stage1",
            "score",
            "score_single_turn",
            "score_no_stage1",
            "score_star_stage2",
        )
    }
    # Stage II from the base does Stage I's and Stage II's steps: the longest job
    assert score["score_no_stage1"] == max(score.values()) > score["score_stage1"]
    # cost ~ steps x attempts: single-turn RL runs both stages' steps (60 + 30) on one attempt
    assert score["score_single_turn"] == 90 and score["score_stage1"] == 2 * 60
    assert max(score.values()) < priority["results/rollouts/base/arith-train.parquet"]


def test_invalid_config_is_one_line_and_fails(fresh):
    (fresh / "bad.yaml").write_text("rollout: {turns: 0}\n")
    proc = snakemake(fresh, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert "error: config: rollout.turns: 0 is less than the minimum of 1" in proc.stderr


@pytest.mark.slow
def test_full_tiny_run_then_rerun_one_stage(workdir):
    snakemake(workdir, "--cores", "2", "--configfile", "config/test.yaml")
    summary = (workdir / "results/report/summary.md").read_text()
    for model in (
        "base",
        "self_refine",
        "star_1",
        "star_2",
        "pair_sft",
        "pair_sft_plus",
        "score_stage1",
        "score",
        "score_single_turn",
        "score_no_stage1",
        "score_no_shaping",
        "score_star_stage2",
        "rise_1",
        "rise_2",
    ):
        assert f"| {model} |" in summary
    assert "## RISE on arith" in summary
    assert "## Inference-time scaling on arith" in summary and "## Provenance" in summary
    # evaluation runs eval_turns = 3 attempts: accuracy per attempt up to t3
    assert "| model | p1@t3 | m1@t3 |" in summary
    for png in (
        "training_curves.png",
        "pretraining.png",
        "rise_accuracy_per_turn.png",
        "scaling.png",
    ):
        assert (workdir / "results/report" / png).stat().st_size > 0
    # the resolved config next to the tables, with the hash the provenance block records
    resolved = yaml.safe_load((workdir / "results/report/config.yaml").read_text())
    assert resolved["models"][0] == "base" and resolved["tracking"] == {"tensorboard": False}
    assert f"Config hash: `{config_hash(resolved)}` (the resolved config: [config.yaml]" in summary
    assert not (workdir / "results/tensorboard").exists()  # tracking is off by default
    for log in ["base_model.log", "report.log", "label/base/arith-train.log"]:
        assert (workdir / "logs" / log).exists()
    assert (workdir / "logs/benchmarks/base_model.tsv").exists()

    # everything is up to date; a target names a stage and reruns only it
    assert planned_jobs(snakemake(workdir, "-n", "--configfile", "config/test.yaml")) == {}
    # switching TensorBoard on retrains nothing: only the report (its config) is out of date
    track = workdir / "track.yaml"
    track.write_text("tracking: {tensorboard: true}\n")
    proc = snakemake(workdir, "-n", "--configfile", "config/test.yaml", str(track))
    assert planned_jobs(proc) == {"build_report": 1, "all": 1}
    shutil.rmtree(workdir / "results/eval")
    proc = snakemake(workdir, "-n", "evaluate", "--configfile", "config/test.yaml")
    assert planned_jobs(proc) == {"evaluate_model": 12, "evaluate": 1}

    # a changed evaluation setting reruns test-split rollouts and what follows, not the base
    override = workdir / "override.yaml"
    override.write_text("rollout: {eval: {max_new_tokens: 20}}\n")
    proc = snakemake(workdir, "-n", "--configfile", "config/test.yaml", str(override))
    jobs = planned_jobs(proc)
    assert "base_model" not in jobs and "prepare_task" not in jobs
    # the test split only, for every model: training rollouts keep their sampling
    assert jobs["rollout"] == 12
    assert not {"score_run", "baseline_sft"} & set(jobs)

    # STaR iteration 2 learns from star_1's own training rollouts; Pair-SFT from the base's
    proc = snakemake(
        workdir,
        "-n",
        "results/models/star_2",
        "--forcerun",
        "results/models/star_1",
        "--configfile",
        "config/test.yaml",
    )
    assert planned_jobs(proc) == {"baseline_sft": 2, "baseline_data": 1, "rollout": 1, "label": 1}

    # a Stage II setting reruns Stage II and what follows, not Stage I
    override.write_text("score: {alpha: 5.0}\n")
    proc = snakemake(workdir, "-n", "--configfile", "config/test.yaml", str(override))
    retrained = set(re.findall(r"(?m)^    output: results/models/(\w+)$", proc.stdout))
    assert "score" in retrained and not {"score_stage1", "base"} & retrained

    # RISE: rerunning iteration 2 does not rerun iteration 1 …
    proc = snakemake(
        workdir,
        "-n",
        "results/models/rise_2",
        "--forcerun",
        "results/models/rise_2",
        "--configfile",
        "config/test.yaml",
    )
    assert planned_jobs(proc) == {"rise_train": 1}
    # … but iteration 2 depends on iteration 1: rerunning M_1 replans iteration 2's whole chain
    proc = snakemake(
        workdir,
        "-n",
        "results/models/rise_2",
        "--forcerun",
        "results/models/rise_1",
        "--configfile",
        "config/test.yaml",
    )
    assert planned_jobs(proc) == {
        "rise_train": 2,
        "rise_collect": 1,
        "rise_label": 1,
        "rise_improve": 1,
    }

    snakemake(workdir, "--cores", "2", "evaluate", "--configfile", "config/test.yaml")
    snakemake(workdir, "--configfile", "config/test.yaml", "--report", "results/report/report.html")
    html = (workdir / "results/report/report.html").read_text(errors="replace")
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:2000].lower()
    for item in ("summary.md", "config.yaml", "transitions.png", "scaling.png"):
        assert item in html


@pytest.mark.slow
@pytest.mark.deepspeed
def test_training_rules_run_one_process_per_gpu(workdir):
    """`resources.gpu` = 2 turns a training rule's command into `torchrun --nproc-per-node 2 -m
    selfcorrect.cli …`, which trains under DeepSpeed (CPU here); moving the run back to 1 GPU
    does not rerun it. Retrains three models of the full run above, from its inputs."""
    pytest.importorskip("deepspeed")
    from transformers import AutoModelForCausalLM

    env = {**ENV, "DS_ACCELERATOR": "cpu", "OMP_NUM_THREADS": "1"}
    targets = ["results/models/score_stage1", "results/models/rise_1", "results/models/pair_sft"]
    (workdir / "zero3.yaml").write_text("distributed: {zero_stage: 3}\n")
    two = ["--set-resources", "score_run:gpu=2", "rise_train:gpu=2", "baseline_sft:gpu=2"]
    config = ["--configfile", "config/test.yaml", "zero3.yaml"]
    force = ["--forcerun", *targets]
    run = snakemake(workdir, "--cores", "2", *config, *two, *force, "-p", "--", *targets, env=env)
    prefix = "torchrun --standalone --nproc-per-node 2 -m selfcorrect.cli --threads 1"
    launched = [
        line for line in run.stdout.splitlines() + run.stderr.splitlines() if prefix in line
    ]
    assert any(" score " in line for line in launched)
    assert any(" rise-train " in line for line in launched)
    assert any(" sft " in line for line in launched)
    assert "rule base_model:" not in run.stdout + run.stderr  # only the three retrained
    # both trainers really ran on 2 processes under ZeRO-3: the sharded checkpoint says so
    meta = json.loads((workdir / "results/checkpoints/score_stage1/deepspeed.json").read_text())
    assert (meta["world_size"], meta["zero_stage"]) == (2, 3)
    for target in targets:  # whole models, gathered from the partitions by rank 0
        model = AutoModelForCausalLM.from_pretrained(workdir / target)
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    # the launcher is a function of resources: a different GPU count (or ZeRO stage) is the
    # same experiment and reruns nothing
    dry = snakemake(
        workdir, "-n", "--cores", "2", "--configfile", "config/test.yaml", "--", *targets
    )
    assert "Nothing to be done" in dry.stdout + dry.stderr
