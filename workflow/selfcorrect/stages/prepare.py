"""`selfcorrect prepare`: a task split -> results/data/{task}/{split}.parquet."""

from __future__ import annotations

import logging

from selfcorrect.artifacts import to_table, write_parquet
from selfcorrect.errors import SelfCorrectError
from selfcorrect.tasks import get_task
from selfcorrect.tasks.base import check_split

log = logging.getLogger(__name__)


def run(task_name: str, split: str, task_cfg: dict, out: str) -> None:
    check_split(split)
    task = get_task(task_name)
    problems = task.problems(split, task_cfg)
    if problems.empty:
        raise SelfCorrectError(f"task {task_name!r}: split {split!r} has no problems")
    duplicated = problems["problem_id"].duplicated()
    if duplicated.any():
        first = problems.loc[duplicated, "problem_id"].iloc[0]
        raise SelfCorrectError(f"task {task_name!r}: duplicate problem_id {first!r}")
    to_table(problems, "problems", where=f"task {task_name}")
    write_parquet(problems, out, "problems")
    log.info("%s/%s: %d problems -> %s", task_name, split, len(problems), out)
