"""Tasks: importing this package registers every built-in task."""

from selfcorrect.tasks import arith, gsm8k, hendrycks_math, humaneval, mbpp, wordprob  # noqa: F401
from selfcorrect.tasks.base import Task, get_task, register_task, task_names

__all__ = ["Task", "get_task", "register_task", "task_names"]
