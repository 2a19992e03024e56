"""`selfcorrect rise-improve`: RISE step 2 — an improved action for every visited state.

States are the contexts of iteration k's rollouts (problem, sample, turn). Candidates come from
M_{k−1} itself (self-distillation: best-of-N samples at the same state) or from a teacher: any
model directory, or, for a task with a programmatic solver (arith), the solver. A selection
rule (all, better, best, success) keeps some of them -> results/rise/iter_{k}/improved.parquet.

An episode stops at its first success (docs/methods.md, RISE step 2): states after the first
turn whose on-policy or best improved action is correct are not training states. The target at
turn 1 is the best-of-N improved action (`turn1_target: best_of_n`) or the on-policy first
attempt itself with its reward (`on_policy`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from selfcorrect.errors import SelfCorrectError
from selfcorrect.stages import json_object, stage_cfg

if TYPE_CHECKING:
    import pandas as pd

    from selfcorrect.settings import RiseImproveConfig

log = logging.getLogger(__name__)
LOADS_MODEL = True


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="M_{k-1}, the model that was rolled out")
    parser.add_argument("--rollouts", required=True, help="its rollouts on the training split")
    parser.add_argument("--labels", required=True, help="the labels of --rollouts")
    parser.add_argument("--problems", required=True, help="the training problems parquet")
    parser.add_argument("--iteration", type=int, required=True, help="k, recorded in the rows")
    parser.add_argument(
        "--cfg", type=json_object, required=True, help="the rise.improve config (JSON)"
    )
    parser.add_argument("--out", required=True, help="the improved-action parquet written")


def visited_states(rollouts: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    keys = ["problem_id", "sample", "turn"]
    states = rollouts[keys + ["context", "completion"]].merge(
        labels[keys + ["reward"]], on=keys, validate="one_to_one"
    )
    return states.rename(columns={"reward": "current_reward"})


def sampled_candidates(
    states: pd.DataFrame, model_dir: str, cfg: RiseImproveConfig, source: str, device="auto"
) -> pd.DataFrame:
    """N samples from a model at every state (best-of-N self-distillation, or a teacher)."""
    from selfcorrect.models.load import load_model
    from selfcorrect.rollout import get_backend, resolve_backend
    from selfcorrect.rollout.backend import Sampling

    # vLLM loads the weights itself: the transformers copy then stays off the GPU
    hf = resolve_backend(cfg.backend) == "hf"
    model, tokenizer = load_model(model_dir, device=device if hf else "cpu")
    backend = get_backend(cfg.backend, model, tokenizer, cfg.batch_size)
    n = cfg.best_of
    contexts = [c for c in states["context"] for _ in range(n)]
    sampling = Sampling(
        temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens, seed=cfg.seed
    )
    gens = backend.generate(contexts, sampling)
    cands = states.loc[states.index.repeat(n)].reset_index(drop=True)
    cands["action"] = [g.text for g in gens]
    cands["source"] = source
    return cands


def solver_candidates(states: pd.DataFrame, problems: pd.DataFrame, task) -> pd.DataFrame:
    if not hasattr(task, "solve"):
        raise SelfCorrectError(
            f"rise.teacher: solver: task {task.name!r} has no programmatic solver"
        )
    questions = dict(zip(problems["problem_id"], problems["question"]))
    cands = states.copy()
    cands["action"] = [task.solve(questions[p]) for p in cands["problem_id"]]
    cands["source"] = "teacher"
    return cands


def on_policy_targets(states: pd.DataFrame) -> pd.DataFrame:
    """The rolled-out action itself as the target at each state, with its own reward."""
    cands = states.assign(
        action=states["completion"], reward=states["current_reward"], source="on_policy"
    )
    return cands


def run(args) -> None:
    """Grades the candidates on `--threads` worker processes (default 1)."""
    import pandas as pd

    from selfcorrect.artifacts import problems_task, read_parquet, write_parquet
    from selfcorrect.rewards.pool import grade_many
    from selfcorrect.tasks import get_task
    from selfcorrect.train.rise_data import (
        select_actions,
        states_before_success,
        stop_at_first_success,
    )

    cfg = stage_cfg(args, "rise-improve")
    model_dir, iteration, out, device = args.model, args.iteration, args.out, args.device
    problems = read_parquet(args.problems, "problems")
    task = get_task(problems_task(problems, args.problems))
    visited = visited_states(
        read_parquet(args.rollouts, "rollouts"), read_parquet(args.labels, "labels")
    )
    states = states_before_success(visited)
    target1 = cfg.turn1_target
    on_policy = target1 == "on_policy"
    sampled = states[states["turn"] > 1] if on_policy else states
    teacher = cfg.teacher
    if teacher == "self":
        cands = sampled_candidates(sampled, model_dir, cfg, "self", device)
    elif teacher == "solver":
        cands = solver_candidates(sampled, problems, task)
    else:
        cands = sampled_candidates(sampled, teacher, cfg, "teacher", device)
    answers = dict(zip(problems["problem_id"], task.references(problems)))
    grades = grade_many(
        [(a, answers[p]) for a, p in zip(cands["action"], cands["problem_id"])],
        args.threads or 1,
        verifier=task.reward,
    )
    cands["reward"] = [g.reward for g in grades]
    if on_policy:
        cands = pd.concat(
            [on_policy_targets(states[states["turn"] == 1]), cands], ignore_index=True
        )
    kept = stop_at_first_success(cands.drop(columns="completion"))
    selected = select_actions(kept, cfg.selection).assign(iteration=iteration)
    log.info(
        "episodes stopped at their first success: %d of %d visited states kept (turn-1 target: %s)",
        kept[["problem_id", "sample", "turn"]].drop_duplicates().shape[0],
        len(visited),
        target1,
    )
    write_parquet(selected, out, "rise_data")
    log.info(
        "iteration %d: %d states, %d candidates, %d kept (%s), mean reward %.3f",
        iteration,
        len(states),
        len(cands),
        len(selected),
        cfg.selection,
        selected["reward"].mean() if len(selected) else float("nan"),
    )
