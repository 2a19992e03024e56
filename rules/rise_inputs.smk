# RISE's input and params functions (rules/rise.smk): each iteration's models, data and
# settings.
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
