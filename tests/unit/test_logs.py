"""Earlier attempts' logs are kept: Snakemake deletes a job's log before rerunning it, and
`selfcorrect keep-log`, the first command of every rule, keeps the previous ones as LOG.1, …"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from selfcorrect.logs import current_link, keep_attempts

ROOT = Path(__file__).parents[2]


def attempt(log: Path, text: str, keep: int = 3) -> None:
    """One attempt as a rule runs it: Snakemake deletes the log, keep-log, then `> {log}`."""
    log.unlink(missing_ok=True)
    keep_attempts(log, keep)
    log.write_text(text)


def test_previous_attempts_rotate_and_the_oldest_is_dropped(tmp_path):
    log = tmp_path / "logs" / "score.log"
    for i in range(1, 6):
        attempt(log, f"attempt {i}\n")
    assert log.read_text() == "attempt 5\n"
    kept = {p.name: p.read_text() for p in log.parent.iterdir() if not p.name.startswith(".")}
    assert kept == {
        "score.log": "attempt 5\n",
        "score.log.1": "attempt 4\n",
        "score.log.2": "attempt 3\n",
        "score.log.3": "attempt 2\n",
    }
    assert current_link(log).read_text() == "attempt 5\n"  # the same file, linked


def test_a_log_left_in_place_is_kept_too(tmp_path):
    """Run outside Snakemake, nothing deletes the log: it is still the previous attempt's."""
    log = tmp_path / "score.log"
    log.write_text("by hand\n")
    keep_attempts(log)
    assert log.read_text() == "" and (tmp_path / "score.log.1").read_text() == "by hand\n"
    log.write_text("second\n")  # linked: writing the log writes the current attempt
    keep_attempts(log)
    assert (tmp_path / "score.log.1").read_text() == "second\n"
    assert (tmp_path / "score.log.2").read_text() == "by hand\n"


SNAKEFILE = """
rule job:
    output: "done.txt"
    log: "logs/job.log"
    shell:
        "{keep} {{log}}; "
        "n=$(( $(cat n 2>/dev/null || echo 0) + 1 )); echo $n > n; "
        "echo attempt $n > {{log}} 2>&1; test $n -ge 3 && touch {{output}}"
"""


@pytest.mark.slow
def test_snakemake_reruns_keep_the_failed_attempts_logs(tmp_path):
    keep = f"{sys.executable} -m selfcorrect.cli keep-log"
    (tmp_path / "Snakefile").write_text(SNAKEFILE.format(keep=keep))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "workflow")}
    run = [sys.executable, "-m", "snakemake", "-c1", "-q"]
    codes = [
        subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, check=False).returncode
        for _ in range(3)
    ]
    assert codes[0] != 0 and codes[1] != 0 and codes[2] == 0  # two failures, then success
    logs = tmp_path / "logs"
    assert (logs / "job.log").read_text() == "attempt 3\n"
    assert (logs / "job.log.1").read_text() == "attempt 2\n"
    assert (logs / "job.log.2").read_text() == "attempt 1\n"


def test_every_rule_keeps_its_earlier_logs(root):
    """Each rule's shell starts with `selfcorrect keep-log {log}` (otherwise the rerun loses
    the previous attempt's log)."""
    for smk in sorted((root / "rules").glob("*.smk")):
        text = smk.read_text()
        for match in re.finditer(r"\n    shell:\n((?:        \".*\"\n)+)", text):
            assert match.group(1).startswith('        "selfcorrect keep-log {log}; "'), smk
