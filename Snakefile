# selfcorrect: teach language models to correct their own mistakes (SCoRe, RISE).
# The DAG: task data -> base model -> rollouts -> labels -> evaluation -> report.
from snakemake.utils import min_version

min_version("9.0")


# The embedded default applies only when no --configfile is given: a config file is complete on
# its own, every key it leaves out taking the schema's (real-model) default.
if not workflow.overwrite_configfiles:

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
    """The whole DAG: the report of every model in `models`."""
    input:
        # every report file, so one a newer version adds (config.yaml) is made in an old run
        rules.build_report.output,
