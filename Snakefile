# selfcorrect: teach language models to correct their own mistakes (SCoRe, RISE).
# The DAG: task data -> base model -> rollouts -> labels -> evaluation -> report.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/resources.smk"
include: "rules/data.smk"
include: "rules/models.smk"
include: "rules/rollouts.smk"
include: "rules/score.smk"
include: "rules/rise.smk"
include: "rules/baselines.smk"
include: "rules/evaluate.smk"
include: "rules/report.smk"


rule all:
    input:
        # every report file, so one a newer version adds (config.yaml) is made in an old run
        rules.build_report.output,
