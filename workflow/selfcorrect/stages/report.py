"""`selfcorrect report`: summary tables and plots from every metrics file -> results/report/.

The report is one command over all of a run's results, so it is the DAG's last job; its parts
(tables, training curves, RISE, scaling, provenance) live in report/.
"""

from __future__ import annotations

from pathlib import PurePath

from selfcorrect.stages import json_object


def add_arguments(parser) -> None:
    parser.add_argument(
        "--metrics", nargs="+", required=True, help="every model's metrics JSON on every benchmark"
    )
    parser.add_argument("--models", nargs="*", default=None, help="row order of the models")
    parser.add_argument(
        "--train-logs",
        nargs="*",
        default=[],
        metavar="MODEL=PATH",
        help="RL training telemetry to plot",
    )
    parser.add_argument("--pretrain-log", help="the tiny base model's pre-training curve")
    parser.add_argument("--rise-metrics", nargs="*", default=[], help="RISE metrics files")
    parser.add_argument("--scaling", nargs="*", default=[], help="inference-time scaling files")
    parser.add_argument("--config-hash", default="", help="recorded in the provenance block")
    parser.add_argument(
        "--resolved-config",
        type=json_object,
        default=None,
        metavar="JSON",
        help="the run's resolved config: written as config.yaml next to "
        "summary.md (its hash must match --config-hash when both are given)",
    )
    parser.add_argument(
        "--benchmarks-dir",
        default=None,
        help="Snakemake benchmark files: wall time per stage (default: the run's "
        "logs/benchmarks, beside the results/ that holds --out-dir)",
    )
    parser.add_argument("--out-dir", required=True, help="the report's directory")


def run(args) -> None:
    from selfcorrect.report.build import build_report
    from selfcorrect.report.provenance import append_provenance
    from selfcorrect.report.rise import append_rise
    from selfcorrect.report.scaling import append_scaling
    from selfcorrect.report.training import write_training_plots

    build_report(args.metrics, args.out_dir, args.models)
    logs = dict(item.split("=", 1) for item in args.train_logs)
    write_training_plots(logs, args.pretrain_log, args.out_dir)
    if args.rise_metrics:
        append_rise(args.rise_metrics, args.out_dir, args.models)
    if args.scaling:
        append_scaling(args.scaling, args.out_dir, args.models or [])
    bench_dir = benchmarks_dir(args.out_dir, args.benchmarks_dir)
    append_provenance(args.out_dir, args.config_hash, bench_dir, args.resolved_config)


def benchmarks_dir(out_dir: str, given: str | None) -> str:
    """`given`, else the run's logs/benchmarks/ found from the report's own directory
    (<run>/results/report -> <run>/logs/benchmarks): the rule passes only paths Snakemake can
    prefix, so a workflow used as a module with a `prefix:` reads its own benchmarks."""
    if given is not None:
        return given
    return str(PurePath(out_dir).parent.parent / "logs" / "benchmarks")
