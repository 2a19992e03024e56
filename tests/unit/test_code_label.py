"""The label stage on a code task: test specs as references, code verdicts, the new columns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from selfcorrect.artifacts import read_parquet, write_parquet
from selfcorrect.rewards.sandbox import isolation_mode
from selfcorrect.stages.label import label
from selfcorrect.tasks import get_task

MBPP = {"source": str(Path(__file__).resolve().parents[1] / "fixtures" / "mbpp" / "mbpp.jsonl")}


def rollouts_for(problems: pd.DataFrame, completions: list[str]) -> pd.DataFrame:
    n = len(completions)
    row = problems.iloc[0]
    return pd.DataFrame(
        {
            "model": ["base"] * n,
            "task": [row.task] * n,
            "split": [row.split] * n,
            "problem_id": [row.problem_id] * n,
            "sample": list(range(n)),
            "turn": [1] * n,
            "context": [""] * n,
            "completion": completions,
            "prompt_tokens": [0] * n,
            "completion_tokens": [len(c) for c in completions],
            "finish_reason": ["stop"] * n,
            "temperature": [0.0] * n,
            "top_p": [1.0] * n,
            "max_new_tokens": [64] * n,
            "seed": [0] * n,
            "backend": ["hf"] * n,
        }
    )


def test_mbpp_labels_reference_passes_and_wrong_program_names_its_failing_assert(tmp_path):
    task = get_task("mbpp")
    problems = task.problems("train", MBPP).head(1)
    reference = problems["answer"].iat[0]
    first_assert = problems["tests"].map(lambda t: json.loads(t)["test_list"][0])
    function = reference.split("def ", 1)[1].split("(", 1)[0]
    completions = [
        f"{reference}\n[DONE]\n\nYou are an expert Python programmer…",  # as the 3-shot prompt ends
        f"```python\ndef {function}(*args):\n    return None\n```",
        "I cannot solve this.",
        "import os\nos._exit(0)\n",
    ]
    labels = label(rollouts_for(problems, completions), problems, workers=1)
    assert list(labels["verdict"]) == ["pass", "fail", "crash", "crash"]
    assert list(labels["reward"]) == [1.0, 0.0, 0.0, 0.0]
    assert labels["failing_test"].iat[1] == first_assert.iat[0].strip()
    assert set(labels["isolation"]) == {isolation_mode()}
    out = tmp_path / "labels.parquet"
    write_parquet(labels, out, "labels")
    assert list(read_parquet(out, "labels")["verdict"]) == list(labels["verdict"])


def test_math_labels_keep_their_verdicts_and_empty_code_columns():
    task = get_task("arith")
    problems = task.problems("test", {"n_test": 2})
    answer = problems["answer"].iat[0]
    labels = label(rollouts_for(problems, [f"{answer}|x|y", "0|x|n"]), problems, workers=1)
    assert list(labels["verdict"]) == ["correct", "wrong"]
    assert set(labels["failing_test"]) == {""} and set(labels["isolation"]) == {""}


def test_labels_written_before_the_code_columns_still_read(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    task = get_task("arith")
    problems = task.problems("test", {"n_test": 1})
    labels = label(rollouts_for(problems, ["1|x|y"]), problems, workers=1)
    old = pa.Table.from_pandas(
        labels.drop(columns=["failing_test", "isolation"]), preserve_index=False
    )
    pq.write_table(old, tmp_path / "old.parquet")
    back = read_parquet(tmp_path / "old.parquet", "labels")
    assert list(back["failing_test"]) == [""] and list(back["isolation"]) == [""]
