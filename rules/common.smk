# Config validation (defaults from workflow/schemas/config.schema.yaml), the models the rules
# can build, wildcard constraints, the helpers every stage shares and the input functions of the
# DAG's trunk. A method's own input and params functions are beside its rules, in
# rules/<stage>_inputs.smk: Snakemake's linter wants functions and rules in separate files.
import json
import os
import shlex
import sys

from selfcorrect.config import check_models, validate_config
from selfcorrect.errors import SelfCorrectError

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
TINY_BASE = config["base_model"]["source"] == "tiny"


def as_json(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


# Input functions give each stage only its own config subtree, so a change reruns that stage
# and what follows, nothing upstream.
def task_cfg(name):
    return config["tasks"].get(name, {})


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


# Paths reach a rule's command only through input, output and log, which Snakemake moves under a
# module's `prefix:`, or params derived from them: a params string would stay where it is.
def model_sibling(model, folder):
    """A model's directory under another folder of results/ (results/models/{m} ->
    results/{folder}/{m}), from the job's own model directory."""
    results = os.path.dirname(os.path.dirname(model))
    return os.path.join(results, folder, os.path.basename(model))


# The DAG's trunk, which every method's stage builds on: task data, the base model, rollouts
# and their evaluation.
def prepare_cfg(wildcards):
    return as_json(task_cfg(wildcards.task))


def base_model_cfg(wildcards):
    base = config["base_model"]
    if base["source"] != "tiny":  # `tiny` and `pretrain` build the tiny model only
        base = {"source": base["source"], "dtype": base["dtype"]}
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


def rollout_model(wildcards):
    return model_dir(wildcards.model)


def metrics_files(wildcards=None):
    return expand(
        "results/eval/{model}/{benchmark}.json", model=MODELS, benchmark=BENCHMARKS
    )


# The models the rules build, by method. A model's settings and inputs are in its stage's file.
#
# SCoRe runs (rules/score.smk): model name -> (loss, the model it starts from, steps, config
# overrides). Ablations get the same total number of steps as SCoRe (Stage I + Stage II) when
# they start from the base model, so they are compared at equal compute.
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
# RISE (rules/rise.smk): iteration k rolls out M_{k-1} (k = 1 rolls out the base model).
R = config["rise"]
RISE_ITERS = list(range(1, R["iterations"] + 1))
RISE_MODELS = ["base"] + [f"rise_{k}" for k in RISE_ITERS]

# Baselines (rules/baselines.smk, docs/methods.md): SFT models trained on a source model's
# training-split rollouts (STaR iteration k on star_{k-1}'s, the rest on the base's), and
# Self-Refine, the base model prompted with another instruction between attempts.
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
    if config["scaling"]["enabled"]:
        check_models(config["scaling"]["models"] or [], MODELS, key="scaling.models")
except SelfCorrectError as exc:
    sys.exit(f"selfcorrect: error: {exc}")


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
        track = f" --tensorboard {model_sibling(output[0], 'tensorboard')}"
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
