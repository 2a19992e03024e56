"""Parquet contracts between stages: one declared schema per artifact kind, atomic writes.

Every artifact is validated when written and when read, so a wrong or missing column, or an
empty (null) value, is a one-line error naming the file, the column and the row, and a crash
never leaves a half-written file. No column of any kind holds nulls: text that is absent is "".
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from selfcorrect.errors import SelfCorrectError

# Problems of a task split: results/data/{task}/{split}.parquet
PROBLEMS = pa.schema(
    [
        ("task", pa.string()),
        ("split", pa.string()),
        ("problem_id", pa.string()),
        ("question", pa.string()),  # the problem as the model reads it (no instruction)
        ("answer", pa.string()),  # reference final answer (math) or canonical program (code)
        ("solution", pa.string()),  # reference worked solution, "" when the source has none
        ("tests", pa.string()),  # JSON: unit tests / entry point for code tasks, "" otherwise
        ("meta", pa.string()),  # JSON: anything task-specific (level, subject, source index…)
    ]
)

# One row per (problem, sample, turn): results/rollouts/{model}/{task}-{split}.parquet
ROLLOUTS = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("split", pa.string()),
        ("problem_id", pa.string()),
        ("sample", pa.int32()),
        ("turn", pa.int32()),  # 1-based attempt number
        ("context", pa.string()),  # the rendered prompt the model saw (chat template applied)
        ("completion", pa.string()),
        ("prompt_tokens", pa.int32()),
        ("completion_tokens", pa.int32()),
        ("finish_reason", pa.string()),  # "stop" or "length" (truncated)
        ("temperature", pa.float32()),
        ("top_p", pa.float32()),
        ("max_new_tokens", pa.int32()),
        ("seed", pa.int64()),
        ("backend", pa.string()),
    ]
)

ROLLOUT_KEYS = ["model", "task", "split", "problem_id", "sample", "turn"]

# Rollout keys + the verifier's verdict: results/labels/{model}/{task}-{split}.parquet
LABELS = pa.schema(
    [(name, ROLLOUTS.field(name).type) for name in ROLLOUT_KEYS]
    + [
        ("reward", pa.float32()),  # 1.0 correct, 0.0 otherwise
        # math/exact: correct | wrong | no_answer | error
        # code: pass | fail | timeout | crash | memory | forbidden | no_answer
        ("verdict", pa.string()),
        ("extracted", pa.string()),  # the final answer (code: the program run), "" if none
        ("error", pa.string()),  # why grading failed (code: the sandbox's report), "" otherwise
        ("finish_reason", pa.string()),
        ("completion_tokens", pa.int32()),
        ("failing_test", pa.string()),  # code: the test line that failed, "" if none or unknown
        ("isolation", pa.string()),  # code: sandbox mode (rewards/sandbox.py MODES); else ""
    ]
)
# Columns added after a kind was first written: older files read with this default.
ADDED_COLUMNS = {"labels": {"failing_test": "", "isolation": ""}}

# Per (problem, sample): one row with the reward of every turn, for metrics and reading.
EVAL = pa.schema(
    [
        ("model", pa.string()),
        ("task", pa.string()),
        ("problem_id", pa.string()),
        ("sample", pa.int32()),
        ("turn", pa.int32()),
        ("reward", pa.float32()),
        ("extracted", pa.string()),
        ("finish_reason", pa.string()),
    ]
)

# RISE: improved actions at visited states: results/rise/iter_{k}/improved.parquet
RISE_DATA = pa.schema(
    [
        ("problem_id", pa.string()),
        ("sample", pa.int32()),
        ("turn", pa.int32()),  # the state: the attempt this action replaces
        ("context", pa.string()),  # the rendered conversation up to that attempt
        ("action", pa.string()),  # the improved attempt
        ("reward", pa.float32()),
        ("current_reward", pa.float32()),  # what the rolled-out policy scored there
        ("source", pa.string()),  # self | teacher | on_policy (the turn-1 on-policy target)
        ("iteration", pa.int32()),
    ]
)

SCHEMAS: dict[str, pa.Schema] = {
    "rise_data": RISE_DATA,
    "problems": PROBLEMS,
    "rollouts": ROLLOUTS,
    "labels": LABELS,
    "eval": EVAL,
}


def _schema(kind: str) -> pa.Schema:
    if kind not in SCHEMAS:
        raise SelfCorrectError(f"unknown artifact kind {kind!r} (known: {', '.join(SCHEMAS)})")
    return SCHEMAS[kind]


def to_table(df: pd.DataFrame, kind: str, where: str = "<dataframe>") -> pa.Table:
    """Cast a frame to the declared schema; extra columns are dropped, missing ones are errors."""
    schema = _schema(kind)
    df = _with_added_columns(df, kind)
    missing = [f.name for f in schema if f.name not in df.columns]
    if missing:
        raise SelfCorrectError(f"{where}: {kind} artifact is missing column {missing[0]!r}")
    try:
        table = pa.Table.from_pandas(df[schema.names], schema=schema, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        raise SelfCorrectError(f"{where}: {kind} artifact has a bad value: {exc}") from None
    check_no_nulls(table, where)
    return table


def check_no_nulls(table: pa.Table, where: str) -> None:
    """A null anywhere is a one-line error naming the column and the first row that has one."""
    for name in table.column_names:
        column = table.column(name)
        if column.null_count:
            row = pc.index(pc.is_null(column), True).as_py()
            raise SelfCorrectError(f"{where}: column {name!r} is empty (null) at row {row}")


def _with_added_columns(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    added = {k: v for k, v in ADDED_COLUMNS.get(kind, {}).items() if k not in df.columns}
    return df.assign(**added) if added else df


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent)) / path.name
    except OSError as exc:  # e.g. a parent is a regular file, or not writable
        raise SelfCorrectError(f"{path}: cannot write there ({exc.strerror or exc})") from None
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp.parent, ignore_errors=True)


def write_parquet(df: pd.DataFrame, path: str | os.PathLike, kind: str) -> None:
    table = to_table(df, kind, where=str(path))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_parquet(path: str | os.PathLike, kind: str) -> pd.DataFrame:
    """Read an artifact and check it against its schema (names and types)."""
    path = Path(path)
    if not path.exists():
        raise SelfCorrectError(f"{path}: file not found")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise SelfCorrectError(f"{path}: not a readable parquet file ({exc})") from None
    schema = _schema(kind)
    for name, default in ADDED_COLUMNS.get(kind, {}).items():
        if name not in table.column_names:
            table = table.append_column(name, pa.array([default] * len(table), pa.string()))
    for field in schema:
        if field.name not in table.column_names:
            raise SelfCorrectError(f"{path}: {kind} artifact is missing column {field.name!r}")
    for field in schema:
        actual = table.schema.field(field.name).type
        if not _compatible(actual, field.type):
            raise SelfCorrectError(
                f"{path}: column {field.name!r} has type {actual}, expected {field.type}"
            )
    table = table.select(schema.names)
    check_no_nulls(table, str(path))
    return table.cast(schema).to_pandas()


def _compatible(actual: pa.DataType, expected: pa.DataType) -> bool:
    """Same kind of value: other tools write large_string for string, int64 for int32, …"""
    kinds = (_is_text, pa.types.is_integer, pa.types.is_floating, pa.types.is_boolean)
    return pa.types.is_null(actual) or any(k(actual) and k(expected) for k in kinds)


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def problems_task(problems: pd.DataFrame, where: str = "problems") -> str:
    """The one task a problems file holds (an empty or mixed file is an error)."""
    tasks = problems["task"].unique()
    if len(tasks) == 0:
        raise SelfCorrectError(f"{where}: no problems (the file has no rows)")
    if len(tasks) > 1:
        raise SelfCorrectError(f"{where}: problems of several tasks ({', '.join(sorted(tasks))})")
    return str(tasks[0])


def write_json(obj, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def write_text(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
