rule base_model:
    output:
        directory("results/models/base"),
    params:
        cfg=base_model_cfg,
        launch=one_process,
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
        "{params.launch} base-model --cfg {params.cfg:q} --out {output} > {log} 2>&1"


rule base:
    input:
        "results/models/base",
