"""`selfcorrect <stage> …`: the command every Snakemake rule calls through a thin `shell:`.

Each stage receives only its own config subtree (`--cfg` as JSON), so Snakemake reruns a stage
when, and only when, its own settings change.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from selfcorrect.errors import SelfCorrectError

log = logging.getLogger("selfcorrect")


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"--cfg is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("--cfg must be a JSON object")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="selfcorrect", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--log-level", default="INFO")
    sub = p.add_subparsers(dest="stage", required=True, metavar="<stage>")

    s = sub.add_parser("prepare", help="write a task split's problems")
    s.add_argument("--task", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--cfg", type=_json, default={}, help="the task's config (JSON)")
    s.add_argument("--out", required=True)

    s = sub.add_parser("base-model", help="build/pre-train or resolve the base model")
    s.add_argument("--cfg", type=_json, required=True,
                   help='JSON {"base_model": …, "task": name, "task_cfg": …, "rollout": …}')
    s.add_argument("--out", required=True)

    s = sub.add_parser("rollout", help="multi-turn rollouts of a model on a task split")
    s.add_argument("--model", required=True, help="model directory")
    s.add_argument("--name", required=True, help="model name recorded in the rows")
    s.add_argument("--problems", required=True)
    s.add_argument("--cfg", type=_json, required=True, help='JSON {"task_cfg": …, "rollout": …}')
    s.add_argument("--out", required=True)

    s = sub.add_parser("label", help="grade rollouts with the task's verifier")
    s.add_argument("--rollouts", required=True)
    s.add_argument("--problems", required=True)
    s.add_argument("--out", required=True)

    s = sub.add_parser("evaluate", help="self-correction metrics of a model on a benchmark")
    s.add_argument("--labels", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--benchmark", required=True)
    s.add_argument("--out-table", required=True)
    s.add_argument("--out-metrics", required=True)

    s = sub.add_parser("report", help="summary tables and plots from every metrics file")
    s.add_argument("--metrics", nargs="+", required=True)
    s.add_argument("--out-dir", required=True)
    return p


def _dispatch(args) -> None:
    if args.stage == "prepare":
        from selfcorrect.stages import prepare

        prepare.run(args.task, args.split, args.cfg, args.out)
    elif args.stage == "base-model":
        from selfcorrect.stages import base_model

        c = args.cfg
        base_model.run(c["base_model"], c["task"], c["task_cfg"], c["rollout"], args.out)
    elif args.stage == "rollout":
        from selfcorrect.stages import rollouts

        rollouts.run(args.model, args.name, args.problems, args.cfg["task_cfg"],
                     args.cfg["rollout"], args.out)
    elif args.stage == "label":
        from selfcorrect.stages import label

        label.run(args.rollouts, args.problems, args.out, workers=args.threads or 1)
    elif args.stage == "evaluate":
        from selfcorrect.stages import evaluate

        evaluate.run(args.labels, args.name, args.benchmark, args.out_table, args.out_metrics)
    elif args.stage == "report":
        from selfcorrect.report.build import build_report

        build_report(args.metrics, args.out_dir)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    threads = args.threads or os.cpu_count() or 1
    if args.stage not in ("label", "report", "evaluate", "prepare"):
        import torch

        # Oversubscribing two cores made tiny-model steps 5-100x slower (shared/TOY.md).
        torch.set_num_threads(threads)
    try:
        _dispatch(args)
    except SelfCorrectError as exc:
        print(f"selfcorrect {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
