"""Exact match for the built-in task: the answer is the completion's first field (answer first)."""

from __future__ import annotations

from selfcorrect.rewards import Grade


def extract_first_field(completion: str) -> str:
    """`'100|32+29=61;61+39=100|y'` -> `'100'`: the committed answer precedes the first '|'."""
    return completion.split("|", 1)[0].strip()


def grade_exact(completion: str, reference: str) -> Grade:
    answer = extract_first_field(completion)
    if not answer:
        return Grade(0.0, "no_answer")
    correct = answer == reference.strip()
    return Grade(float(correct), "correct" if correct else "wrong", extracted=answer)
