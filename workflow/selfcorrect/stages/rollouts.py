"""`selfcorrect rollout`: a model on a task split -> results/rollouts/{model}/{task}-{split}.parquet.

Training splits are sampled (K samples per problem, `rollout.train`), test splits decoded as
the paper evaluates (greedy by default, `rollout.eval`).
"""

from __future__ import annotations

import logging

from selfcorrect.artifacts import problems_task, read_parquet, write_parquet
from selfcorrect.models.load import load_model
from selfcorrect.rollout import get_backend, resolve_backend
from selfcorrect.rollout.backend import Sampling
from selfcorrect.rollout.multiturn import collect_rollouts
from selfcorrect.tasks import get_task

log = logging.getLogger(__name__)


def run(model_dir: str, model_name: str, problems_path: str, task_cfg: dict,
        rollout_cfg: dict, sampling_cfg: dict, out: str, device="auto") -> None:
    """`sampling_cfg` is `rollout.train` for training splits, `rollout.eval` for test splits;
    the hf engine generates on `device` (selfcorrect/device.py)."""
    problems = read_parquet(problems_path, "problems")
    if rollout_cfg.get("limit"):
        problems = problems.head(rollout_cfg["limit"])
    task = get_task(problems_task(problems, problems_path))
    # vLLM loads the weights itself: the transformers copy then stays off the GPU
    hf = resolve_backend(rollout_cfg["backend"]) == "hf"
    model, tokenizer = load_model(model_dir, device=device if hf else "cpu")
    backend = get_backend(rollout_cfg["backend"], model, tokenizer, rollout_cfg)
    log.info("%s engine%s", backend.name, f" on {model.device}" if hf else "")
    sampling, samples = Sampling.from_config(sampling_cfg), int(sampling_cfg["samples"])
    prompts = [task.first_prompt(q, task_cfg) for q in problems["question"]]
    rollouts = collect_rollouts(
        backend, tokenizer, problems, prompts, task.instruction(task_cfg),
        turns=rollout_cfg["turns"], samples=samples, sampling=sampling, model_name=model_name,
        window=rollout_cfg.get("window", 0),
        critique=task_cfg.get("critique_instruction", ""),
    )
    write_parquet(rollouts, out, "rollouts")
    truncated = (rollouts["finish_reason"] == "length").mean()
    log.info("%d rows (%d problems x %d samples x %d turns), truncated %.1f%% -> %s",
             len(rollouts), len(problems), samples, rollout_cfg["turns"], 100 * truncated, out)
