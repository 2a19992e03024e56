"""`math`: competition mathematics, MATH (Hendrycks et al., 2021).

Two public row formats are read:

* Hendrycks MATH: `{"problem", "solution", "level", "type"}`; the answer is the content of the
  last `\\boxed{…}` (or `\\fbox{…}`) in the solution.
* MATH500 (`HuggingFaceH4/MATH-500`): `{"problem", "solution", "answer", "subject", "level",
  "unique_id"}`; the given answer is used and `unique_id` is the problem id.

Default source: `HuggingFaceH4/MATH-500` for the test split (SCoRe evaluates on MATH500). There is
no default train source, because the full Hendrycks train set is spread over per-subject hub
configs (`EleutherAI/hendrycks_math`) or mirrors of varying shape. Point `sources: {train: …}`
at a .jsonl/.parquet file or directory of training problems in either format (the 7,500 MATH
train problems, or the 12,000-problem PRM800K train split of Lightman et al., which leaves out
MATH500), or at a hub id with `hub_config`.
"""

from __future__ import annotations

import json

import pandas as pd

from selfcorrect.errors import SelfCorrectError
from selfcorrect.tasks.base import MATH_CORRECTION, MATH_PROMPT, Task, register_task
from selfcorrect.tasks.sources import problems_frame

DEFAULT_SOURCE = {"sources": {"test": "HuggingFaceH4/MATH-500"}}
BOX_COMMANDS = ("\\boxed", "\\fbox")
META_FIELDS = ("level", "type", "subject", "unique_id")


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{…}` / `\\fbox{…}` / `\\boxed 5`; None if there is none.

    Braces are matched by depth, so `\\boxed{\\frac{1}{2}}` gives `\\frac{1}{2}`.
    """
    start, command = max((text.rfind(c), c) for c in BOX_COMMANDS)
    if start < 0:
        return None
    rest = text[start + len(command) :]
    body = rest.lstrip()
    if body.startswith("{"):
        return _braced(body)
    if rest[:1].isspace():  # `\boxed 5$`: the argument runs to the end of the math
        return body.split("$", 1)[0].split("\n", 1)[0].strip() or None
    return None  # e.g. `\boxedfoo`: not the command


def _braced(text: str) -> str | None:
    """The content of the brace group opening `text`; None if it never closes."""
    depth = 0
    for i, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[1:i].strip()
    return None


@register_task
class HendrycksMath(Task):
    name = "math"
    reward = "math"
    prompt_template = MATH_PROMPT
    correction_instruction = MATH_CORRECTION
    default_source = DEFAULT_SOURCE

    def problems(self, split: str, cfg: dict) -> pd.DataFrame:
        records = self.records(split, cfg, ("problem", "solution"))
        rows = [
            self._row(record, index, split, records.origin) for index, record in enumerate(records)
        ]
        return problems_frame(rows, records.origin)

    def _row(self, record: dict, index: int, split: str, origin: str) -> dict:
        solution = str(record["solution"])
        given = "" if record.get("answer") is None else str(record["answer"]).strip()
        answer = given or last_boxed(solution)
        if not answer:
            raise SelfCorrectError(
                f"{origin}: row {index}: no 'answer' field and no \\boxed answer in 'solution'"
            )
        meta = {k: record[k] for k in META_FIELDS if record.get(k) is not None}
        meta["source_index"] = index
        unique_id = record.get("unique_id")
        return {
            "task": self.name,
            "split": split,
            "problem_id": str(unique_id) if unique_id else f"math-{split}-{index}",
            "question": str(record["problem"]),
            "answer": answer,
            "solution": solution,
            "tests": "",
            "meta": json.dumps(meta),
        }
