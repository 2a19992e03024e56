"""`selfcorrect evaluate`: a model's labels on a benchmark -> results/eval/{model}/{benchmark}.*"""

from __future__ import annotations

import logging

from selfcorrect.artifacts import read_parquet, write_json, write_parquet
from selfcorrect.metrics import accuracy_by_turn, compute_metrics
from selfcorrect.rewards import get_equivalence
from selfcorrect.tasks import get_task

log = logging.getLogger(__name__)


def equivalence(labels):
    """The task's answer equivalence for majority votes (math-verify for math, else exact)."""
    return get_equivalence(get_task(labels["task"].iloc[0]).reward) if len(labels) else None


def run(labels_path: str, model_name: str, benchmark: str, out_table: str, out_metrics: str) -> None:
    labels = read_parquet(labels_path, "labels")
    metrics = compute_metrics(labels, equivalence(labels))
    write_parquet(labels, out_table, "eval")
    write_json(
        {
            "model": model_name,
            "benchmark": benchmark,
            "metrics": metrics,
            "accuracy_by_turn": accuracy_by_turn(labels),
        },
        out_metrics,
    )
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}
    log.info("%s on %s: %s", model_name, benchmark, shown)


def rise_metrics(sequential, parallel) -> dict:
    """RISE's metrics (docs/methods.md): one greedy sample (m1@t1), majority over T sequential
    turns without oracle (m1@tT), any turn correct with oracle (p1@tT), and the parallel
    baseline: majority over K first-turn samples (mK@t1)."""
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


def run_rise(sequential_path: str, parallel_path: str, model_name: str, benchmark: str,
             out: str) -> None:
    sequential = read_parquet(sequential_path, "labels")
    parallel = read_parquet(parallel_path, "labels")
    write_json(
        {
            "model": model_name,
            "benchmark": benchmark,
            "metrics": rise_metrics(sequential, parallel),
            "accuracy_by_turn": accuracy_by_turn(sequential),
        },
        out,
    )
    log.info("RISE metrics of %s on %s written to %s", model_name, benchmark, out)
