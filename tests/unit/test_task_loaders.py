"""Dataset tasks read their public formats offline: gsm8k, math, mbpp, humaneval."""

from __future__ import annotations

import gzip
import json
import sys
import types
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from selfcorrect.artifacts import to_table
from selfcorrect.errors import SelfCorrectError
from selfcorrect.tasks.gsm8k import GSM8K
from selfcorrect.tasks.hendrycks_math import HendrycksMath, last_boxed
from selfcorrect.tasks.humaneval import HumanEval
from selfcorrect.tasks.mbpp import FEW_SHOT, MBPP
from selfcorrect.tasks.sources import load_records, resolve_source

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def problems(task, split: str, cfg: dict):
    """The task's problems, checked against the PROBLEMS artifact schema."""
    df = task.problems(split, cfg)
    to_table(df, "problems")
    assert df["problem_id"].is_unique
    assert (df["task"] == task.name).all() and (df["split"] == split).all()
    return df


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_asserts(program: str, tests: list[str]) -> None:
    namespace: dict = {}
    exec(program + "\n" + "\n".join(tests), namespace)  # noqa: S102 - fixture code, ours


# --- gsm8k -------------------------------------------------------------------------------------


def test_gsm8k_test_split_from_a_directory():
    df = problems(GSM8K(), "test", {"source": str(FIXTURES / "gsm8k")})
    assert list(df["answer"]) == ["18", "3", "540", "1200", "160"]  # "#### 1,200" -> 1200
    assert list(df["problem_id"]) == [f"gsm8k-test-{i}" for i in range(5)]
    assert df["question"][0].startswith("Janet’s ducks lay 16 eggs")
    assert "####" not in df["solution"][3] and df["solution"][3].endswith("1,200 loaves.")
    assert json.loads(df["meta"][4]) == {"source_index": 4}
    assert set(df["tests"]) == {""}


def test_gsm8k_train_split_and_parquet_file_match_jsonl():
    train = problems(GSM8K(), "train", {"source": str(FIXTURES / "gsm8k")})
    assert list(train["answer"]) == ["72", "10", "5", "624", "366"]
    from_parquet = problems(GSM8K(), "test", {"source": str(FIXTURES / "gsm8k" / "test.parquet")})
    from_jsonl = problems(GSM8K(), "test", {"source": str(FIXTURES / "gsm8k" / "test.jsonl")})
    assert from_parquet.equals(from_jsonl)


def test_limit_split_names_and_per_split_sources():
    gsm = str(FIXTURES / "gsm8k")
    assert len(problems(GSM8K(), "test", {"source": gsm, "limit": 2})) == 2
    renamed = problems(GSM8K(), "test", {"source": gsm, "split_names": {"test": "train"}})
    assert renamed["answer"][0] == "72"
    per_split = {"sources": {"test": {"source": gsm, "split": "train", "limit": 1}}}
    assert list(problems(GSM8K(), "test", per_split)["answer"]) == ["72"]


def test_hf_style_parquet_shards_under_data(tmp_path):
    (tmp_path / "data").mkdir()
    table = pq.read_table(FIXTURES / "gsm8k" / "test.parquet")
    pq.write_table(table.slice(0, 2), tmp_path / "data" / "test-00000-of-00002.parquet")
    pq.write_table(table.slice(2), tmp_path / "data" / "test-00001-of-00002.parquet")
    pq.write_table(table.slice(0, 1), tmp_path / "data" / "testing-00000-of-00001.parquet")
    df = problems(GSM8K(), "test", {"source": str(tmp_path)})
    assert list(df["answer"]) == ["18", "3", "540", "1200", "160"]


def test_hub_id_goes_to_datasets_with_config_split_and_limit(monkeypatch):
    calls = []

    class FakeSplit(list):
        def select(self, indices):
            return FakeSplit(self[i] for i in indices)

    def load_dataset(path, name=None, split=None):
        calls.append((path, name, split))
        return FakeSplit(json.loads(line) for line in (FIXTURES / "gsm8k" / "train.jsonl").open())

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    df = problems(GSM8K(), "train", {"limit": 3})
    assert calls == [("openai/gsm8k", "main", "train")]
    assert list(df["answer"]) == ["72", "10", "5"]
    load_records(
        {"source": "someone/other", "split_names": {"test": "validation"}}, "test", task="t"
    )
    assert calls[-1] == (
        "someone/other",
        None,
        "validation",
    )  # the default's config is not inherited


def test_hub_failure_is_one_line(monkeypatch):
    def load_dataset(path, name=None, split=None):
        raise ValueError("Unknown split \"train\". Should be one of ['test'].\nmore detail")

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    with pytest.raises(SelfCorrectError, match="HuggingFaceH4/MATH-500") as err:
        HendrycksMath().problems("train", {"source": "HuggingFaceH4/MATH-500"})
    assert "\n" not in str(err.value) and "Unknown split" in str(err.value)


# --- math --------------------------------------------------------------------------------------


def test_math500_rows_use_the_given_answer_and_unique_id():
    df = problems(HendrycksMath(), "test", {"source": str(FIXTURES / "math")})
    assert list(df["answer"]) == [
        "\\left( 3, \\frac{\\pi}{2} \\right)",
        "\\frac{1}{2}",
        "x^2+1",
        "26000",
        "4495",
    ]
    assert df["problem_id"][0] == "test/precalculus/807.json"
    meta = json.loads(df["meta"][1])
    assert meta["subject"] == "Counting & Probability" and meta["level"] == 2
    assert meta["unique_id"] == "test/counting_and_probability/119.json"


def test_hendrycks_rows_take_the_last_boxed_answer():
    df = problems(HendrycksMath(), "train", {"source": str(FIXTURES / "math")})
    assert list(df["answer"]) == ["0", "5", "\\frac{3}{4}", "2\\sqrt{5}", "(-\\infty, 2]"]
    assert list(df["problem_id"]) == [f"math-train-{i}" for i in range(5)]
    assert json.loads(df["meta"][0]) == {"level": "Level 5", "type": "Algebra", "source_index": 0}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("so $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("$\\boxed{x^2+1}$", "x^2+1"),
        ("$\\boxed{1}$ then $\\boxed{\\{1, 2\\}}$", "\\{1, 2\\}"),
        ("$\\boxed{\\frac{\\sqrt{3}}{2}}$", "\\frac{\\sqrt{3}}{2}"),
        ("the answer is $\\boxed 5$.", "5"),
        ("$\\fbox{7}$", "7"),
        ("$\\boxed {12}$", "12"),
        ("$\\boxed{\\frac{1}{2}$", None),  # never closed
        ("no answer here", None),
    ],
)
def test_last_boxed(text, expected):
    assert last_boxed(text) == expected


def test_math_row_without_any_answer_is_an_error(tmp_path):
    path = write_jsonl(tmp_path / "train.jsonl", [{"problem": "1+1?", "solution": "It is 2."}])
    with pytest.raises(SelfCorrectError, match=r"train\.jsonl: row 0: no 'answer' field"):
        HendrycksMath().problems("train", {"source": str(path)})


def test_math_has_no_default_train_source():
    with pytest.raises(SelfCorrectError, match=r"no source for split 'train'"):
        HendrycksMath().problems("train", {})


# --- mbpp --------------------------------------------------------------------------------------


def test_mbpp_single_file_is_split_by_task_id():
    source = {"source": str(FIXTURES / "mbpp" / "mbpp.jsonl")}
    test = problems(MBPP(), "test", source)
    train = problems(MBPP(), "train", source)
    assert list(test["problem_id"]) == [
        "mbpp-11",
        "mbpp-12",
        "mbpp-17",
    ]  # not 2 (prompt), 511 (val)
    assert list(train["problem_id"]) == ["mbpp-602", "mbpp-604", "mbpp-606"]
    assert list(problems(MBPP(), "train", {**source, "limit": 1})["problem_id"]) == ["mbpp-602"]


def test_mbpp_fields():
    row = problems(MBPP(), "test", {"source": str(FIXTURES / "mbpp" / "mbpp.jsonl")}).iloc[0]
    assert row["question"] == (
        "You are an expert Python programmer, and here is your task: Write a python function to "
        "remove first and last occurrence of a given character from the string. Your code should "
        'pass these tests:\n\nassert remove_Occ("hello","l") == "heo"\n'
        'assert remove_Occ("abcda","a") == "bcd"\nassert remove_Occ("PHP","P") == "H"'
    )
    assert "\r" not in row["answer"] and row["answer"].startswith("def remove_Occ(s,ch):")
    tests = json.loads(row["tests"])
    assert set(tests) == {"test_list", "test_setup_code", "test_imports"}
    assert len(tests["test_list"]) == 3 and tests["test_imports"] == []
    assert json.loads(row["meta"])["challenge_test_list"][0].startswith("assert remove_Occ(")


def test_mbpp_three_shot_prompt():
    task = MBPP()
    row = problems(task, "test", {"source": str(FIXTURES / "mbpp" / "mbpp.jsonl")}).iloc[1]
    prompt = task.first_prompt(row["question"])
    shots = [
        prompt.index(f"def {name}(")
        for name in ("similar_elements", "is_not_prime", "heap_queue_largest")
    ]
    target = prompt.index("sort a given matrix")
    assert shots == sorted(shots) and shots[-1] < target
    assert prompt.count("You are an expert Python programmer") == 4
    assert prompt.count("[DONE]") == 3 and prompt.endswith("[BEGIN]\n")
    for test in json.loads(row["tests"])["test_list"]:
        assert test in prompt[target:]


def test_mbpp_reference_programs_pass_their_tests():
    for shot in FEW_SHOT:
        run_asserts(shot["code"].replace("\r\n", "\n"), shot["test_list"])
    for split in ("train", "test"):
        for row in problems(
            MBPP(), split, {"source": str(FIXTURES / "mbpp" / "mbpp.jsonl")}
        ).itertuples():
            run_asserts(row.answer, json.loads(row.tests)["test_list"])


def test_mbpp_sanitized_format(tmp_path):
    row = {
        "task_id": 20,
        "prompt": "Write a function to check if the given number is woodball or not.",
        "code": "def is_woodall(x):\n    return x == 383",
        "test_list": ["assert is_woodall(383) == True"],
        "test_imports": ["import math"],
    }
    path = write_jsonl(tmp_path / "sanitized-mbpp.jsonl", [row])
    df = problems(MBPP(), "test", {"source": str(path)})
    assert "woodball" in df["question"][0]
    assert json.loads(df["tests"][0]) == {
        "test_list": ["assert is_woodall(383) == True"],
        "test_setup_code": "",
        "test_imports": ["import math"],
    }


def test_mbpp_row_without_description_names_both_fields(tmp_path):
    path = write_jsonl(
        tmp_path / "mbpp.jsonl", [{"task_id": 11, "code": "x = 1", "test_list": ["assert x"]}]
    )
    with pytest.raises(SelfCorrectError, match=r"row 0 is missing field 'text' \(or 'prompt'\)"):
        MBPP().problems("test", {"source": str(path)})


def test_duplicate_problem_ids_are_an_error(tmp_path):
    row = {"task_id": 11, "text": "t", "code": "x = 1", "test_list": ["assert x"]}
    path = write_jsonl(tmp_path / "mbpp.jsonl", [row, row])
    with pytest.raises(SelfCorrectError, match="duplicate problem id 'mbpp-11'"):
        MBPP().problems("test", {"source": str(path)})


# --- humaneval ---------------------------------------------------------------------------------


def test_humaneval_bundled_problems_offline():
    df = problems(HumanEval(), "test", {})
    assert len(df) == 164 and df["problem_id"][0] == "HumanEval/0"
    assert df["problem_id"][163] == "HumanEval/163"
    first = df.iloc[0]
    assert first["answer"].startswith(first["question"])
    tests = json.loads(first["tests"])
    assert tests["entry_point"] == "has_close_elements" and "def check(candidate)" in tests["test"]
    namespace: dict = {}
    exec(first["answer"] + "\n" + tests["test"], namespace)  # noqa: S102 - the canonical solution
    namespace["check"](namespace[tests["entry_point"]])
    assert "def has_close_elements" in HumanEval().first_prompt(first["question"])


def test_humaneval_has_no_train_split():
    with pytest.raises(SelfCorrectError, match="only a test split"):
        HumanEval().problems("train", {})


@pytest.mark.parametrize("name", ["HumanEval.jsonl", "HumanEval.jsonl.gz"])
def test_humaneval_local_file(tmp_path, name):
    rows = [
        {
            "task_id": "Mine/0",
            "prompt": "def one():\n",
            "canonical_solution": "    return 1\n",
            "test": "def check(candidate):\n    assert candidate() == 1\n",
            "entry_point": "one",
        }
    ]
    text = "".join(json.dumps(r) + "\n" for r in rows)
    path = tmp_path / name
    if name.endswith(".gz"):
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    df = problems(HumanEval(), "test", {"source": str(path)})
    assert list(df["problem_id"]) == ["Mine/0"] and df["answer"][0] == "def one():\n    return 1\n"


# --- errors ------------------------------------------------------------------------------------


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "test.jsonl"
    with pytest.raises(SelfCorrectError, match=str(missing)):
        GSM8K().problems("test", {"source": str(missing)})


def test_row_missing_question_names_the_row_and_field(tmp_path):
    rows = [{"question": "q", "answer": "#### 1"}, {"answer": "#### 2"}]
    path = write_jsonl(tmp_path / "test.jsonl", rows)
    with pytest.raises(SelfCorrectError, match=rf"{path}: row 1 is missing field 'question'"):
        GSM8K().problems("test", {"source": str(path)})


def test_gsm8k_answer_without_final_number(tmp_path):
    path = write_jsonl(tmp_path / "test.jsonl", [{"question": "q", "answer": "it is 4"}])
    with pytest.raises(
        SelfCorrectError, match=r"row 0: field 'answer' has no final '#### <number>'"
    ):
        GSM8K().problems("test", {"source": str(path)})


def test_directory_without_the_split(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"question": "q", "answer": "#### 1"}])
    with pytest.raises(SelfCorrectError, match=rf"{tmp_path}: no file for split 'test'"):
        GSM8K().problems("test", {"source": str(tmp_path)})


def test_unreadable_files(tmp_path):
    bad_json = tmp_path / "test.jsonl"
    bad_json.write_text('{"question": "q", "answer": "#### 1"}\n{not json\n')
    with pytest.raises(SelfCorrectError, match=r"test\.jsonl: line 2 is not valid JSON"):
        load_records(str(bad_json), "test", task="gsm8k")
    bad_parquet = tmp_path / "test.parquet"
    bad_parquet.write_bytes(b"not parquet at all")
    with pytest.raises(SelfCorrectError, match=r"test\.parquet: not a readable data file"):
        load_records(str(bad_parquet), "test", task="gsm8k")
    csv = tmp_path / "test.csv"
    csv.write_text("question,answer\n")
    with pytest.raises(SelfCorrectError, match="unsupported file type"):
        load_records(str(csv), "test", task="gsm8k")


def test_bad_config_values():
    with pytest.raises(SelfCorrectError, match="`limit` must be a non-negative integer"):
        resolve_source({"source": "x", "limit": -1}, "test", task="gsm8k")
    with pytest.raises(SelfCorrectError, match="`split_names` must be a mapping"):
        resolve_source({"source": "x", "split_names": ["test"]}, "test", task="gsm8k")
    with pytest.raises(SelfCorrectError, match="unknown split 'dev'"):
        GSM8K().problems("dev", {"source": str(FIXTURES / "gsm8k")})


def test_json_document_formats(tmp_path):
    rows = [{"question": "q", "answer": "#### 1"}]
    as_list = tmp_path / "a.json"
    as_list.write_text(json.dumps(rows))
    by_split = tmp_path / "b.json"
    by_split.write_text(json.dumps({"test": rows}))
    as_lines = tmp_path / "c.json"
    as_lines.write_text(json.dumps(rows[0]) + "\n" + json.dumps(rows[0]) + "\n")
    assert load_records(str(as_list), "test", task="t") == rows
    assert load_records(str(by_split), "test", task="t") == rows
    assert load_records(str(as_lines), "test", task="t") == rows * 2
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "d.parquet")
    assert load_records(str(tmp_path / "d.parquet"), "test", task="t") == rows


def test_tasks_are_registered():
    from selfcorrect.tasks import get_task

    for name in ("gsm8k", "math", "mbpp", "humaneval"):
        assert get_task(name).name == name
