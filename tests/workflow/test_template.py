"""config/template.yaml planned as a new user plans it: a local model directory, a GSM8K-format
parquet, `--configfile` only. The plan holds exactly the models it names, and no job's config
carries a value of the tiny embedded default (config/config.yaml is not read). Bad names and
keys fail before the DAG is built, in one line."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from test_workflow import copy_workflow, planned_jobs, snakemake_at_once

pytestmark = pytest.mark.workflow


@pytest.fixture(scope="module")
def user(root, tmp_path_factory):
    d = copy_workflow(root, tmp_path_factory.mktemp("template"))
    rows = pd.read_parquet(root / "tests/fixtures/gsm8k/test.parquet")
    assert {"question", "answer"} <= set(rows.columns)
    (d / "data").mkdir()
    rows.to_parquet(d / "data/train.parquet")
    rows.to_parquet(d / "data/test.parquet")
    (d / "models/my-model").mkdir(parents=True)  # a dry run records no model
    cfg = yaml.safe_load((root / "config/template.yaml").read_text())
    cfg["tasks"]["gsm8k"]["sources"] = {"train": "data/train.parquet", "test": "data/test.parquet"}
    cfg["base_model"]["source"] = str(d / "models/my-model")
    (d / "my.yaml").write_text(yaml.safe_dump(cfg))
    return d


BAD_NAMES = [
    ("task: nosuch\n", "config: task: unknown task 'nosuch'"),
    ("models: [base, scor]\n", "config: models.1: no method builds 'scor' (did you mean 'score'?)"),
    (
        "tasks: {gsm8k: {sorce: data/train.parquet}}\n",
        "config: tasks.gsm8k.sorce: unknown key (did you mean 'source'?)",
    ),
    ("models: [base, rise_1]\n", "config: models.1: no method builds 'rise_1'"),
    (
        "scaling: {enabled: true, models: [base, score_stage]}\n",
        "config: scaling.models.1: not in `models`: 'score_stage' (did you mean 'score_stage1'?)",
    ),
]


@pytest.fixture(scope="module")
def plans(user):
    """Every dry run of this module, side by side: the template's plan, with a nested
    command-line value, and with each bad override (bad<i>.yaml)."""
    runs = {
        "template": ["-n", "-p", "--configfile", "my.yaml"],
        "nested": [
            "-n",
            "-p",
            "--configfile",
            "my.yaml",
            "--config",
            "score={stage1_steps: 10, lr: 1e-5, bf16: false}",
        ],
    }
    for i, (override, _) in enumerate(BAD_NAMES):
        (user / f"bad{i}.yaml").write_text(override)
        runs[f"bad{i}"] = ["-n", "--configfile", "my.yaml", f"bad{i}.yaml"]
    return snakemake_at_once({key: (user, args) for key, args in runs.items()})


def job_cfgs(stdout: str) -> list[dict]:
    """The --cfg JSON of every planned shell command."""
    return [json.loads(m) for m in re.findall(r"--cfg '(\{.*?\})'", stdout)]


def walk(obj, key=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from walk(v, k)
    else:
        yield key, obj


def test_template_plans_only_its_models_with_real_model_settings(plans):
    proc = plans["template"]
    assert proc.returncode == 0, proc.stderr
    # base, score_stage1, score: test rollouts of three models, the base's training rollouts
    # (Stage II's offline starts); no RISE, no scaling study, no baselines
    assert planned_jobs(proc) == {
        "prepare_task": 2,
        "base_model": 1,
        "rollout": 4,
        "label": 4,
        "score_run": 2,
        "evaluate_model": 3,
        "build_report": 1,
        "all": 1,
    }
    cfgs = job_cfgs(proc.stdout)
    assert len(cfgs) == 2 + 1 + 4 + 2  # prepare, base_model, rollout, score stages
    values = [kv for cfg in cfgs for kv in walk(cfg)]
    assert not [v for k, v in values if k == "max_new_tokens" and v < 512]
    assert not [v for k, v in values if k == "window" and v != 0]
    assert {v for k, v in values if k == "turns"} == {2}
    assert not [k for cfg in cfgs for k in ("tiny", "pretrain") if k in cfg.get("base_model", {})]
    assert "arith" not in proc.stdout and "results/rise" not in proc.stdout
    score = [c["score"] for c in cfgs if "score" in c]
    assert {s["lr"] for s in score} == {5.0e-6} and {s["steps"] for s in score} == {500}


def test_nested_command_line_values_are_typed(plans):
    proc = plans["nested"]
    assert proc.returncode == 0, proc.stderr
    stage1 = next(
        c["score"] for c in job_cfgs(proc.stdout) if c.get("score", {}).get("steps") == 10
    )
    assert stage1["lr"] == 1e-5 and stage1["bf16"] is False


@pytest.mark.parametrize("override, message", BAD_NAMES)
def test_bad_names_fail_before_the_dag_in_one_line(plans, override, message):
    proc = plans[f"bad{BAD_NAMES.index((override, message))}"]
    assert proc.returncode != 0
    errors = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert len(errors) == 1 and errors[0].startswith(f"selfcorrect: error: {message}")
    assert "Job stats" not in proc.stdout


def test_without_the_venv_on_path_rules_still_find_selfcorrect(user):
    """`.venv/bin/snakemake` run directly: the rules' `selfcorrect` resolves beside it."""
    bin_dir = Path(sys.executable).parent
    env = {**os.environ, "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        # --configfile takes every word after it: the target goes before it (or after `--`)
        [
            str(bin_dir / "snakemake"),
            "--cores",
            "1",
            "--configfile",
            "my.yaml",
            "--",
            "results/data/gsm8k/test.parquet",
        ],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(pd.read_parquet(user / "results/data/gsm8k/test.parquet")) > 0
    shutil.rmtree(user / "results")
