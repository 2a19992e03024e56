"""The task registry: one place to add a task.

A task turns its source (generated, local files, or a `datasets` id) into the problems
artifact, and says how a problem is put to the model and how it is graded:

    @register_task
    class MyTask(Task):
        name = "mytask"
        reward = "math"            # a name in selfcorrect.rewards
        prompt_template = "{question}"
        correction_instruction = "…"
        def problems(self, split, cfg): -> DataFrame with the PROBLEMS columns
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pandas as pd

from selfcorrect.errors import SelfCorrectError
from selfcorrect.tasks.sources import Field, Records, load_records

MATH_PROMPT = (
    "You are a math expert. When you respond, respond only with the Solution of the final "
    "Problem, thinking step by step. At the end of the Solution, when you give your final "
    'answer, write it in the form "Final Answer: The final answer is $answer$. I hope it is '
    'correct."\n\nProblem:\n{question}'
)
MATH_CORRECTION = (
    "There might be an error in the solution above because of lack of understanding of the "
    "question. Please correct the error, if any, and rewrite the solution. Only output the "
    "final solution! At the end of the Solution, when you give your final answer, write it in "
    'the form "Final Answer: The final answer is $answer$. I hope it is correct."'
)
CODE_CORRECTION = (
    "There might be an error in the code above because of lack of understanding of the "
    "question. Please correct the error, if any, and rewrite the solution. Only output the "
    "final correct Python program!"
)
RISE_FEEDBACK = "The answer is incorrect. Please try again."

SPLITS = ("train", "test")


class Task:
    """Base class: subclasses set the class attributes and implement `problems`."""

    name: ClassVar[str]
    reward: ClassVar[str]  # "exact", "math" or "code": the verifier in selfcorrect.rewards
    prompt_template: ClassVar[str] = "{question}"
    correction_instruction: ClassVar[str] = MATH_CORRECTION
    # where `records` reads when the task config names no source (tasks/sources.py)
    default_source: ClassVar[dict | None] = None

    def problems(self, split: str, cfg: dict) -> pd.DataFrame:
        """Return the split's problems with the PROBLEMS artifact columns."""
        raise NotImplementedError

    def records(self, split: str, cfg: dict, required: Sequence[Field], **options) -> Records:
        """The rows of `split` from the source the task config names, else `default_source`,
        each holding the `required` fields (`options`: load_records's, e.g. split_filter)."""
        check_split(split)
        return load_records(
            cfg, split, task=self.name, default=self.default_source, required=required, **options
        )

    def references(self, problems: pd.DataFrame) -> list[str]:
        """What the verifier grades each problem's completions against, in row order: the
        reference answer; code tasks return their test spec (selfcorrect.rewards.code)."""
        return [str(a) for a in problems["answer"]]

    def first_prompt(self, question: str, cfg: dict | None = None) -> str:
        """The first user message: the task's prompt template around the question."""
        template = (cfg or {}).get("prompt_template") or self.prompt_template
        return template.replace("{question}", question)

    def instruction(self, cfg: dict | None = None) -> str:
        """The self-correction instruction appended after each attempt."""
        return (cfg or {}).get("correction_instruction") or self.correction_instruction

    def critique(self, cfg: dict | None = None) -> str:
        """The prompt for the model's feedback before each later attempt (the
        `self_refine_critique` baseline sets it), or "" for none."""
        return (cfg or {}).get("critique_instruction") or ""


_REGISTRY: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    if cls.name in _REGISTRY:
        raise ValueError(f"task {cls.name!r} registered twice")
    _REGISTRY[cls.name] = cls
    return cls


def get_task(name: str) -> Task:
    from selfcorrect import tasks as _  # noqa: F401  (imports every task module)

    if name not in _REGISTRY:
        raise SelfCorrectError(f"unknown task {name!r} (known: {', '.join(sorted(_REGISTRY))})")
    return _REGISTRY[name]()


def task_names() -> list[str]:
    from selfcorrect import tasks as _  # noqa: F401

    return sorted(_REGISTRY)


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise SelfCorrectError(f"unknown split {split!r} (known: {', '.join(SPLITS)})")
