# SCoRe: Stage I from the base model, Stage II from Stage I; the reference is always the base.
# Ablations (docs/methods.md) are their own models: single-turn RL, Stage II without Stage I,
# Stage II without reward shaping (alpha = 0), STaR in Stage II. One rule trains them all: a
# run's loss, starting model and steps are its entry in SCORE_RUNS (rules/common.smk).


wildcard_constraints:
    run="|".join(SCORE_RUNS),


include: "score_inputs.smk"


rule score_run:
    """A SCoRe run: Stage I, Stage II from Stage I, or an ablation (SCORE_RUNS)."""
    input:
        unpack(score_inputs),
    output:
        directory("results/models/{run}"),
    log:
        "logs/score/{run}.log",
    benchmark:
        "logs/benchmarks/score/{run}.tsv"
    priority: score_priority
    conda:
        "../envs/train.yaml"
    threads: threads_of("train")  # capped at --cores locally
    resources:
        **needs("train"),
    params:
        cfg=score_cfg,
        method=score_method,
        offline=offline_args,
        launch=launcher,
        checkpoints=checkpoint_dir,
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} score --method {params.method} --init {input.init}"
        " --ref {input.ref} --problems {input.problems} {params.offline} --cfg {params.cfg:q}"
        " --checkpoints {params.checkpoints} --out {output} > {log} 2>&1"


# One stage as a target: `snakemake score_stage1` works as when each stage had its own rule.
rule score_stage1:
    """Target: SCoRe Stage I, results/models/score_stage1/."""
    input:
        "results/models/score_stage1",


rule score_stage2:
    """Target: SCoRe Stage II from Stage I, results/models/score/."""
    input:
        "results/models/score",


rule score:
    """Target: every SCoRe model and ablation."""
    input:
        [f"results/models/{m}" for m in SCORE_RUNS],
