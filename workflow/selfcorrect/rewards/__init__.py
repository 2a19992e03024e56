"""Verifiers: each maps (completion, reference) to a Grade. Registered by the name a task declares."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from selfcorrect.errors import SelfCorrectError


@dataclass(frozen=True)
class Grade:
    reward: float  # 1.0 correct, 0.0 otherwise
    verdict: str  # correct | wrong | no_answer | error
    extracted: str = ""  # the final answer found in the completion
    error: str = ""  # why grading failed


Verifier = Callable[[str, str], Grade]


def get_verifier(name: str) -> Verifier:
    if name == "exact":
        from selfcorrect.rewards.exact import grade_exact

        return grade_exact
    if name == "math":
        from selfcorrect.rewards.math import grade_math

        return grade_math
    if name == "code":
        raise SelfCorrectError(
            "reward 'code': labeling code tasks needs the sandboxed executor, which is not built yet"
        )
    raise SelfCorrectError(f"unknown reward {name!r} (known: exact, math, code)")
