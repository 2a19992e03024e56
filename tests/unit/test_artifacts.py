import pandas as pd
import pytest

from selfcorrect.artifacts import atomic_path, read_parquet, write_parquet
from selfcorrect.errors import SelfCorrectError


def problems(n=2):
    return pd.DataFrame(
        {
            "task": ["t"] * n,
            "split": ["test"] * n,
            "problem_id": [f"p{i}" for i in range(n)],
            "question": ["1+1"] * n,
            "answer": ["2"] * n,
            "solution": [""] * n,
            "tests": [""] * n,
            "meta": ["{}"] * n,
        }
    )


def test_round_trip_keeps_declared_columns_only(tmp_path):
    df = problems().assign(extra=1)
    write_parquet(df, tmp_path / "p.parquet", "problems")
    back = read_parquet(tmp_path / "p.parquet", "problems")
    assert list(back.columns) == list(problems().columns)
    assert back.equals(problems())


def test_missing_column_on_write_names_file_and_column(tmp_path):
    with pytest.raises(SelfCorrectError, match=r"out.parquet: .*'answer'"):
        write_parquet(problems().drop(columns="answer"), tmp_path / "out.parquet", "problems")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_missing_column_on_read_names_file_and_column(tmp_path):
    path = tmp_path / "p.parquet"
    problems().drop(columns="question").to_parquet(path)
    with pytest.raises(SelfCorrectError, match=r"p.parquet: .*missing column 'question'"):
        read_parquet(path, "problems")


def test_wrong_type_on_read(tmp_path):
    path = tmp_path / "p.parquet"
    problems().assign(answer=[2, 3]).to_parquet(path)
    with pytest.raises(SelfCorrectError, match="'answer' has type int64"):
        read_parquet(path, "problems")


def test_a_null_on_write_names_file_column_and_row(tmp_path):
    df = problems(3)
    df.loc[2, "answer"] = None
    with pytest.raises(
        SelfCorrectError,
        match=r"out.parquet: column 'answer' is empty \(null\) "
        r"at row 2",
    ):
        write_parquet(df, tmp_path / "out.parquet", "problems")
    assert not list(tmp_path.iterdir())


def test_atomic_path_leaves_nothing_when_the_block_fails(tmp_path):
    target = tmp_path / "model"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "half.bin").write_text("x")
        raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_replaces_an_existing_directory(tmp_path):
    target = tmp_path / "model"
    target.mkdir()
    (target / "old").write_text("old")
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"]
