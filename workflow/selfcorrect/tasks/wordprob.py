"""`wordprob`: arithmetic word problems in English, generated deterministically from a seed.

A natural-language task for a real instruct model on a CPU, where nothing can be downloaded:
one to three steps of addition, subtraction, multiplication or fair sharing, each step one
sentence ("Mia has 12 pencils. She buys 7 more. She then gives 5 to a friend. How many pencils
does Mia have now?"). Every intermediate value is a whole, positive number. Answers are
free-form worked text graded by math-verify on the model's own words (rewards/math.py): the
prompt asks for "The final answer is N", and a completion that never states one is graded on
its last number (`answer_fallback: last_number`).

Difficulty is set by the share of problems with 1, 2 and 3 steps (`steps_mix`) and the size of
the numbers (`max_number`); the defaults land SmolLM2-135M-Instruct's greedy first attempt
between 20% and 60% (docs/real-model.md). Train and test are split by a hash of the question,
so no test problem is ever trained on.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass

import pandas as pd

from selfcorrect.config import task_config
from selfcorrect.errors import SelfCorrectError
from selfcorrect.tasks.base import Task, check_split, register_task

# Measured on SmolLM2-135M-Instruct: "think step by step" made it ramble past 128 tokens;
# asking for the calculation keeps most answers short enough to finish.
PROMPT = (
    "Solve the math word problem. Write the calculation, then end with "
    '"The final answer is N." where N is a number.\n\nProblem: {question}'
)
CORRECTION = (
    "There might be an error in the solution above. Please check each step, correct the "
    'error if any, and rewrite the solution. End with "The final answer is N."'
)

NAMES = ("Tom", "Mia", "Sam", "Lena", "Omar", "Ana", "Ben", "Zoe", "Raj", "Emma", "Leo", "Ivy")
PRONOUN = {"Tom": "He", "Sam": "He", "Omar": "He", "Ben": "He", "Raj": "He", "Leo": "He"}
ITEMS = (
    "apples",
    "pencils",
    "stickers",
    "marbles",
    "cookies",
    "books",
    "coins",
    "stamps",
    "shells",
    "cards",
)


@dataclass(frozen=True)
class Step:
    op: str  # add | sub | mul | div
    n: int


@dataclass(frozen=True)
class Problem:
    name: str
    item: str
    start: int
    steps: tuple[Step, ...]

    @property
    def answer(self) -> int:
        value = self.start
        for s in self.steps:
            value = apply(value, s)
        return value

    @property
    def question(self) -> str:
        he = PRONOUN.get(self.name, "She")
        text = [f"{self.name} has {self.start} {self.item}."]
        for i, s in enumerate(self.steps):
            then = "" if i == 0 else "then "
            sentence = SENTENCES[s.op].format(n=s.n, item=self.item, times=TIMES.get(s.n))
            text.append(f"{he} {then}{sentence}")
        text.append(f"How many {self.item} does {self.name} have now?")
        return " ".join(text)

    @property
    def solution(self) -> str:
        lines, value = [], self.start
        for s in self.steps:
            new = apply(value, s)
            lines.append(f"{value} {SYMBOL[s.op]} {s.n} = {new}.")
            value = new
        return " ".join(lines) + f" The final answer is {value}."


SENTENCES = {
    "add": "buys {n} more {item}.",
    "sub": "gives {n} {item} to a friend.",
    "mul": "{times} the number of {item}.",
    "div": "splits the {item} into {n} equal groups and keeps one group.",
}
TIMES = {2: "doubles", 3: "triples"}
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/"}


def apply(value: int, step: Step) -> int:
    if step.op == "add":
        return value + step.n
    if step.op == "sub":
        return value - step.n
    if step.op == "mul":
        return value * step.n
    return value // step.n


def sample_step(rng: random.Random, value: int, max_number: int) -> Step:
    """One step that keeps the running value a whole number in 1..max_number²."""
    while True:
        op = rng.choice(("add", "add", "sub", "sub", "mul", "div"))
        if op == "add":
            return Step(op, rng.randint(2, max_number))
        if op == "sub" and value > 2:
            return Step(op, rng.randint(1, value - 1))
        if op == "mul" and value <= max_number:
            return Step(op, rng.randint(2, 3))
        if op == "div":
            divisors = [d for d in range(2, 6) if value % d == 0]
            if divisors:
                return Step(op, rng.choice(divisors))


def sample_problem(rng: random.Random, cfg: dict) -> Problem:
    mix = cfg["steps_mix"]
    n_steps = rng.choices(range(1, len(mix) + 1), weights=mix)[0]
    start = rng.randint(2, cfg["max_number"])
    steps, value = [], start
    for _ in range(n_steps):
        step = sample_step(rng, value, cfg["max_number"])
        steps.append(step)
        value = apply(value, step)
    return Problem(rng.choice(NAMES), rng.choice(ITEMS), start, tuple(steps))


def is_held_out(question: str, test_fraction: float) -> bool:
    digest = hashlib.sha256(question.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


def sample_split(split: str, n: int, cfg: dict) -> list[Problem]:
    """`n` distinct problems of one split, the same for the same seed."""
    check_split(split)
    want_test = split == "test"
    rng = random.Random(f"wordprob-{split}-{cfg['seed']}")
    seen: dict[str, Problem] = {}
    for _ in range(200 * n):
        p = sample_problem(rng, cfg)
        if is_held_out(p.question, cfg["test_fraction"]) == want_test:
            seen.setdefault(p.question, p)
            if len(seen) == n:
                return list(seen.values())
    raise SelfCorrectError(
        f"tasks.wordprob: cannot draw {n} distinct {split} problems with max_number "
        f"{cfg['max_number']} (raise max_number or lower n_{split})"
    )


@register_task
class WordProblems(Task):
    name = "wordprob"
    reward = "math"
    prompt_template = PROMPT
    correction_instruction = CORRECTION

    def problems(self, split: str, cfg: dict) -> pd.DataFrame:
        cfg = task_config(self.name, cfg)
        n = cfg["n_train"] if split == "train" else cfg["n_test"]
        rows = []
        for p in sample_split(split, n, cfg):
            digest = hashlib.sha256(p.question.encode()).hexdigest()[:12]
            rows.append(
                {
                    "task": self.name,
                    "split": split,
                    "problem_id": f"wordprob-{digest}",
                    "question": p.question,
                    "answer": str(p.answer),
                    "solution": p.solution,
                    "tests": "",
                    "meta": json.dumps({"steps": len(p.steps)}),
                }
            )
        return pd.DataFrame(rows)
