# Everything that is Python rather than rules: config validation (defaults from
# workflow/schemas/config.schema.yaml), per-stage config subtrees, wildcard constraints.
import json
import sys

from selfcorrect.config import validate_config
from selfcorrect.errors import SelfCorrectError

try:
    config = validate_config(config, source="config")
except SelfCorrectError as exc:
    sys.exit(f"selfcorrect: error: {exc}")


wildcard_constraints:
    task=r"[a-z0-9_]+",
    split=r"train|test",
    model=r"[A-Za-z0-9_]+",
    benchmark=r"[a-z0-9_]+",


SPLITS = ["train", "test"]
TRAIN_TASK = config["task"]
BENCHMARKS = config["benchmarks"]
MODELS = config["models"]


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def task_cfg(name):
    return config["tasks"].get(name, {})


# Input functions: each stage gets only its own config subtree, so a change reruns that
# stage and what follows, nothing upstream.
def prepare_cfg(wildcards):
    return as_json(task_cfg(wildcards.task))


def base_model_cfg(wildcards):
    return as_json(
        {
            "base_model": config["base_model"],
            "task": TRAIN_TASK,
            "task_cfg": task_cfg(TRAIN_TASK),
            "rollout": config["rollout"],
        }
    )


def rollout_cfg(wildcards):
    return as_json({"task_cfg": task_cfg(wildcards.task), "rollout": config["rollout"]})


def metrics_files(wildcards=None):
    return expand("results/eval/{model}/{benchmark}.json", model=MODELS, benchmark=BENCHMARKS)
