rule rollout:
    """Multi-turn attempts of a model on a task split (train: K samples, test: greedy)."""
    input:
        model=rollout_model,
        problems="results/data/{task}/{split}.parquet",
    output:
        "results/rollouts/{model}/{task}-{split}.parquet",
    log:
        "logs/rollout/{model}/{task}-{split}.log",
    benchmark:
        "logs/benchmarks/rollout/{model}/{task}-{split}.tsv"
    priority: split_priority
    conda:
        "../envs/rollout.yaml"
    threads: threads_of("generate")  # capped at --cores locally
    resources:
        **needs("generate"),
    params:
        cfg=rollout_cfg,
        launch=one_process,
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} rollout --model {input.model} --name {wildcards.model}"
        " --problems {input.problems} --cfg {params.cfg:q} --out {output} > {log} 2>&1"


rule label:
    """The task's verifier on every attempt (code runs in the sandbox)."""
    input:
        rollouts="results/rollouts/{model}/{task}-{split}.parquet",
        problems="results/data/{task}/{split}.parquet",
    output:
        "results/labels/{model}/{task}-{split}.parquet",
    log:
        "logs/label/{model}/{task}-{split}.log",
    priority: split_priority
    conda:
        "../envs/selfcorrect.yaml"
    threads: threads_of("label")  # capped at --cores locally
    resources:
        **needs("label"),
    shell:
        "selfcorrect keep-log {log}; "
        "selfcorrect --threads {threads} label --rollouts {input.rollouts}"
        " --problems {input.problems} --out {output} > {log} 2>&1"


# Base-model rollouts on the training split (K samples) feed training and baselines;
# test-split rollouts feed evaluation.
rule rollouts:
    """Target: the base model's rollouts on the training task's two splits."""
    input:
        expand(
            "results/rollouts/base/{task}-{split}.parquet",
            task=TRAIN_TASK,
            split=SPLITS,
        ),


rule labels:
    """Target: the labels of the base model's rollouts."""
    input:
        expand(
            "results/labels/base/{task}-{split}.parquet", task=TRAIN_TASK, split=SPLITS
        ),
