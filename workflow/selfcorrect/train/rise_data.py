"""RISE training-set construction as pure pandas functions (docs/methods.md, "RISE",
steps 2 and 4).

A candidate table has one row per candidate action at a visited state, with columns

- ``problem_id``, ``sample``, ``turn``: the state (the on-policy rollout ``sample`` of a problem,
  and the turn the action answers);
- ``context``: the rendered prompt text of the state; ``action``: the completion text;
- ``reward``: the verifier reward of the action (0/1 float);
- ``current_reward``: the reward the rolled-out policy got at that state (the baseline to beat);
- ``source``: ``"self"`` (best-of-N from M_{k−1}) or ``"teacher"`` (distillation).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

STATE = ["problem_id", "sample", "turn"]
COLUMNS = [*STATE, "context", "action", "reward", "current_reward", "source"]  # the schema above


def _keep_all(c: pd.DataFrame) -> pd.Series:
    return pd.Series(True, index=c.index)


def _keep_better(c: pd.DataFrame) -> pd.Series:
    # Strictly better than what the policy did at the state: ties teach nothing new.
    return c["reward"] > c["current_reward"]


def _keep_best(c: pd.DataFrame) -> pd.Series:
    # One action per state: the highest reward, ties to the first candidate in input order.
    best = c["reward"] == c.groupby(STATE, sort=False)["reward"].transform("max")
    # Among (state, is-best) keys, the first best row of each state is never a duplicate.
    return best & ~c[STATE].assign(_best=best).duplicated(keep="first")


def _keep_success(c: pd.DataFrame) -> pd.Series:
    return c["reward"] == 1


SELECTION_RULES: dict[str, Callable[[pd.DataFrame], pd.Series]] = {
    "all": _keep_all,
    "better": _keep_better,
    "best": _keep_best,
    "success": _keep_success,
}


def select_actions(candidates: pd.DataFrame, rule: str) -> pd.DataFrame:
    """The candidates kept by ``rule`` (docs/methods.md, RISE step 2, "Selection rule: keep
    all / only better-than-current / only the best / only correct actions"):

    - ``"all"``: every candidate;
    - ``"better"``: reward > current_reward at the same state;
    - ``"best"``: one candidate per state (problem_id, sample, turn) with the highest reward,
      ties broken by input order (the first such candidate);
    - ``"success"``: reward == 1.

    Rows come back in input order with a fresh index; columns are unchanged.
    """
    try:
        keep = SELECTION_RULES[rule]
    except KeyError:
        raise ValueError(
            f"unknown selection rule {rule!r}; known: {', '.join(sorted(SELECTION_RULES))}"
        ) from None
    missing = [c for c in [*STATE, "reward", "current_reward"] if c not in candidates.columns]
    if missing:
        raise ValueError(f"candidates lack columns {missing}")
    # Positional mask: the input index may repeat labels.
    return candidates[keep(candidates).to_numpy(dtype=bool)].reset_index(drop=True)


EPISODE = ["problem_id", "sample"]


def _truncate_after(table: pd.DataFrame, solved: pd.Series) -> pd.DataFrame:
    """Rows of ``table`` up to and including, per episode, the first turn where ``solved``."""
    turn = table["turn"].where(solved)
    stop = turn.groupby([table[c] for c in EPISODE], sort=False).transform("min")
    keep = stop.isna() | (table["turn"] <= stop)
    return table[keep.to_numpy(dtype=bool)].reset_index(drop=True)


def states_before_success(states: pd.DataFrame) -> pd.DataFrame:
    """Visited states up to the first turn whose on-policy action is correct, per episode
    (problem_id, sample): every later state follows a correct answer with "incorrect" feedback.
    Applied before sampling candidates, so none are drawn for states that are dropped anyway."""
    return _truncate_after(states, states["current_reward"] == 1)


def stop_at_first_success(candidates: pd.DataFrame) -> pd.DataFrame:
    """Candidates of the states up to each episode's first success (docs/methods.md, RISE
    step 2): the first turn whose best action (the on-policy one, or the best improved
    candidate) is correct ends the episode, as in the authors' workflow_gen.py
    (`if turn_history["best_rewards"][-1] == 1.0: break`). That turn's state is kept."""
    best = candidates.groupby(STATE, sort=False)["reward"].transform("max")
    return _truncate_after(candidates, (best == 1) | (candidates["current_reward"] == 1))


def aggregate(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The union of the data selected in each RISE iteration so far (docs/methods.md, RISE step 4,
    "Iterate"), dropping exact duplicate (context, action) pairs and keeping the copy from the
    latest iteration (its reward and current_reward come from the most recent rollouts).

    Each frame's ``iteration`` column is preserved; a frame without one gets its position in
    ``frames`` (0-based). Rows come back ordered by iteration (stable), with a fresh index.
    """
    if not frames:
        raise ValueError("aggregate needs at least one frame")
    tagged = [
        f if "iteration" in f.columns else f.assign(iteration=i) for i, f in enumerate(frames)
    ]
    data = pd.concat(tagged, ignore_index=True)
    # Stable sort so "last" is the latest iteration (and, within one, the last row given).
    data = data.sort_values("iteration", kind="stable")
    data = data.drop_duplicates(["context", "action"], keep="last")
    return data.reset_index(drop=True)
