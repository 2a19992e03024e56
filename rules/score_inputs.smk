# SCoRe's input and params functions (rules/score.smk): a run's inputs and settings, by the
# `run` wildcard, a model name of SCORE_RUNS (rules/common.smk).
from selfcorrect.config import WORKFLOW_SCORE_KEYS
from selfcorrect.methods import STAGE2, unused_settings


def run_config(model):
    """A SCoRe run's settings: those its method reads (selfcorrect/methods.py), so changing
    another does not rerun it."""
    run = SCORE_RUNS[model]
    overrides = {k: v for k, v in run.items() if k not in ("method", "init", "steps")}
    drop = unused_settings(run["method"], _S) | set(WORKFLOW_SCORE_KEYS)
    if not _S["sample_bf16"]:
        # left out while off (its default): a run that does not sample under bf16 gets the
        # settings it got before the key existed, and is not rerun
        drop |= {"sample_bf16"}
    cfg = {k: v for k, v in _S.items() if k not in drop}
    if run["method"] in STAGE2 and _S["stage2_lr"] is not None:
        cfg["lr"] = _S["stage2_lr"]
    return {**cfg, "steps": run["steps"], **overrides}


def score_cfg(wildcards):
    return as_json(
        # the rollout engine samples the policy's attempts (weights synced every step)
        {
            "task_cfg": task_cfg(TRAIN_TASK),
            "score": {
                **run_config(wildcards.run),
                "backend": config["rollout"]["backend"],
            },
        }
    )


def score_method(wildcards):
    return SCORE_RUNS[wildcards.run]["method"]


def score_inputs(wildcards):
    run = SCORE_RUNS[wildcards.run]
    files = {
        "init": f"results/models/{run['init']}",
        "ref": "results/models/base",
        "problems": f"results/data/{TRAIN_TASK}/train.parquet",
    }
    if run["method"] in STAGE2:  # offline base attempts as starts too
        files["offline_rollouts"] = f"results/rollouts/base/{TRAIN_TASK}-train.parquet"
        files["offline_labels"] = f"results/labels/base/{TRAIN_TASK}-train.parquet"
    return files


def checkpoint_dir(wildcards, output):
    """results/checkpoints/{run}: outside the model directory, which Snakemake removes before
    it reruns a job, so a killed run resumes."""
    return model_sibling(output[0], "checkpoints")


def offline_args(wildcards, input):
    """Stage II's offline starts, as the job's input names them (none for Stage I's losses)."""
    if "offline_rollouts" not in input.keys():
        return ""
    return (
        f"--offline-rollouts {input.offline_rollouts}"
        f" --offline-labels {input.offline_labels}"
    )
