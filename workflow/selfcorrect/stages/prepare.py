"""`selfcorrect prepare`: a task split -> results/data/{task}/{split}.parquet."""

from __future__ import annotations

import logging

from selfcorrect.errors import SelfCorrectError
from selfcorrect.stages import json_object

log = logging.getLogger(__name__)


def add_arguments(parser) -> None:
    parser.add_argument("--task", required=True, help="the task's name (tasks/)")
    parser.add_argument("--split", required=True, help="train | test")
    parser.add_argument(
        "--cfg",
        type=json_object,
        default={},
        help="the task's config (JSON; left-out keys take the schema's defaults)",
    )
    parser.add_argument("--out", required=True, help="the problems parquet written")


def run(args) -> None:
    from selfcorrect.artifacts import to_table, write_parquet
    from selfcorrect.config import task_config
    from selfcorrect.tasks import get_task
    from selfcorrect.tasks.base import check_split

    task_name, split = args.task, args.split
    task_cfg = task_config(task_name, args.cfg, "--cfg")
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
    write_parquet(problems, args.out, "problems")
    log.info("%s/%s: %d problems -> %s", task_name, split, len(problems), args.out)
