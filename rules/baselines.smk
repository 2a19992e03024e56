# Baselines (docs/methods.md): STaR iterations and Pair-SFT (D, D+) are SFT models trained on a
# source model's own training-split rollouts; Self-Refine is prompting only (PROMPT_BASELINES in
# rules/common.smk).
# Inference-time scaling: per model, max(budgets) sampled two-attempt chains on test problems.


wildcard_constraints:
    baseline="|".join(SFT_BASELINES),


include: "baselines_inputs.smk"


rule baseline_data:
    """A baseline's SFT set (STaR, Pair-SFT D or D+) from two-attempt rollouts."""
    input:
        unpack(baseline_data_inputs),
    output:
        "results/baselines/{baseline}/data.parquet",
    log:
        "logs/baselines/{baseline}/data.log",
    localrule: True
    conda:
        "../envs/selfcorrect.yaml"
    params:
        kind=baseline_kind,
        iteration=baseline_iteration,
    shell:
        "selfcorrect keep-log {log}; "
        "selfcorrect baseline-data --kind {params.kind} --rollouts {input.rollouts}"
        " --labels {input.labels} --iteration {params.iteration} --out {output} > {log} 2>&1"


rule baseline_sft:
    """Supervised fine-tuning of the base on a baseline's SFT set."""
    input:
        init="results/models/base",
        data="results/baselines/{baseline}/data.parquet",
    output:
        directory("results/models/{baseline}"),
    log:
        "logs/baselines/{baseline}/sft.log",
    benchmark:
        "logs/benchmarks/baselines/{baseline}.tsv"
    conda:
        "../envs/train.yaml"
    threads: threads_of("train")  # capped at --cores locally
    resources:
        **needs("train"),
    params:
        cfg=baseline_train_cfg,
        launch=launcher,
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} sft --init {input.init} --data {input.data}"
        " --cfg {params.cfg:q} --out {output} > {log} 2>&1"


rule baselines:
    """Target: every STaR and Pair-SFT model."""
    input:
        [f"results/models/{m}" for m in SFT_BASELINES],


# `rollout` and `label` on the test split with the scaling study's sampling. Priority 0: theirs
# reads the {split} wildcard, which these rules have not.
use rule rollout as scaling_rollout with:
    """Inference-time scaling: max(budgets) two-attempt chains per test problem."""
    input:
        model=rollout_model,
        problems="results/data/{benchmark}/test.parquet",
    output:
        "results/scaling/{model}/{benchmark}.rollouts.parquet",
    log:
        "logs/scaling/{model}/{benchmark}.rollout.log",
    benchmark:
        "logs/benchmarks/scaling/{model}/{benchmark}.tsv"
    priority: 0
    params:
        cfg=scaling_rollout_cfg,


use rule label as scaling_label with:
    """Inference-time scaling: the verifier on those chains."""
    input:
        rollouts="results/scaling/{model}/{benchmark}.rollouts.parquet",
        problems="results/data/{benchmark}/test.parquet",
    output:
        "results/scaling/{model}/{benchmark}.labels.parquet",
    log:
        "logs/scaling/{model}/{benchmark}.label.log",
    priority: 0


rule scaling_curve:
    """Inference-time scaling: majority of B parallel vs B/2 corrected attempts."""
    input:
        "results/scaling/{model}/{benchmark}.labels.parquet",
    output:
        "results/scaling/{model}/{benchmark}.json",
    log:
        "logs/scaling/{model}/{benchmark}.log",
    localrule: True
    conda:
        "../envs/selfcorrect.yaml"
    params:
        budgets=SC["budgets"],
    shell:
        "selfcorrect keep-log {log}; "
        "selfcorrect scaling --labels {input} --budgets {params.budgets} --name {wildcards.model}"
        " --benchmark {wildcards.benchmark} --out {output} > {log} 2>&1"


rule scaling:
    """Target: the scaling curve of every model in `models`."""
    input:
        scaling_files(),
