# The report's input and params functions (rules/report.smk).
import hashlib

# The resolved config as the report records it, and its hash: only the sections of the tasks
# this run uses (the schema fills in every task's defaults).
RESOLVED = {
    **config,
    "tasks": {
        k: v for k, v in config["tasks"].items() if k in {TRAIN_TASK, *BENCHMARKS}
    },
}
CONFIG_HASH = hashlib.sha256(as_json(RESOLVED).encode()).hexdigest()[:12]


def resolved_config(wildcards):
    """The resolved config for the report (a function: its text may hold braces, e.g. a prompt
    template's `{question}`, that a params string would take for wildcards)."""
    return as_json(RESOLVED)


# a real base model has no pre-training curve: the figure then says so
PRETRAIN_PLOT = "results/report/pretraining.png"
RISE_PLOT = "results/report/rise_accuracy_per_turn.png"


# The report's paths come from its input and output (a module's prefix moves them).
def listed(option, files):
    """The option and its files, or nothing when there are none."""
    return f"{option} {' '.join(files)}" if files else ""


def rise_metrics_arg(wildcards, input):
    return listed("--rise-metrics", input.rise)


def scaling_arg(wildcards, input):
    return listed("--scaling", input.scaling)


def train_log_args(wildcards, input):
    """The SCoRe models' training telemetry, in their directories (input.models holds one
    directory per name in `models`, in order)."""
    logs = [
        f"{m}={os.path.join(d, 'train_log.parquet')}"
        for m, d in zip(MODELS, input.models)
        if m in SCORE_RUNS
    ]
    return listed("--train-logs", logs)


def pretrain_log_arg(wildcards, output):
    """The tiny base model's pre-training curve, in results/models/base beside results/report."""
    if not TINY_BASE:
        return ""
    results = os.path.dirname(report_dir(wildcards, output))
    return f"--pretrain-log {os.path.join(results, 'models/base/pretrain_log.parquet')}"


def report_dir(wildcards, output):
    return os.path.dirname(output.summary)
