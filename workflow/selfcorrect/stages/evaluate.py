"""`selfcorrect evaluate`: a model's labels on a benchmark -> results/eval/{model}/{benchmark}.*"""

from __future__ import annotations

import logging

from selfcorrect.artifacts import read_parquet, write_json, write_parquet
from selfcorrect.metrics import accuracy_by_turn, compute_metrics

log = logging.getLogger(__name__)


def run(labels_path: str, model_name: str, benchmark: str, out_table: str, out_metrics: str) -> None:
    labels = read_parquet(labels_path, "labels")
    metrics = compute_metrics(labels)
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
