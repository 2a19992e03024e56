"""`selfcorrect evaluate`: a model's labels on a benchmark -> results/eval/{model}/{benchmark}.*"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def equivalence(labels):
    """The task's answer equivalence for majority votes (math-verify for math, else exact)."""
    from selfcorrect.rewards import get_equivalence
    from selfcorrect.tasks import get_task

    return get_equivalence(get_task(labels["task"].iloc[0]).reward) if len(labels) else None


def add_arguments(parser) -> None:
    parser.add_argument("--labels", required=True, help="the model's labels on the benchmark")
    parser.add_argument("--name", required=True, help="the model's name, recorded")
    parser.add_argument("--benchmark", required=True, help="the benchmark's name, recorded")
    parser.add_argument("--out-table", required=True, help="the per-completion table written")
    parser.add_argument("--out-metrics", required=True, help="the metrics JSON written")


def run(args) -> None:
    from selfcorrect.artifacts import read_parquet, write_json, write_parquet
    from selfcorrect.metrics import accuracy_by_turn, compute_metrics

    labels = read_parquet(args.labels, "labels")
    metrics = compute_metrics(labels, equivalence(labels))
    write_parquet(labels, args.out_table, "eval")
    write_json(
        {
            "model": args.name,
            "benchmark": args.benchmark,
            "metrics": metrics,
            "accuracy_by_turn": accuracy_by_turn(labels),
        },
        args.out_metrics,
    )
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}
    log.info("%s on %s: %s", args.name, args.benchmark, shown)
