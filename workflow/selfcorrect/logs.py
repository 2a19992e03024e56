"""Logs of a stage's earlier attempts, kept beside its log (docs/data-integrity.md).

Snakemake deletes a job's log file before it runs the job again, so the log of a killed or
failed attempt would be lost on the rerun. `selfcorrect keep-log LOG`, the first command of
every rule, keeps it: the attempt now starting is also linked (a hard link, not a copy) as the
hidden `.LOG.current`, which Snakemake does not know of, so deleting LOG leaves it; at the next
attempt that link, by then the previous attempt's log, becomes `LOG.1`, the one before `LOG.2`,
and so on up to `LOG.{KEEP}`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

KEEP = 3


def numbered(log: Path, i: int) -> Path:
    return log.with_name(f"{log.name}.{i}")


def current_link(log: Path) -> Path:
    return log.with_name(f".{log.name}.current")


def keep_attempts(log: str | Path, keep: int = KEEP) -> list[Path]:
    """Rotate the earlier attempts' logs (the previous one to `LOG.1`, …, at most `keep`),
    then start an empty LOG for this attempt and link it as `.LOG.current`. Returns the kept
    logs, newest first. A filesystem without hard links keeps none, and says so once."""
    log = Path(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    current = current_link(log)
    previous = []  # oldest first
    if current.exists() and not (log.exists() and os.path.samefile(current, log)):
        previous.append(current)  # the usual case: Snakemake has deleted LOG
    if log.exists():
        previous.append(log)  # run outside Snakemake, or a log it kept
    for attempt in previous:
        for i in range(keep - 1, 0, -1):
            if numbered(log, i).exists():
                os.replace(numbered(log, i), numbered(log, i + 1))
        os.replace(attempt, numbered(log, 1))
    current.unlink(missing_ok=True)
    log.touch()
    try:
        os.link(log, current)
    except OSError as exc:
        print(
            f"selfcorrect keep-log: warning: {current}: {exc.strerror or exc}; this attempt's "
            "log will not be kept when it is rerun",
            file=sys.stderr,
        )
    return [numbered(log, i) for i in range(1, keep + 1) if numbered(log, i).exists()]
