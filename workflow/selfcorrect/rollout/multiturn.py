"""Multi-turn rollouts: T attempts per (problem, sample), each reading the ones before it."""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import pandas as pd

from selfcorrect.conversation import messages_for_turn, render
from selfcorrect.rollout.backend import RolloutBackend, Sampling

log = logging.getLogger(__name__)


def collect_rollouts(
    backend: RolloutBackend,
    tokenizer,
    problems: pd.DataFrame,
    first_prompts: list[str],
    instruction: str,
    *,
    turns: int,
    samples: int,
    sampling: Sampling,
    model_name: str,
    window: int = 0,
    critique: str = "",
) -> pd.DataFrame:
    """One row per (problem, sample, turn), in the ROLLOUTS artifact layout.

    Every turn is one batched call to the engine over all (problem, sample) pairs, so the
    engine sees the largest batches it can; turn t's prompt holds attempts 1..t−1.

    With a `critique` prompt (Self-Refine's critique-then-refine), every attempt after the
    first is preceded by one more batched call: the model's feedback on its previous attempt,
    read by the attempt together with the refine `instruction`.
    """
    pairs = [(i, s) for i in range(len(problems)) for s in range(samples)]
    history: list[list[str]] = [[] for _ in pairs]
    feedback: list[list[str]] = [[] for _ in pairs]
    # plain dicts: a pandas row lookup per attempt cost as much as a tiny model's generation
    keys = problems[["task", "split", "problem_id"]].to_dict("records")
    rows = []

    def conversations() -> list[str]:
        """Every pair's conversation so far, rendered: what the model reads next (the feedback
        call reads it before this turn's feedback is in; the attempt, after)."""
        return [
            render(
                tokenizer,
                messages_for_turn(
                    first_prompts[i], history[j], instruction, window, critique, feedback[j]
                ),
            )
            for j, (i, _) in enumerate(pairs)
        ]

    for turn in range(1, turns + 1):
        if critique and turn > 1:
            # its own seed stream: the feedback must not replay an attempt's random draws
            notes = backend.generate(
                conversations(), replace(sampling, seed=sampling.seed + 1000 + turn)
            )
            for j, note in enumerate(notes):
                feedback[j].append(note.text)
        contexts = conversations()
        start = time.perf_counter()
        # A distinct seed per turn: turn 2 must not replay turn 1's random draws.
        gens = backend.generate(contexts, replace(sampling, seed=sampling.seed + turn))
        elapsed = time.perf_counter() - start
        new_tokens = sum(g.completion_tokens for g in gens)
        log.debug(
            "turn %d: %d completions, %.0f new tokens/s",
            turn,
            len(gens),
            new_tokens / max(elapsed, 1e-9),
        )
        for j, ((i, s), ctx, gen) in enumerate(zip(pairs, contexts, gens)):
            history[j].append(gen.text)
            rows.append(_row(keys[i], s, turn, ctx, gen, sampling, model_name, backend))
    return pd.DataFrame(rows)


def _row(problem, sample, turn, context, gen, sampling, model_name, backend) -> dict:
    return {
        "model": model_name,
        "task": problem["task"],
        "split": problem["split"],
        "problem_id": problem["problem_id"],
        "sample": sample,
        "turn": turn,
        "context": context,
        "completion": gen.text,
        "prompt_tokens": gen.prompt_tokens,
        "completion_tokens": gen.completion_tokens,
        "finish_reason": gen.finish_reason,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "max_new_tokens": sampling.max_new_tokens,
        "seed": sampling.seed,
        "backend": backend.name,
    }
