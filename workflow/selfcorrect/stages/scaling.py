"""`selfcorrect scaling`: an inference-time scaling curve from sampled labels -> a JSON file.

Majority votes over growing budgets of samples, with and without a second attempt
(docs/methods.md, "Inference-time scaling"), from K >= max(budgets) sampled two-turn labels.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from selfcorrect.stages.evaluate import equivalence

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("--labels", required=True, help="K >= max(budgets) samples, two turns")
    parser.add_argument(
        "--budgets", type=int, nargs="+", required=True, help="the sample budgets of the curve"
    )
    parser.add_argument("--name", required=True, help="the model's name, recorded")
    parser.add_argument("--benchmark", required=True, help="the benchmark's name, recorded")
    parser.add_argument("--out", required=True, help="the curve's JSON written")


def run(args) -> None:
    from selfcorrect.artifacts import atomic_path, read_parquet
    from selfcorrect.metrics import scaling_curve

    labels = read_parquet(args.labels, "labels")
    curve = scaling_curve(labels, args.budgets, equivalence(labels))
    result = {
        "model": args.name,
        "benchmark": args.benchmark,
        "curve": curve.to_dict(orient="records"),
    }
    with atomic_path(args.out) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=1))
    log.info("%s on %s: %s", args.name, args.benchmark, result["curve"])
