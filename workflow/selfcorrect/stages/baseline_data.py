"""`selfcorrect baseline-data`: a baseline's SFT set from a model's two-attempt rollouts.

STaR and Pair-SFT (docs/methods.md, "Baselines") build their training sets from a model's own
training-split rollouts and labels (train/baseline_data.py); `selfcorrect sft` then fine-tunes
the base model on them.
"""

from __future__ import annotations

import logging

from selfcorrect.errors import SelfCorrectError

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument(
        "--kind", required=True, help="star | pair_sft | pair_sft_plus (train/baseline_data.py)"
    )
    parser.add_argument(
        "--rollouts",
        required=True,
        help="training-split rollouts of the source model (two attempts)",
    )
    parser.add_argument("--labels", required=True, help="the labels of --rollouts")
    parser.add_argument(
        "--iteration",
        type=int,
        default=1,
        help="recorded in the rows (STaR's outer iteration; default 1)",
    )
    parser.add_argument("--out", required=True, help="the SFT set parquet written")


def run(args) -> None:
    from selfcorrect.artifacts import read_parquet, write_parquet
    from selfcorrect.train.baseline_data import BUILDERS, traces

    if args.kind not in BUILDERS:
        raise SelfCorrectError(f"--kind {args.kind!r}: unknown (known: {', '.join(BUILDERS)})")
    rollouts = read_parquet(args.rollouts, "rollouts")
    if rollouts["turn"].max() < 2:
        raise SelfCorrectError(f"{args.rollouts}: baselines need two-attempt rollouts")
    t = traces(rollouts, read_parquet(args.labels, "labels"))
    data = BUILDERS[args.kind](t, args.iteration)
    write_parquet(data, args.out, "rise_data")
    log.info(
        "%s: %d training examples from %d traces -> %s", args.kind, len(data), len(t), args.out
    )
