# SCoRe: Stage I from the base model, Stage II from Stage I; the reference is always the base.
# Ablations (docs/methods.md) are their own models: single-turn RL, Stage II without Stage I,
# Stage II without reward shaping (alpha = 0).
include: "score_inputs.smk"


rule score_stage1:
    """SCoRe Stage I: RL on attempt 2, attempt 1 held near the base by a strong KL."""
    input:
        unpack(score_inputs("score_stage1")),
    output:
        directory("results/models/score_stage1"),
    log:
        "logs/score/score_stage1.log",
    benchmark:
        "logs/benchmarks/score/score_stage1.tsv"
    priority: score_priority("score_stage1")
    conda:
        "../envs/train.yaml"
    threads: threads_of("train")  # capped at --cores locally
    resources:
        **needs("train"),
    params:
        cfg=score_cfg("score_stage1"),
        method=SCORE_RUNS["score_stage1"]["method"],
        launch=launcher,
        checkpoints="results/checkpoints/score_stage1",
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} score --method {params.method} --init {input.init}"
        " --ref {input.ref} --problems {input.problems} --cfg {params.cfg:q}"
        " --checkpoints {params.checkpoints} --out {output} > {log} 2>&1"


rule score_stage2:
    """SCoRe Stage II from Stage I: RL on both attempts with the shaped reward."""
    input:
        unpack(score_inputs("score")),
    output:
        directory("results/models/score"),
    log:
        "logs/score/score.log",
    benchmark:
        "logs/benchmarks/score/score.tsv"
    priority: score_priority("score")
    conda:
        "../envs/train.yaml"
    threads: threads_of("train")  # capped at --cores locally
    resources:
        **needs("train"),
    params:
        cfg=score_cfg("score"),
        method=SCORE_RUNS["score"]["method"],
        launch=launcher,
        checkpoints="results/checkpoints/score",
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} score --method {params.method} --init {input.init}"
        " --ref {input.ref} --problems {input.problems} --offline-rollouts {input.offline_rollouts}"
        " --offline-labels {input.offline_labels} --cfg {params.cfg:q}"
        " --checkpoints {params.checkpoints} --out {output} > {log} 2>&1"


rule score_ablation:
    """A SCoRe ablation: single-turn RL, no Stage I, no shaping, or STaR in Stage II."""
    input:
        unpack(ablation_inputs),
    output:
        directory("results/models/score_{ablation}"),
    log:
        "logs/score/score_{ablation}.log",
    benchmark:
        "logs/benchmarks/score/score_{ablation}.tsv"
    priority: ablation_priority
    conda:
        "../envs/train.yaml"
    threads: threads_of("train")  # capped at --cores locally
    resources:
        **needs("train"),
    params:
        cfg=ablation_cfg,
        method=ablation_method,
        offline=ablation_offline_args,
        launch=launcher,
        checkpoints="results/checkpoints/score_{ablation}",
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} score --method {params.method} --init {input.init}"
        " --ref {input.ref} --problems {input.problems} {params.offline} --cfg {params.cfg:q}"
        " --checkpoints {params.checkpoints} --out {output} > {log} 2>&1"


rule score:
    """Target: every SCoRe model and ablation."""
    input:
        [f"results/models/{m}" for m in SCORE_RUNS],
