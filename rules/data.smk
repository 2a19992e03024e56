rule prepare_task:
    """A task split as problems: question, reference answer, tests."""
    output:
        "results/data/{task}/{split}.parquet",
    log:
        "logs/prepare_task/{task}-{split}.log",
    localrule: True
    conda:
        "../envs/selfcorrect.yaml"
    params:
        cfg=prepare_cfg,
    shell:
        "selfcorrect keep-log {log}; "
        "selfcorrect prepare --task {wildcards.task} --split {wildcards.split}"
        " --cfg {params.cfg:q} --out {output} > {log} 2>&1"


rule data:
    """Target: the training task's train and test splits."""
    input:
        expand("results/data/{task}/{split}.parquet", task=TRAIN_TASK, split=SPLITS),
        expand("results/data/{task}/test.parquet", task=BENCHMARKS),
