"""`selfcorrect rise-improve`: RISE step 2 — an improved action for every visited state.

States are the contexts of iteration k's rollouts (problem, sample, turn). Candidates come from
M_{k−1} itself (self-distillation: best-of-N samples at the same state) or from a teacher: any
model directory, or, for a task with a programmatic solver (arith), the solver. A selection
rule (all, better, best, success) keeps some of them -> results/rise/iter_{k}/improved.parquet.
"""

from __future__ import annotations

import logging

import pandas as pd

from selfcorrect.artifacts import read_parquet, write_parquet
from selfcorrect.errors import SelfCorrectError
from selfcorrect.models.load import load_model
from selfcorrect.rewards.pool import grade_many
from selfcorrect.rollout.backend import Sampling, get_backend, resolve_backend
from selfcorrect.tasks import get_task
from selfcorrect.train.rise_data import select_actions

log = logging.getLogger(__name__)


def visited_states(rollouts: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    keys = ["problem_id", "sample", "turn"]
    states = rollouts[keys + ["context"]].merge(labels[keys + ["reward"]], on=keys,
                                                validate="one_to_one")
    return states.rename(columns={"reward": "current_reward"})


def sampled_candidates(states: pd.DataFrame, model_dir: str, cfg: dict, source: str,
                       device="auto") -> pd.DataFrame:
    """N samples from a model at every state (best-of-N self-distillation, or a teacher)."""
    # vLLM loads the weights itself: the transformers copy then stays off the GPU
    hf = resolve_backend(cfg.get("backend", "hf")) == "hf"
    model, tokenizer = load_model(model_dir, device=device if hf else "cpu")
    backend = get_backend(cfg.get("backend", "hf"), model, tokenizer,
                          {"batch_size": cfg["batch_size"]})
    n = cfg["best_of"]
    contexts = [c for c in states["context"] for _ in range(n)]
    sampling = Sampling(temperature=cfg["temperature"], max_new_tokens=cfg["max_new_tokens"],
                        seed=cfg["seed"])
    gens = backend.generate(contexts, sampling)
    cands = states.loc[states.index.repeat(n)].reset_index(drop=True)
    cands["action"] = [g.text for g in gens]
    cands["source"] = source
    return cands


def solver_candidates(states: pd.DataFrame, problems: pd.DataFrame, task) -> pd.DataFrame:
    if not hasattr(task, "solve"):
        raise SelfCorrectError(f"rise.teacher: solver: task {task.name!r} has no programmatic solver")
    questions = dict(zip(problems["problem_id"], problems["question"]))
    cands = states.copy()
    cands["action"] = [task.solve(questions[p]) for p in cands["problem_id"]]
    cands["source"] = "teacher"
    return cands


def run(model_dir: str, rollouts_path: str, labels_path: str, problems_path: str, cfg: dict,
        iteration: int, out: str, workers: int, device="auto") -> None:
    problems = read_parquet(problems_path, "problems")
    task = get_task(problems["task"].iloc[0])
    states = visited_states(read_parquet(rollouts_path, "rollouts"),
                            read_parquet(labels_path, "labels"))
    teacher = cfg["teacher"]
    if teacher == "self":
        cands = sampled_candidates(states, model_dir, cfg, "self", device)
    elif teacher == "solver":
        cands = solver_candidates(states, problems, task)
    else:
        cands = sampled_candidates(states, teacher, cfg, "teacher", device)
    answers = dict(zip(problems["problem_id"], task.references(problems)))
    grades = grade_many([(a, answers[p]) for a, p in zip(cands["action"], cands["problem_id"])],
                        workers, verifier=task.reward)
    cands["reward"] = [g.reward for g in grades]
    selected = select_actions(cands, cfg["selection"]).assign(iteration=iteration)
    write_parquet(selected, out, "rise_data")
    log.info("iteration %d: %d states, %d candidates, %d kept (%s), mean reward %.3f",
             iteration, len(states), len(cands), len(selected), cfg["selection"],
             selected["reward"].mean() if len(selected) else float("nan"))
