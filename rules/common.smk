# Everything that is Python rather than rules: config validation (defaults from
# workflow/schemas/config.schema.yaml), per-stage config subtrees, wildcard constraints.
import hashlib
import json
import os
import shlex
import sys

from selfcorrect.config import WORKFLOW_SCORE_KEYS, check_models, validate_config
from selfcorrect.errors import SelfCorrectError
from selfcorrect.methods import STAGE2, unused_settings

try:
    config = validate_config(config, source="config")
except SelfCorrectError as exc:
    sys.exit(f"selfcorrect: error: {exc}")

# Rules call `selfcorrect`, installed beside the Python that runs Snakemake: put that directory
# first on PATH so `.venv/bin/snakemake` works without an activated environment (jobs inherit it).
_BIN = os.path.dirname(sys.executable)
if os.path.exists(os.path.join(_BIN, "selfcorrect")):
    os.environ.update(PATH=os.pathsep.join([_BIN, os.environ.get("PATH", "")]))


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


def task_cfg(name):
    return config["tasks"].get(name, {})


# Input functions: each stage gets only its own config subtree, so a change reruns that
# stage and what follows, nothing upstream.
def prepare_cfg(wildcards):
    return as_json(task_cfg(wildcards.task))


def base_model_cfg(wildcards):
    base = config["base_model"]
    if base["source"] != "tiny":  # `tiny` and `pretrain` build the tiny model only
        base = {"source": base["source"]}
    return as_json(
        {
            "base_model": base,
            "task": TRAIN_TASK,
            "task_cfg": task_cfg(TRAIN_TASK),
            "batch_size": config["rollout"]["batch_size"],
        }
    )


def rollout_cfg(wildcards):
    """Engine settings plus the sampling of this split only (train: K samples, T turns; test:
    greedy, `eval_turns` attempts). Prompting baselines swap the instruction between attempts.
    """
    r = config["rollout"]
    train = wildcards.split == "train"
    sampling = r["train" if train else "eval"]
    settings = rollout_engine(
        turns=r["turns"] if train else r["eval_turns"],
        window=0 if train else r["eval_window"],
    )
    task = model_task_cfg(wildcards.task, wildcards.model)
    return as_json({"task_cfg": task, "rollout": settings, "sampling": sampling})


def rollout_engine(turns, window, limit=None):
    """The rollout engine's settings of one `selfcorrect rollout` job: the run's backend and
    batch size, the job's turns, context window and (optionally) first N problems."""
    settings = {
        "backend": config["rollout"]["backend"],
        "batch_size": config["rollout"]["batch_size"],
        "turns": turns,
        "window": window,
    }
    return settings if limit is None else {**settings, "limit": limit}


def model_task_cfg(task, model):
    """A task's settings as `model` is prompted: prompting baselines swap the instruction."""
    if model in PROMPT_BASELINES:
        return {**task_cfg(task), **PROMPT_BASELINES[model]}
    return task_cfg(task)


def model_dir(model):
    """A model's directory; prompting-only baselines are the base model under another prompt."""
    return (
        "results/models/base"
        if model in PROMPT_BASELINES
        else f"results/models/{model}"
    )


def rollout_model(wildcards):
    return model_dir(wildcards.model)


def metrics_files(wildcards=None):
    return expand(
        "results/eval/{model}/{benchmark}.json", model=MODELS, benchmark=BENCHMARKS
    )


# SCoRe runs: model name -> (loss, the model it starts from, steps, config overrides).
# Ablations get the same total number of steps as SCoRe (Stage I + Stage II) when they start
# from the base model, so they are compared at equal compute.
_S = config["score"]
SCORE_RUNS = {
    "score_stage1": {
        "method": "score_stage1",
        "init": "base",
        "steps": _S["stage1_steps"],
    },
    "score": {
        "method": "score_stage2",
        "init": "score_stage1",
        "steps": _S["stage2_steps"],
    },
    "score_single_turn": {
        "method": "single_turn",
        "init": "base",
        "steps": _S["stage1_steps"] + _S["stage2_steps"],
    },
    "score_no_stage1": {
        "method": "score_stage2",
        "init": "base",
        "steps": _S["stage1_steps"] + _S["stage2_steps"],
    },
    "score_no_shaping": {
        "method": "score_stage2",
        "init": "score_stage1",
        "steps": _S["stage2_steps"],
        "alpha": 0.0,
    },
    # STaR in place of REINFORCE in Stage II (the paper's last ablation)
    "score_star_stage2": {
        "method": "star_stage2",
        "init": "score_stage1",
        "steps": _S["stage2_steps"],
    },
}
ABLATIONS = [
    m.removeprefix("score_") for m in SCORE_RUNS if m not in ("score", "score_stage1")
]


wildcard_constraints:
    ablation="|".join(ABLATIONS),


def run_config(model):
    """A SCoRe run's settings: those its method reads (selfcorrect/methods.py), so changing
    another does not rerun it."""
    run = SCORE_RUNS[model]
    overrides = {k: v for k, v in run.items() if k not in ("method", "init", "steps")}
    drop = unused_settings(run["method"], _S) | {
        "stage1_steps",
        "stage2_steps",
        "stage2_lr",
    }
    if not _S["sample_bf16"]:
        # left out while off (its default): a run that does not sample under bf16 gets the
        # settings it got before the key existed, and is not rerun
        drop |= {"sample_bf16"}
    cfg = {k: v for k, v in _S.items() if k not in drop}
    if run["method"] in STAGE2 and _S["stage2_lr"] is not None:
        cfg["lr"] = _S["stage2_lr"]
    return {**cfg, "steps": run["steps"], **overrides}


def score_cfg(model):
    return lambda wildcards: as_json(
        # the rollout engine samples the policy's attempts (weights synced every step)
        {
            "task_cfg": task_cfg(TRAIN_TASK),
            "score": {**run_config(model), "backend": config["rollout"]["backend"]},
        }
    )


def score_inputs(model):
    def inputs(wildcards):
        files = {
            "init": f"results/models/{SCORE_RUNS[model]['init']}",
            "ref": "results/models/base",
            "problems": f"results/data/{TRAIN_TASK}/train.parquet",
        }
        if SCORE_RUNS[model]["method"] in STAGE2:  # offline base attempts as starts too
            files["offline_rollouts"] = (
                f"results/rollouts/base/{TRAIN_TASK}-train.parquet"
            )
            files["offline_labels"] = f"results/labels/base/{TRAIN_TASK}-train.parquet"
        return files

    return inputs


def ablation_inputs(wildcards):
    return score_inputs(f"score_{wildcards.ablation}")(wildcards)


def ablation_cfg(wildcards):
    return score_cfg(f"score_{wildcards.ablation}")(wildcards)


def ablation_method(wildcards):
    return SCORE_RUNS[f"score_{wildcards.ablation}"]["method"]


def ablation_offline_args(wildcards):
    files = ablation_inputs(wildcards)
    if "offline_rollouts" not in files:
        return ""
    return (
        f"--offline-rollouts {files['offline_rollouts']}"
        f" --offline-labels {files['offline_labels']}"
    )


TINY_BASE = config["base_model"]["source"] == "tiny"
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


# RISE: iteration k rolls out M_{k-1} (k = 1 rolls out the base model).
R = config["rise"]
RISE_ITERS = list(range(1, R["iterations"] + 1))
RISE_MODELS = ["base"] + [f"rise_{k}" for k in RISE_ITERS]


def previous_model(wildcards):
    k = int(wildcards.iter)
    return "results/models/base" if k == 1 else f"results/models/rise_{k - 1}"


def rise_collect_cfg(wildcards):
    c = R["collect"]
    sampling = {k: c[k] for k in ("temperature", "top_p", "max_new_tokens", "seed")}
    return as_json(
        {
            "task_cfg": {
                **task_cfg(TRAIN_TASK),
                "correction_instruction": R["feedback"],
            },
            "rollout": rollout_engine(c["turns"], c["window"], limit=c["problems"]),
            "sampling": {**sampling, "samples": c["samples"]},
        }
    )


def rise_improve_cfg(wildcards):
    return as_json({**R["improve"], "backend": config["rollout"]["backend"]})


def rise_train_init(wildcards):
    if R["train"]["train_from"] == "base":
        return "results/models/base"
    return previous_model(wildcards)


def rise_train_data(wildcards):
    k = int(wildcards.iter)
    first = 1 if R["train"]["train_from"] == "base" else k
    return [f"results/rise/iter_{i}/improved.parquet" for i in range(first, k + 1)]


def rise_train_cfg(wildcards):
    return as_json(R["train"])


def rise_eval_cfg(wildcards):
    e = R["eval"]
    sequential = wildcards.mode == "sequential"
    sampling = {
        "samples": 1 if sequential else e["parallel_samples"],
        "temperature": 0.0 if sequential else e["parallel_temperature"],
        "top_p": 1.0,
        "max_new_tokens": e["max_new_tokens"],
        "seed": e["seed"],
    }
    task = {**task_cfg(wildcards.benchmark), "correction_instruction": R["feedback"]}
    settings = rollout_engine(e["turns"] if sequential else 1, e["window"])
    return as_json({"task_cfg": task, "rollout": settings, "sampling": sampling})


def rise_metrics_files(wildcards=None):
    if not RISE_ITERS:
        return []
    return expand(
        "results/rise_eval/{model}/{benchmark}.json",
        model=RISE_MODELS,
        benchmark=BENCHMARKS,
    )


def rise_metrics_arg():
    files = rise_metrics_files()
    return ("--rise-metrics " + " ".join(files)) if files else ""


# Baselines (docs/methods.md): SFT models trained on a source model's training-split
# rollouts (STaR iteration k on star_{k-1}'s, the rest on the base's), and Self-Refine, the base
# model prompted with another instruction between attempts.
BL = config["baselines"]
STAR_MODELS = [f"star_{k}" for k in range(1, BL["star_iterations"] + 1)]
SFT_BASELINES = {
    "pair_sft": "pair_sft",
    "pair_sft_plus": "pair_sft_plus",
    **{m: "star" for m in STAR_MODELS},
}
# Prompting baselines: the base model under other prompts (task settings they override).
# self_refine_critique is Madaan et al.'s critique-then-refine: feedback, then a refinement.
PROMPT_BASELINES = {
    "self_refine": {"correction_instruction": BL["self_refine"]["instruction"]},
    "self_refine_critique": {
        "critique_instruction": BL["self_refine"]["critique"],
        "correction_instruction": BL["self_refine"]["refine"],
    },
}


wildcard_constraints:
    baseline="|".join(SFT_BASELINES),


def baseline_source(wildcards):
    """The model whose own training rollouts a baseline learns from."""
    k = baseline_iteration(wildcards)
    return "base" if k == 1 else f"star_{k - 1}"


def baseline_data_inputs(wildcards):
    source = baseline_source(wildcards)
    return {
        "rollouts": f"results/rollouts/{source}/{TRAIN_TASK}-train.parquet",
        "labels": f"results/labels/{source}/{TRAIN_TASK}-train.parquet",
    }


def baseline_kind(wildcards):
    return SFT_BASELINES[wildcards.baseline]


def baseline_iteration(wildcards):
    """STaR iteration k of star_k; 1 for the one-shot baselines."""
    name = wildcards.baseline
    return int(name.split("_")[1]) if name in STAR_MODELS else 1


def baseline_train_cfg(wildcards):
    return as_json(BL["train"])


# Inference-time scaling: max(budgets) samples at temperature T, two attempts, per model.
SC = config["scaling"]
SCALING = SC["enabled"]

# Every name in `models` is one the rules can build; a typo fails here, before the DAG is built.
KNOWN_MODELS = [
    "base",
    *PROMPT_BASELINES,
    *SFT_BASELINES,
    *SCORE_RUNS,
    *RISE_MODELS[1:],
]
try:
    check_models(MODELS, KNOWN_MODELS)
except SelfCorrectError as exc:
    sys.exit(f"selfcorrect: error: {exc}")


def scaling_rollout_cfg(wildcards):
    sampling = {
        "samples": max(SC["budgets"]),
        "temperature": SC["temperature"],
        "top_p": 1.0,
        "max_new_tokens": SC["max_new_tokens"],
        "seed": SC["seed"],
    }
    task = model_task_cfg(wildcards.benchmark, wildcards.model)
    settings = rollout_engine(turns=2, window=0, limit=SC["problems"])
    return as_json({"task_cfg": task, "rollout": settings, "sampling": sampling})


def scaling_files(wildcards=None):
    if not SCALING:
        return []
    return expand(
        "results/scaling/{model}/{benchmark}.json", model=MODELS, benchmark=BENCHMARKS
    )


def scaling_arg():
    files = scaling_files()
    return ("--scaling " + " ".join(files)) if files else ""


# Multi-process training: a training rule's command prefix from its `gpu` resource, one process
# per GPU. gpu <= 1 runs plain `selfcorrect` (plain PyTorch); more runs it under torchrun, where
# it trains with DeepSpeed ZeRO (`distributed` config). Used as a params function of threads and
# resources, which Snakemake leaves out of its params rerun trigger: moving a run between 1
# and N GPUs, changing the ZeRO stage, or switching TensorBoard (`tracking`, one logdir per
# model: results/tensorboard/{model}) does not rerun finished training.
def launcher(wildcards, threads, resources, output):
    gpus = int(getattr(resources, "gpu", 0) or 0)
    track = ""
    if config["tracking"]["tensorboard"]:
        track = f" --tensorboard results/tensorboard/{os.path.basename(output[0])}"
    if gpus <= 1:
        return f"{one_process(wildcards, threads)}{track}"
    settings = shlex.quote(as_json(config["distributed"]))
    return (
        f"torchrun --standalone --nproc-per-node {gpus} -m selfcorrect.cli"
        f" --threads {max(1, threads // gpus)} --distributed {settings} {device_flag()}{track}"
    )


# Where models train and generate: the `device` setting (docs/devices.md), passed as `--device`
# to every stage that loads a model. Only through params functions of threads (`launcher`,
# `one_process`): like the thread count, the device is the machine, not the experiment, and
# moving a run between CPU and GPU does not rerun it.
def device_flag():
    return f"--device {shlex.quote(config['device'])}"


def one_process(wildcards, threads):
    """The command prefix of a stage that loads a model on one process."""
    return f"selfcorrect --threads {threads} {device_flag()}"
