rule evaluate_model:
    """Self-correction metrics of a model on a benchmark's test split."""
    input:
        "results/labels/{model}/{benchmark}-test.parquet",
    output:
        table="results/eval/{model}/{benchmark}.parquet",
        metrics="results/eval/{model}/{benchmark}.json",
    log:
        "logs/evaluate/{model}/{benchmark}.log",
    localrule: True
    conda:
        "../envs/selfcorrect.yaml"
    shell:
        "selfcorrect keep-log {log}; "
        "selfcorrect evaluate --labels {input} --name {wildcards.model}"
        " --benchmark {wildcards.benchmark} --out-table {output.table}"
        " --out-metrics {output.metrics} > {log} 2>&1"


rule evaluate:
    """Target: the metrics of every model on every benchmark."""
    input:
        metrics_files(),
