"""Verifiers: each maps (completion, reference) to a Grade. Registered by the name a task declares."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from selfcorrect.errors import SelfCorrectError


@dataclass(frozen=True)
class Grade:
    reward: float  # 1.0 correct, 0.0 otherwise
    # math/exact: correct | wrong | no_answer | error;
    # code: pass | fail | timeout | crash | memory | forbidden | no_answer
    verdict: str
    extracted: str = ""  # the final answer (math) or the program that ran (code)
    error: str = ""  # why grading failed, or the sandbox's report for a program that did not pass
    failing_test: str = ""  # code: the test line that failed, when known
    isolation: str = ""  # code: how the program was isolated (selfcorrect.rewards.sandbox)


Verifier = Callable[[str, str], Grade]


def get_verifier(name: str) -> Verifier:
    if name == "exact":
        from selfcorrect.rewards.exact import grade_exact

        return grade_exact
    if name == "math":
        from selfcorrect.rewards.math import grade_math

        return grade_math
    if name == "code":
        from selfcorrect.rewards.code import grade_code

        return grade_code
    raise SelfCorrectError(f"unknown reward {name!r} (known: exact, math, code)")


Equivalence = Callable[[str, str], bool]


def get_equivalence(name: str) -> Equivalence:
    """When two extracted answers are the same answer, for majority votes (docs/methods.md,
    "Majority votes"): math-verify equivalence for `math` ("0.5" and "\\frac12" are one
    answer); exact string match for `exact` and `code` (a program is its own answer)."""
    if name == "math":
        from selfcorrect.rewards.math import answers_equivalent

        return answers_equivalent
    if name in ("exact", "code"):
        return str.__eq__
    raise SelfCorrectError(f"unknown reward {name!r} (known: exact, math, code)")
