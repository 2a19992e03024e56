include: "report_inputs.smk"


rule build_report:
    """results/report/: summary.md, metrics.csv and the figures."""
    input:
        metrics=metrics_files(),
        models=[model_dir(m) for m in MODELS],
        # the training-split rollouts and labels are part of the base-model DAG
        train_labels=expand("results/labels/base/{task}-train.parquet", task=TRAIN_TASK),
        rise=rise_metrics_files(),
        scaling=scaling_files(),
    output:
        summary=report(
            "results/report/summary.md",
            caption="../workflow/report/summary.rst",
            category="Summary",
        ),
        config=report(
            "results/report/config.yaml",
            caption="../workflow/report/config.rst",
            category="Provenance",
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
        training=report(
            "results/report/training_curves.png",
            caption="../workflow/report/training_curves.rst",
            category="Training",
        ),
        pretraining=report(
            PRETRAIN_PLOT,
            caption="../workflow/report/pretraining.rst",
            category="Training",
        ),
        rise=(
            report(
                RISE_PLOT,
                caption="../workflow/report/rise.rst",
                category="RISE",
            )
            if RISE_ITERS
            else []
        ),
        scaling=(
            report(
                "results/report/scaling.png",
                caption="../workflow/report/scaling.rst",
                category="Plots",
            )
            if SCALING
            else []
        ),
    log:
        "logs/report.log",
    localrule: True
    conda:
        "../envs/selfcorrect.yaml"
    params:
        rise=rise_metrics_arg,
        models=MODELS,
        train_logs=train_log_args,
        pretrain_log=pretrain_log_arg,
        scaling=scaling_arg,
        config_hash=CONFIG_HASH,
        resolved_config=resolved_config,
        out_dir=report_dir,
    shell:
        "selfcorrect keep-log {log}; "
        "selfcorrect report --metrics {input.metrics} --models {params.models}"
        " {params.train_logs} {params.pretrain_log} {params.rise} {params.scaling}"
        " --config-hash {params.config_hash} --resolved-config {params.resolved_config:q}"
        " --out-dir {params.out_dir}"
        " > {log} 2>&1"


rule report:
    """Target: the report."""
    input:
        rules.build_report.output,
