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


def train_log_args():
    logs = [
        f"{m}=results/models/{m}/train_log.parquet" for m in MODELS if m in SCORE_RUNS
    ]
    return ("--train-logs " + " ".join(logs)) if logs else ""


def pretrain_log_arg():
    return (
        "--pretrain-log results/models/base/pretrain_log.parquet" if TINY_BASE else ""
    )
