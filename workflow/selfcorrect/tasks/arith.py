"""`arith`: the built-in synthetic task, generated deterministically from a seed.

A problem is `a+b+c` (a, b in 10..99; a share of "easy" problems has c = 0). An attempt commits
to an answer first, then works a check and states whether the check agrees:

    problem   32+29+48
    attempt   61|32+29=61;61+48=109|n        (guess | worked check | verdict)

Why this shape (measured on this CPU): self-correction is only learnable by a
tiny model if checking is easier than producing an answer and an error is visible in the text
the next attempt reads. The pre-training guesser commits to an answer first and, on
three-term problems, usually stops early at a+b; the worked check that follows always adds
all three terms. So a wrong guess sits next to a check that shows the right value, and a
second attempt *can* fix it. Most pre-training second attempts are re-solves that ignore the
check; a small share (`sft.fix`) reads it. So the base model knows how to correct itself but
does not: greedy decoding repeats attempt 1, and sampling finds the fix now and then, which RL
can reinforce. Without that share, whether sampling ever finds it was the pre-training seed's
draw, and so was every self-correction result (docs/findings.md). The reward is the guess only.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from selfcorrect.config import task_config
from selfcorrect.errors import SelfCorrectError
from selfcorrect.tasks.base import RISE_FEEDBACK, Task, check_split, register_task

CORRECTION = "recheck"  # short: every token of the instruction costs compute on a CPU
WORK_PREFIX = "work "  # user prefix of check-only transcripts (see sft_transcript)


@dataclass(frozen=True)
class Problem:
    a: int
    b: int
    c: int

    @property
    def question(self) -> str:
        return f"{self.a}+{self.b}+{self.c}"

    @property
    def answer(self) -> int:
        return self.a + self.b + self.c

    @property
    def check(self) -> str:
        s = self.a + self.b
        return f"{self.a}+{self.b}={s};{s}+{self.c}={s + self.c}"


def attempt(problem: Problem, guess: int) -> str:
    """An attempt: the guess, then the worked check, then whether they agree."""
    verdict = "y" if guess == problem.answer else "n"
    return f"{guess}|{problem.check}|{verdict}"


def is_held_out(problem: Problem, test_fraction: float) -> bool:
    """Held-out membership by a hash of the problem, so no test problem is ever trained on."""
    digest = hashlib.sha256(problem.question.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < test_fraction


def sample_problem(rng: random.Random, easy_fraction: float) -> Problem:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    c = 0 if rng.random() < easy_fraction else rng.randint(10, 99)
    return Problem(a, b, c)


def sample_split(split: str, n: int, cfg: dict) -> list[Problem]:
    """`n` distinct problems of one split, the same for the same seed."""
    check_split(split)
    want_test = split == "test"
    rng = random.Random(f"arith-{split}-{cfg['seed']}")
    seen: dict[str, Problem] = {}
    while len(seen) < n:
        p = sample_problem(rng, cfg["easy_fraction"])
        if is_held_out(p, cfg["test_fraction"]) == want_test:
            seen.setdefault(p.question, p)
    return list(seen.values())


def slip(rng: random.Random, value: int) -> int:
    """A plausible wrong answer: one digit off by one (±1, ±10 or ±100), kept positive."""
    while True:
        wrong = value + rng.choice((-1, 1)) * 10 ** rng.choice((0, 0, 1, 1, 2))
        if wrong > 0:
            return wrong


def stopped_early(problem: Problem) -> int:
    """A systematic error: the guess stops after the first addition and forgets c."""
    return problem.a + problem.b


def noisy_guess(rng: random.Random, problem: Problem, sft: dict) -> int:
    """The pre-training guesser: right or one random slip on two-term problems; on three-term
    problems it usually stops early at a+b.

    Random slips are not enough to cap a model: greedy decoding picks the likeliest digit one
    at a time, and a symmetric ±1 slip never outvotes the right digit. A systematic error does,
    so first-attempt accuracy plateaus near the share of two-term problems, whatever the seed
    or the number of steps. Stopping at a+b (rather than, say, dropping a carry) keeps every
    guess a two-term sum — the same computation as the check's first line — which a tiny model
    learns reliably; sampling still finds the right answer now and then, something RL on the
    first attempt can reinforce, and the check line shows both a+b and the full sum.
    """
    if problem.c == 0:
        right = rng.random() < sft["guess_accuracy_easy"]
        return problem.answer if right else slip(rng, problem.answer)
    right = rng.random() < sft["guess_accuracy_hard"]
    return problem.answer if right else stopped_early(problem)


def sft_transcript(
    rng: random.Random, cfg: dict, instruction: str, feedback: str = RISE_FEEDBACK
) -> list[dict]:
    """One pre-training conversation for the base model.

    - check-only transcripts (`work 32+29+48` -> `32+29=61;61+48=109`) teach the check as its
      own computation; without them a tiny model copies the guess into the check;
    - otherwise attempt 1 is a noisy guess (see noisy_guess) with a correct check; with
      probability `two_turn` an attempt 2 follows: with probability `fix` it takes the check's
      value (the right answer), else it re-solves the problem while ignoring the check, the
      same attempt again (`copy`) or a fresh noisy guess.
      The text before attempt 2 is the correction instruction or, with probability
      `feedback_share`, RISE's fixed feedback, so both protocols are in-distribution for the
      base (a real base model reads any text; a model trained from scratch only its own).
    """
    sft = cfg["sft"]
    while True:
        p = sample_problem(rng, cfg["easy_fraction"])
        if not is_held_out(p, cfg["test_fraction"]):
            break
    if rng.random() < sft["check_only"]:
        return [
            {"role": "user", "content": WORK_PREFIX + p.question},
            {"role": "assistant", "content": p.check},
        ]
    first = attempt(p, noisy_guess(rng, p, sft))
    messages = [{"role": "user", "content": p.question}, {"role": "assistant", "content": first}]
    if rng.random() < sft["two_turn"]:
        if sft["fix"] and rng.random() < sft["fix"]:
            second = attempt(p, p.answer)  # reads the check: takes its value
        elif rng.random() < sft["copy"]:
            second = first
        else:
            second = attempt(p, noisy_guess(rng, p, sft))
        between = feedback if rng.random() < sft["feedback_share"] else instruction
        messages += [
            {"role": "user", "content": between},
            {"role": "assistant", "content": second},
        ]
    return messages


def fix_candidates(rollouts: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(context, guess, check value) of every second attempt whose first attempt committed to a
    wrong guess: the context ends where attempt 2 starts; attempt 1's check shows the value."""
    out = []
    for context, turn in zip(rollouts["context"], rollouts["turn"]):
        first = context.split("<|assistant|>")[1].split("<|end|>")[0] if turn == 2 else ""
        parts = first.split("|")
        if len(parts) == 3 and "=" in parts[1]:
            guess, value = parts[0], parts[1].rsplit("=", 1)[1]
            if guess != value:
                out.append((context, guess, value))
    return out


def fix_log_odds(model, tokenizer, rollouts: pd.DataFrame, limit: int = 64) -> float:
    """How much the model knows the fix: the median, over second attempts after a wrong guess
    (the first `limit`), of log P(attempt 2 takes the check's value) - log P(it repeats the
    guess), each the answer's tokens up to the `|` after it. Below about -8 nats, Stage I
    never sampled the fix in 60 steps and did not take off (docs/findings.md)."""
    import torch

    from selfcorrect.device import model_device
    from selfcorrect.train.core import first_completion, pack, token_logprobs

    rows = fix_candidates(rollouts)[:limit]
    if not rows:
        raise SelfCorrectError("rollouts: no second attempt after a wrong first guess")

    def ids(text: str) -> tuple[int, ...]:
        return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])

    # one batch: each context with the check's value, then with the guess
    prompts = [ids(c) for c, _, _ in rows for _ in range(2)]
    answers = [ids(a + "|") for _, guess, value in rows for a in (value, guess)]
    input_ids, attention, mask = pack(prompts, answers, tokenizer.pad_token_id, model_device(model))
    with torch.no_grad():
        logp = token_logprobs(model, input_ids, attention, first_completion(prompts))
    fix, repeat = (logp * mask).sum(-1).view(-1, 2).unbind(-1)
    return (fix - repeat).sort().values[len(rows) // 2].item()


def solve(question: str) -> str:
    """The programmatic solver: a correct attempt (a stronger teacher for RISE)."""
    a, b, c = (int(x) for x in question.split("+"))
    p = Problem(a, b, c)
    return attempt(p, p.answer)


@register_task
class Arith(Task):
    name = "arith"
    reward = "exact"
    prompt_template = "{question}"
    correction_instruction = CORRECTION

    def solve(self, question: str) -> str:
        """RISE's programmatic teacher (`rise.improve.teacher: solver`)."""
        return solve(question)

    def sft_transcripts(self, cfg: dict) -> Callable[[random.Random], list[dict]]:
        """A generator of pre-training conversations for the base model (see sft_transcript)."""
        cfg = task_config(self.name, cfg)
        instruction = self.instruction(cfg)
        return lambda rng: sft_transcript(rng, cfg, instruction)

    def problems(self, split: str, cfg: dict) -> pd.DataFrame:
        cfg = task_config(self.name, cfg)
        n = cfg["n_train"] if split == "train" else cfg["n_test"]
        rows = [
            {
                "task": self.name,
                "split": split,
                "problem_id": f"arith-{p.a}-{p.b}-{p.c}",
                "question": p.question,
                "answer": str(p.answer),
                "solution": attempt(p, p.answer),
                "tests": "",
                "meta": json.dumps({"easy": p.c == 0}),
            }
            for p in sample_split(split, n, cfg)
        ]
        return pd.DataFrame(rows)
