"""The workflow as a Snakemake module under a `prefix:` (docs/configuration.md), as an outer
workflow uses it: `module selfcorrect: …, prefix: "sub"` and `use rule * from selfcorrect as
sc_*`. Snakemake prefixes input, output, log and benchmark paths but not params, so a path a
command takes any other way would land outside sub/: every path of every planned job must be
under it, and the plan must be the plain workflow's with sub/ in front."""

import shlex

import pytest
import yaml
from test_dry_run_plans import jobs
from test_workflow import copy_workflow, snakemake, snakemake_at_once

pytestmark = pytest.mark.workflow

PREFIX = "sub/"
OUTER = """configfile: "outer.yaml"


module selfcorrect:
    snakefile:
        {snakefile!r}
    config:
        config["selfcorrect"]
    prefix:
        "sub"


use rule * from selfcorrect as sc_*
"""
# options whose value is JSON (a job's config), not a path
JSON_OPTIONS = {"--cfg", "--resolved-config", "--distributed"}


@pytest.fixture(scope="module")
def outer(root, tmp_path_factory):
    """An outer workflow using this one as a module, with config/test.yaml and TensorBoard on
    (the trainers' log directories are then paths in their commands)."""
    d = tmp_path_factory.mktemp("outer")
    cfg = yaml.safe_load((root / "config/test.yaml").read_text())
    cfg["tracking"] = {"tensorboard": True}
    (d / "outer.yaml").write_text(yaml.safe_dump({"selfcorrect": cfg}))
    (d / "Snakefile").write_text(OUTER.format(snakefile=str(root / "Snakefile")))
    return d, cfg


@pytest.fixture(scope="module")
def plans(root, outer, tmp_path_factory):
    """The module's plan and the plain workflow's, for the same config, side by side."""
    d, cfg = outer
    plain = copy_workflow(root, tmp_path_factory.mktemp("plain"))
    (plain / "same.yaml").write_text(yaml.safe_dump(cfg))
    return snakemake_at_once(
        {
            "module": (d, ["-n", "-p", "--cores", "2", "sc_all"]),
            "plain": (plain, ["-n", "-p", "--cores", "2", "--configfile", "same.yaml"]),
        }
    )


def paths(record: str):
    """Every path a job's record names: its files and the path words of its command."""
    for line in record.splitlines():
        key, _, value = line.partition(": ")
        if key in ("input", "output", "log", "benchmark"):
            yield from value.split(", ")
        elif key == "shell":
            words = shlex.split(value)
            for option, word in zip(["", *words], words):
                if option in JSON_OPTIONS:
                    continue
                # `--train-logs score=<path>`; `keep-log <path>;`
                yield from (p for p in word.rstrip(";").split("=") if "/" in p)


def test_every_path_of_every_job_is_under_the_prefix(plans):
    proc = plans["module"]
    assert proc.returncode == 0, proc.stderr[-4000:]
    planned = jobs(proc.stdout)
    assert len(planned) > 80  # the whole DAG of config/test.yaml (88 jobs)
    outside = {p for record in planned.values() for p in paths(record) if p}
    outside = sorted(p for p in outside if not p.startswith(PREFIX))
    assert not outside, outside[:20]
    # the trainers' side directories are among the paths checked
    shells = "\n".join(planned.values())
    for side in ("checkpoints", "tensorboard"):
        assert f" {PREFIX}results/{side}/score_stage1 " in shells
    # cheap rules stay on the submit host under their module names
    assert "localrules directive specifies rules that are not present" not in proc.stdout


def test_the_module_plans_the_plain_workflow_under_the_prefix(plans):
    for proc in plans.values():
        assert proc.returncode == 0, proc.stderr[-4000:]
    module = {
        out.replace(PREFIX, ""): record.replace(PREFIX, "")
        for out, record in jobs(plans["module"].stdout).items()
    }
    assert module == jobs(plans["plain"].stdout)


def test_a_job_runs_under_the_prefix(outer):
    """One real job: the task data, written and logged in sub/ and nowhere else."""
    d, _ = outer
    snakemake(d, "--cores", "1", "sub/results/data/arith/test.parquet")
    assert (d / "sub/results/data/arith/test.parquet").stat().st_size > 0
    assert (d / "sub/logs/prepare_task/arith-test.log").exists()
    assert not (d / "results").exists() and not (d / "logs").exists()
