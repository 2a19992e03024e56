rule build_report:
    input:
        metrics_files(),
        # the training-split rollouts and labels are part of the base-model DAG
        expand("results/labels/base/{task}-train.parquet", task=TRAIN_TASK),
    output:
        summary=report(
            "results/report/summary.md",
            caption="../workflow/report/summary.rst",
            category="Summary",
        ),
        csv=report(
            "results/report/metrics.csv",
            caption="../workflow/report/metrics.rst",
            category="Summary",
        ),
        per_turn=report(
            "results/report/accuracy_per_turn.png",
            caption="../workflow/report/accuracy_per_turn.rst",
            category="Plots",
        ),
        transitions=report(
            "results/report/transitions.png",
            caption="../workflow/report/transitions.rst",
            category="Plots",
        ),
    params:
        metrics=metrics_files(),
    log:
        "logs/report.log",
    conda:
        "../envs/selfcorrect.yaml"
    shell:
        "selfcorrect report --metrics {params.metrics} --out-dir results/report > {log} 2>&1"


rule report:
    input:
        rules.build_report.output,
