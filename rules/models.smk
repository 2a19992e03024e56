rule base_model:
    """The base model: the tiny Llama built and pre-trained, or a real model recorded."""
    output:
        directory("results/models/base"),
    log:
        "logs/base_model.log",
    benchmark:
        "logs/benchmarks/base_model.tsv"
    # A real base model (a hub id, a path, a GGUF file) is loaded and saved on the submit host:
    # it needs no GPU, and a login node reaches the hub where compute nodes may not.
    localrule: not TINY_BASE
    conda:
        "../envs/selfcorrect.yaml"
    threads: threads_of("pretrain")  # capped at --cores locally
    resources:
        **needs("pretrain"),
    params:
        cfg=base_model_cfg,
        launch=one_process,
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} base-model --cfg {params.cfg:q} --out {output} > {log} 2>&1"


rule base:
    """Target: the base model."""
    input:
        "results/models/base",
