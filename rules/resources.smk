# Where jobs run. Rules declare portable needs only (gpu, cpus_per_gpu, mem_mb, runtime) from
# the config's `resources` families; partitions, accounts and the GPU model live in the Slurm
# profile (profiles/slurm/). Cheap rules run on the submit host (`localrule: True`): a queue
# wait would cost more than the job, and prepare_task may need the hub access that login nodes
# have. The directive is in each rule, not in a `localrules:` list, whose names Snakemake does
# not rename when the workflow is a module (`use rule * from selfcorrect as sc_*`).
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


# Local runs (`--cores N`) start ready jobs by priority. The SCoRe trainers are the long jobs the
# rest of the DAG waits on, so they go longest first (cost ~ steps x attempts sampled per step)
# and the short rollouts and labels fill the other cores; the training-split rollouts and labels
# they read go before them. Slurm submits every ready job at once, so there it changes nothing.
FEEDS_TRAINING = 1000


def score_priority(wildcards):
    run = SCORE_RUNS[wildcards.run]
    return run["steps"] * (1 if run["method"] == "single_turn" else 2)


def split_priority(wildcards):
    return FEEDS_TRAINING if wildcards.split == "train" else 0
