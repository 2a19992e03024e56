"""`gsm8k`: grade-school math word problems (Cobbe et al., 2021).

Rows are the public format, `{"question", "answer"}`, where the answer is a worked solution
ending in `#### <number>`. The reference answer is that number without thousands separators;
the text before `####` is kept as the worked solution. Default source: the hub id `openai/gsm8k`,
config `main` (set `source` to a local copy when offline).
"""

from __future__ import annotations

import json

import pandas as pd

from selfcorrect.errors import SelfCorrectError
from selfcorrect.tasks.base import MATH_CORRECTION, MATH_PROMPT, Task, register_task
from selfcorrect.tasks.sources import problems_frame

DEFAULT_SOURCE = {"source": "openai/gsm8k", "hub_config": "main"}
MARKER = "####"


def split_answer(text: str) -> tuple[str, str] | None:
    """`"…\\n#### 1,200"` -> `("…", "1200")`; None when there is no final `####` answer."""
    solution, marker, final = text.rpartition(MARKER)
    number = final.strip().replace(",", "")
    if not marker or not number:
        return None
    return solution.strip(), number


@register_task
class GSM8K(Task):
    name = "gsm8k"
    reward = "math"
    prompt_template = MATH_PROMPT
    correction_instruction = MATH_CORRECTION
    default_source = DEFAULT_SOURCE

    def problems(self, split: str, cfg: dict) -> pd.DataFrame:
        records = self.records(split, cfg, ("question", "answer"))
        rows = []
        for index, record in enumerate(records):
            parts = split_answer(str(record["answer"]))
            if parts is None:
                raise SelfCorrectError(
                    f"{records.origin}: row {index}: field 'answer' has no final '#### <number>'"
                )
            solution, answer = parts
            rows.append(
                {
                    "task": self.name,
                    "split": split,
                    "problem_id": f"gsm8k-{split}-{index}",
                    "question": str(record["question"]),
                    "answer": answer,
                    "solution": solution,
                    "tests": "",
                    "meta": json.dumps({"source_index": index}),
                }
            )
        return problems_frame(rows, records.origin)
