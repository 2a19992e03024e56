# SCoRe's input and params functions (rules/score.smk): each run's inputs and settings.
from selfcorrect.config import WORKFLOW_SCORE_KEYS
from selfcorrect.methods import STAGE2, unused_settings

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
    drop = unused_settings(run["method"], _S) | set(WORKFLOW_SCORE_KEYS)
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
