"""`selfcorrect label` answers bad input with one line and a non-zero exit, and leaves no
labels file behind that `evaluate` would read."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfcorrect.artifacts import ROLLOUTS, write_parquet
from selfcorrect.tasks import get_task

WORKFLOW = Path(__file__).parents[2] / "workflow"


def rollouts(problems: pd.DataFrame, task: str = "arith") -> pd.DataFrame:
    rows = [
        {
            "model": "base",
            "task": task,
            "split": "test",
            "problem_id": pid,
            "sample": 0,
            "turn": turn,
            "context": "c",
            "completion": f"{answer}|x|y",
            "prompt_tokens": 1,
            "completion_tokens": 3,
            "finish_reason": "stop",
            "temperature": 1.0,
            "top_p": 1.0,
            "max_new_tokens": 8,
            "seed": 0,
            "backend": "hf",
        }
        for pid, answer in zip(problems["problem_id"], problems["answer"])
        for turn in (1, 2)
    ]
    return pd.DataFrame(rows)


@pytest.fixture
def files(tmp_path):
    problems = get_task("arith").problems("test", {"n_test": 3})
    write_parquet(problems, tmp_path / "problems.parquet", "problems")
    write_parquet(rollouts(problems), tmp_path / "rollouts.parquet", "rollouts")
    return tmp_path, problems


def label(tmp_path, rollouts_path, problems_path, out) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(WORKFLOW)}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "selfcorrect.cli",
            "label",
            "--rollouts",
            str(rollouts_path),
            "--problems",
            str(problems_path),
            "--out",
            str(out),
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )


def assert_one_line_error(result, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("selfcorrect label: error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_good_input_is_labeled(files):
    d, _ = files
    result = label(d, d / "rollouts.parquet", d / "problems.parquet", d / "labels.parquet")
    assert result.returncode == 0, result.stderr
    assert pd.read_parquet(d / "labels.parquet")["reward"].eq(1.0).all()


def test_empty_problems(files):
    d, problems = files
    write_parquet(problems.iloc[:0], d / "empty.parquet", "problems")
    result = label(d, d / "rollouts.parquet", d / "empty.parquet", d / "labels.parquet")
    assert_one_line_error(result, "empty.parquet: no problems")
    assert not (d / "labels.parquet").exists()


def write_raw(df: pd.DataFrame, path: Path) -> None:
    """Written as another tool would, with nulls allowed (the artifact writer refuses them)."""
    pq.write_table(pa.Table.from_pandas(df, schema=ROLLOUTS, preserve_index=False), path)


@pytest.mark.parametrize("column, row", [("completion", 3), ("turn", 1)])
def test_a_null_value_is_named_by_column_and_row(files, column, row):
    d, problems = files
    bad = rollouts(problems).astype({"turn": "object"})
    bad.loc[row, column] = None
    write_raw(bad, d / "bad.parquet")
    result = label(d, d / "bad.parquet", d / "problems.parquet", d / "labels.parquet")
    assert_one_line_error(result, f"bad.parquet: column {column!r} is empty (null) at row {row}")
    assert not (d / "labels.parquet").exists()


def test_out_under_a_regular_file(files):
    d, _ = files
    (d / "results").write_text("a file, not a directory")
    result = label(d, d / "rollouts.parquet", d / "problems.parquet", d / "results/labels.parquet")
    assert_one_line_error(result, "results/labels.parquet: cannot write there")
    assert (d / "results").read_text() == "a file, not a directory"


def test_rollouts_of_another_task(files):
    d, problems = files
    write_parquet(rollouts(problems, task="gsm8k"), d / "gsm8k.parquet", "rollouts")
    result = label(d, d / "gsm8k.parquet", d / "problems.parquet", d / "labels.parquet")
    assert_one_line_error(
        result,
        "gsm8k.parquet: row 0 is a rollout of task 'gsm8k'",
        "problems.parquet holds task 'arith'",
    )
    assert not (d / "labels.parquet").exists()


def test_empty_rollouts(files):
    d, problems = files
    write_parquet(rollouts(problems).iloc[:0], d / "none.parquet", "rollouts")
    result = label(d, d / "none.parquet", d / "problems.parquet", d / "labels.parquet")
    assert_one_line_error(result, "none.parquet: no rollouts to label")
    assert not (d / "labels.parquet").exists()


def test_evaluate_refuses_labels_with_a_null_turn(tmp_path):
    """The later stage never misreports a null turn: reading the labels refuses it."""
    from selfcorrect.artifacts import LABELS

    row = {
        "model": "m",
        "task": "arith",
        "split": "test",
        "problem_id": "p",
        "sample": 0,
        "turn": None,
        "reward": 1.0,
        "verdict": "correct",
        "extracted": "2",
        "error": "",
        "finish_reason": "stop",
        "completion_tokens": 1,
        "failing_test": "",
        "isolation": "",
    }
    labels = pd.DataFrame([row])
    pq.write_table(
        pa.Table.from_pandas(labels, schema=LABELS, preserve_index=False),
        tmp_path / "labels.parquet",
    )
    env = {**os.environ, "PYTHONPATH": str(WORKFLOW)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfcorrect.cli",
            "evaluate",
            "--labels",
            "labels.parquet",
            "--name",
            "m",
            "--benchmark",
            "arith",
            "--out-table",
            "eval.parquet",
            "--out-metrics",
            "metrics.json",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "selfcorrect evaluate: error: labels.parquet: column 'turn' is empty (null) at row 0"
    )
    assert not (tmp_path / "eval.parquet").exists() and not (tmp_path / "metrics.json").exists()


@pytest.mark.parametrize("stage", ["rollout", "score"])
def test_other_stages_refuse_empty_problems_too(files, stage):
    d, problems = files
    write_parquet(problems.iloc[:0], d / "empty.parquet", "problems")
    args = {
        "rollout": [
            "--model",
            "m",
            "--name",
            "m",
            "--cfg",
            '{"task_cfg": {}, "rollout": {}, "sampling": {}}',
        ],
        "score": [
            "--method",
            "score_stage1",
            "--init",
            "m",
            "--ref",
            "m",
            "--cfg",
            '{"task_cfg": {}, "score": {"steps": 1}}',
            "--checkpoints",
            "ck",
        ],
    }[stage]
    env = {**os.environ, "PYTHONPATH": str(WORKFLOW)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfcorrect.cli",
            "--threads",
            "1",
            stage,
            *args,
            "--problems",
            "empty.parquet",
            "--out",
            "out",
        ],
        env=env,
        capture_output=True,
        text=True,
        cwd=d,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"selfcorrect {stage}: error: empty.parquet: no problems (the file has no rows)"
    ]
    assert not (d / "out").exists()
