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
DISTRIBUTED_HELP = ('JSON {"zero_stage": 2|3, "offload": bool}: DeepSpeed settings of the '
                    "trainers (score, rise-train, sft) when launched on several processes "
                    "(torchrun/deepspeed); one process ignores them")


# the stages that load a model: they take `--device`
MODEL_STAGES = ("base-model", "rollout", "score", "rise-improve", "rise-train", "sft")


def _json(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("not a JSON object")
    return value


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="selfcorrect", description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--log-level", default="INFO")
    p.add_argument("--distributed", type=_json, default=None, help=DISTRIBUTED_HELP)
    p.add_argument("--tensorboard", metavar="DIR", default=None,
                   help="also write the trainers' per-step telemetry to TensorBoard under DIR")
    p.add_argument("--device", default="auto",
                   help="auto | cpu | cuda | cuda:N: where models train and generate (auto: CUDA "
                        "when present; under torchrun each rank's GPU, cuda:LOCAL_RANK)")
    sub = p.add_subparsers(dest="stage", required=True, metavar="<stage>")

    s = sub.add_parser("prepare", help="write a task split's problems")
    s.add_argument("--task", required=True)
    s.add_argument("--split", required=True)
    s.add_argument("--cfg", type=_json, default={}, help="the task's config (JSON)")
    s.add_argument("--out", required=True)

    s = sub.add_parser("base-model", help="build/pre-train or resolve the base model")
    s.add_argument("--cfg", type=_json, required=True,
                   help='JSON {"base_model": …, "task": name, "task_cfg": …, "batch_size": n}')
    s.add_argument("--out", required=True)

    s = sub.add_parser("rollout", help="multi-turn rollouts of a model on a task split")
    s.add_argument("--model", required=True, help="model directory")
    s.add_argument("--name", required=True, help="model name recorded in the rows")
    s.add_argument("--problems", required=True)
    s.add_argument("--cfg", type=_json, required=True, help='JSON {"task_cfg": …, "rollout": engine settings, "sampling": …}')
    s.add_argument("--out", required=True)

    s = sub.add_parser("score", help="a SCoRe training stage or ablation (on-policy RL)")
    s.add_argument("--method", required=True,
                   help="score_stage1 | score_stage2 | single_turn (a loss in train/losses.py)")
    s.add_argument("--init", required=True, help="model directory the policy starts from")
    s.add_argument("--ref", required=True, help="the frozen reference (the base model)")
    s.add_argument("--problems", required=True, help="training problems parquet")
    s.add_argument("--offline-rollouts", help="base rollouts: Stage II's extra starting states")
    s.add_argument("--offline-labels", help="labels of --offline-rollouts")
    s.add_argument("--cfg", type=_json, required=True, help='JSON {"task_cfg": …, "score": …}')
    s.add_argument("--checkpoints", required=True, help="checkpoint directory (for resume)")
    s.add_argument("--out", required=True)

    s = sub.add_parser("rise-improve", help="RISE: improved actions at visited states")
    s.add_argument("--model", required=True, help="M_{k-1}, the model that was rolled out")
    s.add_argument("--rollouts", required=True)
    s.add_argument("--labels", required=True)
    s.add_argument("--problems", required=True)
    s.add_argument("--iteration", type=int, required=True)
    s.add_argument("--cfg", type=_json, required=True, help="the rise.improve config (JSON)")
    s.add_argument("--out", required=True)

    s = sub.add_parser("rise-train", help="RISE: reward-weighted fine-tuning -> M_k")
    s.add_argument("--init", required=True, help="the model fine-tuned (base or M_{k-1})")
    s.add_argument("--data", nargs="+", required=True, help="improved-action parquet files")
    s.add_argument("--cfg", type=_json, required=True, help="the rise.train config (JSON)")
    s.add_argument("--out", required=True)

    s = sub.add_parser("rise-evaluate", help="RISE metrics: m1@t1, m1@tT, p1@tT, mK@t1")
    s.add_argument("--sequential", required=True, help="labels of T sequential turns")
    s.add_argument("--parallel", required=True, help="labels of K parallel first turns")
    s.add_argument("--name", required=True)
    s.add_argument("--benchmark", required=True)
    s.add_argument("--out", required=True)

    s = sub.add_parser("baseline-data", help="a baseline's SFT set from two-attempt rollouts")
    s.add_argument("--kind", required=True, help="star | pair_sft | pair_sft_plus")
    s.add_argument("--rollouts", required=True, help="training-split rollouts of the source model")
    s.add_argument("--labels", required=True)
    s.add_argument("--iteration", type=int, default=1)
    s.add_argument("--out", required=True)

    s = sub.add_parser("sft", help="supervised fine-tuning on a baseline's SFT set")
    s.add_argument("--init", required=True, help="the model fine-tuned (the base)")
    s.add_argument("--data", required=True, help="baseline-data parquet")
    s.add_argument("--cfg", type=_json, required=True, help="the baselines.train config (JSON)")
    s.add_argument("--out", required=True)

    s = sub.add_parser("scaling", help="inference-time scaling curve from sampled labels")
    s.add_argument("--labels", required=True, help="K >= max(budgets) samples, two turns")
    s.add_argument("--budgets", type=int, nargs="+", required=True)
    s.add_argument("--name", required=True)
    s.add_argument("--benchmark", required=True)
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

    s = sub.add_parser("keep-log", help="keep earlier attempts' logs before a rule reruns")
    s.add_argument("log", help="the rule's log file; the previous attempt's becomes LOG.1, …")
    s.add_argument("--keep", type=int, default=None, help="how many earlier attempts (default 3)")

    s = sub.add_parser("report", help="summary tables and plots from every metrics file")
    s.add_argument("--metrics", nargs="+", required=True)
    s.add_argument("--models", nargs="*", default=None, help="row order of the models")
    s.add_argument("--train-logs", nargs="*", default=[], metavar="MODEL=PATH",
                   help="RL training telemetry to plot")
    s.add_argument("--pretrain-log", help="the tiny base model's pre-training curve")
    s.add_argument("--rise-metrics", nargs="*", default=[], help="RISE metrics files")
    s.add_argument("--scaling", nargs="*", default=[], help="inference-time scaling files")
    s.add_argument("--config-hash", default="", help="recorded in the provenance block")
    s.add_argument("--resolved-config", type=_json, default=None, metavar="JSON",
                   help="the run's resolved config: written as config.yaml next to summary.md "
                        "(its hash must match --config-hash when both are given)")
    s.add_argument("--benchmarks-dir", default="logs/benchmarks",
                   help="Snakemake benchmark files: wall time per stage")
    s.add_argument("--out-dir", required=True)

    from selfcorrect import bench

    s = sub.add_parser("bench", help="performance benchmarks, each against its alternative")
    kinds = s.add_subparsers(dest="bench", required=True, metavar="<benchmark>")
    for name in bench.names():
        module = bench.load(name)
        module.add_arguments(kinds.add_parser(name, help=module.__doc__.splitlines()[0]))

    from selfcorrect import evidence

    evidence.add_arguments(sub.add_parser("evidence", help="one config over several seeds, "
                                          "and the report of their means and intervals"))
    return p


def _check_cfg(args) -> None:
    """`--cfg` and `--distributed` go through the config schema, as the workflow's config does:
    unknown keys and wrong types are one-line errors, left-out keys take their defaults."""
    from selfcorrect.config import task_config, validate_stage_cfg

    if args.stage == "prepare":
        args.cfg = task_config(args.task, args.cfg, "--cfg")
    elif getattr(args, "cfg", None) is not None:
        args.cfg = validate_stage_cfg(args.stage, args.cfg)
    if args.distributed is not None:
        args.distributed = validate_stage_cfg("distributed", args.distributed, "--distributed")


def _dispatch(args) -> None:
    _check_cfg(args)
    if args.stage == "prepare":
        from selfcorrect.stages import prepare

        prepare.run(args.task, args.split, args.cfg, args.out)
    elif args.stage == "base-model":
        from selfcorrect.stages import base_model

        c = args.cfg
        base_model.run(c["base_model"], c["task"], c["task_cfg"], c["batch_size"], args.out,
                       device=args.device)
    elif args.stage == "rollout":
        from selfcorrect.stages import rollouts

        c = args.cfg
        rollouts.run(args.model, args.name, args.problems, c["task_cfg"], c["rollout"],
                     c["sampling"], args.out, device=args.device)
    elif args.stage == "score":
        from selfcorrect.stages import score

        score.run(args.method, args.init, args.ref, args.problems, args.cfg["task_cfg"],
                  args.cfg["score"], args.checkpoints, args.out, args.offline_rollouts,
                  args.offline_labels, args.distributed, device=args.device)
    elif args.stage == "rise-improve":
        from selfcorrect.stages import rise_improve

        rise_improve.run(args.model, args.rollouts, args.labels, args.problems, args.cfg,
                         args.iteration, args.out, workers=args.threads or 1,
                         device=args.device)
    elif args.stage == "rise-train":
        from selfcorrect.stages import rise_train

        rise_train.run(args.init, args.data, args.cfg, args.out, args.distributed,
                       device=args.device)
    elif args.stage == "rise-evaluate":
        from selfcorrect.stages import evaluate

        evaluate.run_rise(args.sequential, args.parallel, args.name, args.benchmark, args.out)
    elif args.stage == "baseline-data":
        from selfcorrect.stages import baselines

        baselines.run_data(args.kind, args.rollouts, args.labels, args.iteration, args.out)
    elif args.stage == "sft":
        from selfcorrect.stages import baselines

        baselines.run_sft(args.init, args.data, args.cfg, args.out, args.distributed,
                          device=args.device)
    elif args.stage == "scaling":
        from selfcorrect.stages import baselines

        baselines.run_scaling(args.labels, args.budgets, args.name, args.benchmark, args.out)
    elif args.stage == "label":
        from selfcorrect.stages import label

        label.run(args.rollouts, args.problems, args.out, workers=args.threads or 1)
    elif args.stage == "evaluate":
        from selfcorrect.stages import evaluate

        evaluate.run(args.labels, args.name, args.benchmark, args.out_table, args.out_metrics)
    elif args.stage == "keep-log":
        from selfcorrect.logs import KEEP, keep_attempts

        if args.keep is not None and args.keep < 1:
            raise SelfCorrectError(f"--keep {args.keep}: keep at least 1")
        try:
            keep_attempts(args.log, args.keep or KEEP)
        except OSError as exc:
            raise SelfCorrectError(f"{args.log}: cannot keep its earlier attempts "
                                   f"({exc.strerror or exc})") from None
    elif args.stage == "bench":
        from selfcorrect import bench

        bench.load(args.bench).run(args)
    elif args.stage == "evidence":
        from selfcorrect import evidence

        evidence.main(args)
    elif args.stage == "report":
        from selfcorrect.report.build import build_report
        from selfcorrect.report.training import write_training_plots

        build_report(args.metrics, args.out_dir, args.models)
        logs = dict(item.split("=", 1) for item in args.train_logs)
        write_training_plots(logs, args.pretrain_log, args.out_dir)
        if args.rise_metrics:
            from selfcorrect.report.rise import append_rise

            append_rise(args.rise_metrics, args.out_dir, args.models)
        if args.scaling:
            from selfcorrect.report.scaling import append_scaling

            append_scaling(args.scaling, args.out_dir, args.models or [])
        from selfcorrect.report.provenance import append_provenance

        append_provenance(args.out_dir, args.config_hash, args.benchmarks_dir,
                          args.resolved_config)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    threads = args.threads or os.cpu_count() or 1
    if args.stage not in ("label", "report", "evaluate", "rise-evaluate", "prepare", "bench",
                          "baseline-data", "scaling", "keep-log", "evidence"):
        import torch

        # Oversubscribing the cores made tiny-model steps 5-100x slower on a 2-core CPU.
        torch.set_num_threads(threads)
    try:
        if args.stage in MODEL_STAGES:
            from selfcorrect.device import resolve_device

            args.device = resolve_device(args.device)  # once: every model of the stage goes there
            if args.device.type == "cuda":
                torch.cuda.set_device(args.device)  # this rank's GPU for collectives too
        from selfcorrect.tracking import tracking

        with tracking(args.tensorboard):
            _dispatch(args)
    except SelfCorrectError as exc:
        print(f"selfcorrect {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
