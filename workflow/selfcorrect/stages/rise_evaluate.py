"""`selfcorrect rise-evaluate`: RISE's metrics m1@t1, m1@tT, p1@tT, mK@t1 -> a metrics JSON.

RISE compares T sequential turns of one sample with K parallel first turns (docs/methods.md),
so it reads two label files where `evaluate` reads one.
"""

from __future__ import annotations

import logging

from selfcorrect.stages.evaluate import equivalence

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("--sequential", required=True, help="labels of T sequential turns")
    parser.add_argument("--parallel", required=True, help="labels of K parallel first turns")
    parser.add_argument("--name", required=True, help="the model's name, recorded")
    parser.add_argument("--benchmark", required=True, help="the benchmark's name, recorded")
    parser.add_argument("--out", required=True, help="the metrics JSON written")


def rise_metrics(sequential, parallel) -> dict:
    """RISE's metrics (docs/methods.md): one greedy sample (m1@t1), majority over T sequential
    turns without oracle (m1@tT), any turn correct with oracle (p1@tT), and the parallel
    baseline: majority over K first-turn samples (mK@t1)."""
    from selfcorrect.metrics import compute_metrics

    seq = compute_metrics(sequential, equivalence(sequential))
    par = compute_metrics(parallel, equivalence(parallel))
    turns, k = seq["turns"], par["n_samples"]
    return {
        "turns": turns,
        "parallel_samples": k,
        "n_samples": 1,
        "acc@t1": seq["acc@t1"],
        "m1@t1": seq["acc@t1"],
        f"m1@t{turns}": seq[f"m1@t{turns}"],
        f"p1@t{turns}": seq[f"p1@t{turns}"],
        f"m{k}@t1": par.get(f"m{k}@t1", par["acc@t1"]),
        "n_problems": seq["n_problems"],
    }


def run(args) -> None:
    from selfcorrect.artifacts import read_parquet, write_json
    from selfcorrect.metrics import accuracy_by_turn

    sequential = read_parquet(args.sequential, "labels")
    parallel = read_parquet(args.parallel, "labels")
    write_json(
        {
            "model": args.name,
            "benchmark": args.benchmark,
            "metrics": rise_metrics(sequential, parallel),
            "accuracy_by_turn": accuracy_by_turn(sequential),
        },
        args.out,
    )
    log.info("RISE metrics of %s on %s written to %s", args.name, args.benchmark, args.out)
