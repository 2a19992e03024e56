"""Bulk grading in a process pool: labeling uses every core, whatever the verifier.

Processes, not threads: math-verify's parser fails in worker threads and its timeouts need
a main thread.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from itertools import repeat

from selfcorrect.rewards import Grade, get_verifier


def grade_many(pairs: list[tuple[str, str]], workers: int, verifier: str = "math") -> list[Grade]:
    """Grade (completion, reference) pairs in order, in `workers` processes (<= 1: inline)."""
    pairs = list(pairs)
    get_verifier(verifier)  # unknown names fail here, not inside a worker
    if verifier == "code":
        from selfcorrect.rewards.sandbox import isolation_mode

        isolation_mode()  # no sandbox that confines programs (and no opt-in): one line, here
    if workers <= 1 or len(pairs) <= 1:
        return _grade_chunk(verifier, pairs)
    size = -(-len(pairs) // (workers * 4))  # ~4 chunks per worker balances uneven grading times
    chunks = [pairs[i : i + size] for i in range(0, len(pairs), size)]
    with ProcessPoolExecutor(min(workers, len(chunks)), mp_context=_mp_context()) as pool:
        graded = pool.map(_grade_chunk, repeat(verifier), chunks)
        return [grade for chunk in graded for grade in chunk]


def _grade_chunk(verifier: str, chunk: list[tuple[str, str]]) -> list[Grade]:
    grade = get_verifier(verifier)
    return [grade(completion, reference) for completion, reference in chunk]


def _mp_context() -> multiprocessing.context.BaseContext:
    # Forking a parent that runs threads (torch, vllm, tqdm) can deadlock a child on a held lock.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
