# Where jobs run. Rules declare portable needs only (gpu, cpus_per_gpu, mem_mb, runtime) from
# the config's `resources` families; partitions, accounts and the GPU model live in the Slurm
# profile (profiles/slurm/). Cheap rules run on the submit host: a queue wait would cost more
# than the job, and prepare_task may need the hub access that login nodes have.
NEEDS = config["resources"]


def needs(family):
    """The `resources:` of a rule family, as Snakemake (and the Slurm executor) reads them."""
    n = NEEDS[family]
    out = {"gpu": n["gpu"], "mem_mb": n["mem_mb"], "runtime": n["runtime"]}
    if n["gpu"] > 0:
        out["cpus_per_gpu"] = n["cpus_per_gpu"]
    return out


def threads_of(family):
    """The job's threads: every CPU it asks Slurm for (gpu x cpus_per_gpu, or cpus)."""
    n = NEEDS[family]
    return n["gpu"] * n["cpus_per_gpu"] if n["gpu"] > 0 else n["cpus"]


localrules:
    prepare_task,
    evaluate_model,
    rise_evaluate,
    baseline_data,
    scaling_curve,
    build_report,


# A real base model is only recorded (an HF id or a path): no job needed.
if config["base_model"]["source"] != "tiny":

    localrules:
        base_model,
