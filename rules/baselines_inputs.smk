# The baselines' and the scaling study's input and params functions (rules/baselines.smk).
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
SCALING_MODELS = MODELS if SC["models"] is None else SC["models"]


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
        "results/scaling/{model}/{benchmark}.json",
        model=SCALING_MODELS,
        benchmark=BENCHMARKS,
    )
