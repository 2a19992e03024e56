"""The jobs `snakemake -n -p` plans, and the shell command of each, for config/test.yaml and every
preset, held against the plans recorded in tests/workflow/plans/.

A job is what it reads, writes and runs: its outputs, inputs, log, benchmark, threads,
resources, priority and shell command (as the shell splits it into words). Rule names and wildcards are left out, so rules can be
merged or renamed without a change here, and any change to a job or a command fails. Each job is
recorded as its outputs and a hash of the rest (the `--cfg` JSON makes a full record a few
hundred bytes a job); a failure prints the new records of the jobs that differ.

A deliberate change of a plan is recorded with `SELFCORRECT_RECORD_PLANS=1 pytest <this file>`,
and the diff of plans/ then shows which jobs it changed.
"""

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
PLANS = Path(__file__).parent / "plans"
COPY = ["Snakefile", "rules", "config", "envs", "workflow/schemas", "workflow/report"]
ROOT = Path(__file__).resolve().parents[2]
CONFIGS = [
    "config/test.yaml",
    *sorted(f"config/presets/{p.name}" for p in (ROOT / "config/presets").glob("*.yaml")),
]
# fields of a job that are not what it does: its place in this run and why it runs
SKIP = {"jobid", "reason", "wildcards"}


def jobs(text: str) -> dict[str, str]:
    """outputs -> the job's normalized record, from `snakemake -n -p` output."""
    found = {}
    for block in re.findall(r"(?ms)^(?:local)?rule \w+:\n(.*?)^Shell command: (.*?)$", text):
        fields, shell = block
        record = {}
        for line in fields.splitlines():
            key, _, value = line.strip().partition(": ")
            if key in SKIP:
                continue
            if key == "input":
                value = ", ".join(sorted(value.split(", ")))
            if key == "resources":  # the machine's temporary directory is no part of the job
                value = ", ".join(v for v in value.split(", ") if not v.startswith("tmpdir="))
            record[key] = value
        # as the shell reads it: the words, whatever the spaces between them
        record["shell"] = " ".join(map(shlex.quote, shlex.split(shell)))
        outputs = record.get("output", "(no output: " + record.get("input", "") + ")")
        assert outputs not in found, f"two jobs write {outputs}"
        found[outputs] = "\n".join(f"{k}: {v}" for k, v in sorted(record.items()))
    return found


def digest(record: str) -> str:
    return hashlib.sha256(record.encode()).hexdigest()[:16]


def plan_file(config: str) -> Path:
    return PLANS / (Path(config).stem + ".tsv")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("plans")
    for name in COPY:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, d / name)
    return d


@pytest.mark.parametrize("config", CONFIGS)
def test_the_plan_is_the_recorded_one(config, workdir, tmp_path):
    # no user profile, no downloads; --cores fixes the threads every job is given
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path),
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    proc = subprocess.run(
        [str(BIN / "snakemake"), "-n", "-p", "--cores", "4", "--configfile", config],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    now = jobs(proc.stdout)
    assert now, proc.stdout[-2000:]
    lines = sorted(f"{out}\t{digest(record)}" for out, record in now.items())
    path = plan_file(config)
    if os.environ.get("SELFCORRECT_RECORD_PLANS"):
        path.write_text("\n".join(lines) + "\n")
    recorded = dict(line.split("\t") for line in path.read_text().splitlines())
    current = {out: digest(record) for out, record in now.items()}
    added = sorted(current.keys() - recorded.keys())
    removed = sorted(recorded.keys() - current.keys())
    changed = sorted(o for o in current.keys() & recorded.keys() if current[o] != recorded[o])
    assert not (added or removed or changed), (
        f"{config}: the plan differs from {path.name}: {len(added)} jobs added, {len(removed)} "
        f"removed, {len(changed)} changed\nremoved: {removed[:10]}\n"
        + "\n\n".join(now[o] for o in (added + changed)[:5])
    )


def test_the_record_of_a_job_holds_what_it_runs():
    """The parser keeps what tells jobs apart and drops what only tells this run."""
    text = (
        "rule a:\n    input: y, x\n    output: out\n    jobid: 3\n    reason: Missing\n"
        "    wildcards: m=1\n    threads: 2\n    resources: tmpdir=/tmp, gpu=0\n"
        "Shell command: selfcorrect x  --cfg '{\"a\":  1}' --out out\n\n"
        "localrule all:\n    input: out\n    jobid: 0\nShell command: None\n"
    )
    found = jobs(text)
    assert found["out"] == (
        "input: x, y\noutput: out\nresources: gpu=0\n"
        "shell: selfcorrect x --cfg '{\"a\":  1}' --out out\nthreads: 2"
    )
    assert found["(no output: out)"] == "input: out\nshell: None"
