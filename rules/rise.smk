# RISE (Qu et al., 2024): iteration k = rollouts of M_{k-1} -> labels -> improved actions ->
# reward-weighted fine-tuning -> results/models/rise_{k}/. Every step's output is parquet.


wildcard_constraints:
    iter=r"[1-9][0-9]*",
    mode=r"sequential|parallel",


include: "rise_inputs.smk"


# Not `use rule rollout`: the rollouts are named by the iteration (rise_collect_{iter}), not by
# a {model} wildcard.
rule rise_collect:
    """RISE iteration k: multi-turn rollouts of M_{k-1} on training problems."""
    input:
        model=previous_model,
        problems=f"results/data/{TRAIN_TASK}/train.parquet",
    output:
        "results/rise/iter_{iter}/rollouts.parquet",
    log:
        "logs/rise/iter_{iter}/collect.log",
    benchmark:
        "logs/benchmarks/rise/iter_{iter}/collect.tsv"
    conda:
        "../envs/rollout.yaml"
    threads: threads_of("generate")  # capped at --cores locally
    resources:
        **needs("generate"),
    params:
        cfg=rise_collect_cfg,
        launch=one_process,
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} rollout --model {input.model} --name rise_collect_{wildcards.iter}"
        " --problems {input.problems} --cfg {params.cfg:q} --out {output} > {log} 2>&1"


# Labels are `label`'s command on other files. Priority 0: `label`'s reads the {split}
# wildcard, which these rules have not.
use rule label as rise_label with:
    """RISE iteration k: the verifier on every collected turn."""
    input:
        rollouts="results/rise/iter_{iter}/rollouts.parquet",
        problems=f"results/data/{TRAIN_TASK}/train.parquet",
    output:
        "results/rise/iter_{iter}/labels.parquet",
    log:
        "logs/rise/iter_{iter}/label.log",
    priority: 0


rule rise_improve:
    """RISE iteration k: an improved action at every visited state (best-of-N)."""
    input:
        model=previous_model,
        rollouts="results/rise/iter_{iter}/rollouts.parquet",
        labels="results/rise/iter_{iter}/labels.parquet",
        problems=f"results/data/{TRAIN_TASK}/train.parquet",
    output:
        "results/rise/iter_{iter}/improved.parquet",
    log:
        "logs/rise/iter_{iter}/improve.log",
    benchmark:
        "logs/benchmarks/rise/iter_{iter}/improve.tsv"
    conda:
        "../envs/rollout.yaml"
    threads: threads_of("generate")  # capped at --cores locally
    resources:
        **needs("generate"),
    params:
        cfg=rise_improve_cfg,
        launch=one_process,
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} rise-improve --model {input.model}"
        " --rollouts {input.rollouts} --labels {input.labels} --problems {input.problems}"
        " --iteration {wildcards.iter} --cfg {params.cfg:q} --out {output} > {log} 2>&1"


rule rise_train:
    """RISE iteration k: reward-weighted fine-tuning into M_k."""
    input:
        init=rise_train_init,
        data=rise_train_data,
    output:
        directory("results/models/rise_{iter}"),
    log:
        "logs/rise/iter_{iter}/train.log",
    benchmark:
        "logs/benchmarks/rise/iter_{iter}/train.tsv"
    conda:
        "../envs/train.yaml"
    threads: threads_of("train")  # capped at --cores locally
    resources:
        **needs("train"),
    params:
        cfg=rise_train_cfg,
        launch=launcher,
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} rise-train --init {input.init} --data {input.data}"
        " --cfg {params.cfg:q} --out {output} > {log} 2>&1"


# Evaluation as in the RISE paper: T sequential turns (greedy, the conversation continues after
# a correct answer) and K parallel first attempts. `rollout`'s command, but not `use rule
# rollout`: that would bring `rollout`'s benchmark file, and `with:` can replace a directive, not
# remove it.
rule rise_eval_rollout:
    """RISE evaluation: sequential turns (greedy) or parallel first attempts."""
    input:
        model="results/models/{model}",
        problems="results/data/{benchmark}/test.parquet",
    output:
        "results/rise_eval/{model}/{benchmark}-{mode}.parquet",
    log:
        "logs/rise_eval/{model}/{benchmark}-{mode}.log",
    conda:
        "../envs/rollout.yaml"
    threads: threads_of("generate")  # capped at --cores locally
    resources:
        **needs("generate"),
    params:
        cfg=rise_eval_cfg,
        launch=one_process,
    shell:
        "selfcorrect keep-log {log}; "
        "{params.launch} rollout --model {input.model} --name {wildcards.model}"
        " --problems {input.problems} --cfg {params.cfg:q} --out {output} > {log} 2>&1"


use rule label as rise_eval_label with:
    """RISE evaluation: the verifier on those rollouts."""
    input:
        rollouts="results/rise_eval/{model}/{benchmark}-{mode}.parquet",
        problems="results/data/{benchmark}/test.parquet",
    output:
        "results/rise_eval/{model}/{benchmark}-{mode}.labels.parquet",
    log:
        "logs/rise_eval/{model}/{benchmark}-{mode}.label.log",
    priority: 0


rule rise_evaluate:
    """RISE metrics of one model: m1@t1, m1@tT, p1@tT, mK@t1."""
    input:
        sequential="results/rise_eval/{model}/{benchmark}-sequential.labels.parquet",
        parallel="results/rise_eval/{model}/{benchmark}-parallel.labels.parquet",
    output:
        "results/rise_eval/{model}/{benchmark}.json",
    log:
        "logs/rise_eval/{model}/{benchmark}.log",
    localrule: True
    conda:
        "../envs/selfcorrect.yaml"
    shell:
        "selfcorrect keep-log {log}; "
        "selfcorrect rise-evaluate --sequential {input.sequential} --parallel {input.parallel}"
        " --name {wildcards.model} --benchmark {wildcards.benchmark} --out {output} > {log} 2>&1"


rule rise:
    """Target: every RISE iteration's model."""
    input:
        [f"results/models/rise_{k}" for k in RISE_ITERS],
        rise_metrics_files(),
