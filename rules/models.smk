rule base_model:
    """The base model: the tiny Llama built and pre-trained, or a real model recorded."""
    output:
        directory("results/models/base"),
    params:
        cfg=base_model_cfg,
    log:
        "logs/base_model.log",
    benchmark:
        "logs/benchmarks/base_model.tsv"
    threads: threads_of("pretrain")  # capped at --cores locally
    resources:
        **needs("pretrain"),
    conda:
        "../envs/selfcorrect.yaml"
    shell:
        "selfcorrect keep-log {log}; "
        "selfcorrect --threads {threads} base-model --cfg {params.cfg:q} --out {output} > {log} 2>&1"


rule base:
    """Target: the base model."""
    input:
        "results/models/base",
