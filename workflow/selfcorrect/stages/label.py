"""`selfcorrect label`: rollouts + the task's verifier -> results/labels/{model}/{task}-{split}.parquet."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from selfcorrect.errors import SelfCorrectError

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)


def label(
    rollouts: pd.DataFrame,
    problems: pd.DataFrame,
    workers: int,
    where: tuple[str, str] = ("rollouts", "problems"),
) -> pd.DataFrame:
    """Grade every completion against its problem's reference answer."""
    from selfcorrect.artifacts import ROLLOUT_KEYS, problems_task
    from selfcorrect.rewards.pool import grade_many
    from selfcorrect.tasks import get_task

    task_name = problems_task(problems, where[1])
    if rollouts.empty:
        raise SelfCorrectError(f"{where[0]}: no rollouts to label (the file has no rows)")
    other = rollouts.loc[rollouts["task"] != task_name, "task"]
    if len(other):
        raise SelfCorrectError(
            f"{where[0]}: row {other.index[0]} is a rollout of task "
            f"{other.iloc[0]!r}, but {where[1]} holds task {task_name!r}"
        )
    task = get_task(task_name)
    references = dict(zip(problems["problem_id"], task.references(problems)))
    unknown = set(rollouts["problem_id"]) - references.keys()
    if unknown:
        raise SelfCorrectError(f"{where[0]}: problem_id {min(unknown)!r} is not in {where[1]}")
    pairs = [(c, references[p]) for c, p in zip(rollouts["completion"], rollouts["problem_id"])]
    grades = grade_many(pairs, workers, verifier=task.reward)
    labels = rollouts[ROLLOUT_KEYS + ["finish_reason", "completion_tokens"]].copy()
    labels["reward"] = [g.reward for g in grades]
    labels["verdict"] = [g.verdict for g in grades]
    labels["extracted"] = [g.extracted for g in grades]
    labels["error"] = [g.error for g in grades]
    labels["failing_test"] = [g.failing_test for g in grades]
    labels["isolation"] = [g.isolation for g in grades]
    return labels


def add_arguments(parser) -> None:
    parser.add_argument("--rollouts", required=True, help="the rollouts parquet graded")
    parser.add_argument("--problems", required=True, help="their problems parquet (references)")
    parser.add_argument("--out", required=True, help="the labels parquet written")


def run(args) -> None:
    """Grades on `--threads` worker processes (default 1)."""
    from selfcorrect.artifacts import read_parquet, write_parquet

    rollouts = read_parquet(args.rollouts, "rollouts")
    problems = read_parquet(args.problems, "problems")
    labels = label(rollouts, problems, args.threads or 1, (args.rollouts, args.problems))
    write_parquet(labels, args.out, "labels")
    counts = labels["verdict"].value_counts().to_dict()
    log.info("%d completions labeled %s -> %s", len(labels), counts, args.out)
