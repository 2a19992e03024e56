"""Training sets of the SFT baselines (docs/methods.md, "Baselines") from a model's own two-attempt
rollouts and their labels, as pure pandas functions.

Rows come out in the RISE_DATA layout (``selfcorrect.artifacts``): the state ``context`` is the
rendered conversation before the trained attempt and ``action`` the target completion, so the
same fine-tuning loop (train/rise.py with the ``sft`` loss) trains every baseline.

- STaR: the traces whose second attempt is correct; the target is that second attempt, read
  after the trace's own first attempt.
- Pair-SFT (D): every incorrect first attempt, followed by the instruction, paired with a correct
  response to the same problem drawn from the model's own first attempts.
- Pair-SFT (D⁺): D plus the correct first attempts, each paired with a correct response.
"""

from __future__ import annotations

import pandas as pd

from selfcorrect.artifacts import RISE_DATA

TRACE = ["problem_id", "sample"]


def traces(rollouts: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """One row per (problem, sample): ctx1, y1, r1 and ctx2, y2, r2 of turns 1 and 2."""
    keys = [*TRACE, "turn"]
    merged = rollouts[keys + ["context", "completion"]].merge(
        labels[keys + ["reward"]], on=keys, validate="one_to_one"
    )
    wide = {t: merged[merged["turn"] == t].drop(columns="turn").set_index(TRACE) for t in (1, 2)}
    out = wide[1].add_suffix("1").join(wide[2].add_suffix("2"), how="inner")
    return (
        out.rename(
            columns={
                "completion1": "y1",
                "completion2": "y2",
                "reward1": "r1",
                "reward2": "r2",
                "context1": "ctx1",
                "context2": "ctx2",
            }
        )
        .reset_index()
        .sort_values(TRACE, kind="stable")
        .reset_index(drop=True)
    )


def _rows(problem_id, sample, context, action, reward, current, iteration) -> dict:
    return {
        "problem_id": problem_id,
        "sample": int(sample),
        "turn": 2,
        "context": context,
        "action": action,
        "reward": float(reward),
        "current_reward": float(current),
        "source": "self",
        "iteration": int(iteration),
    }


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=RISE_DATA.names)


def star_data(t: pd.DataFrame, iteration: int = 1) -> pd.DataFrame:
    """STaR: keep the traces whose second attempt is correct; train attempt 2 in its context."""
    kept = t[t["r2"] == 1]
    return _frame(
        [
            _rows(r.problem_id, r.sample, r.ctx2, r.y2, r.r2, r.r1, iteration)
            for r in kept.itertuples()
        ]
    )


def pair_sft_data(t: pd.DataFrame, plus: bool = False, iteration: int = 1) -> pd.DataFrame:
    """Pair-SFT: a first attempt (incorrect; with ``plus`` also correct) and the instruction,
    then a correct response to the same problem from the model's own first attempts.

    Each attempt gets one partner, taken in turn from the problem's correct first attempts (the
    next one after its own sample, cyclically), so pairs spread over the correct responses
    and a correct attempt is paired with another correct one whenever there is one.
    Problems without any correct first attempt give no pairs.
    """
    rows = []
    for pid, group in t.groupby("problem_id", sort=True):
        correct = group[group["r1"] == 1].sort_values("sample")
        if correct.empty:
            continue
        pool = list(correct.itertuples())
        for r in group.itertuples():
            if r.r1 == 1 and not plus:
                continue
            later = [c for c in pool if c.sample > r.sample]
            partner = later[0] if later else pool[0]
            rows.append(_rows(pid, r.sample, r.ctx2, partner.y1, 1.0, r.r1, iteration))
    return _frame(rows)


# `selfcorrect baseline-data --kind`: each baseline's training set from the traces
BUILDERS = {
    "star": lambda t, i: star_data(t, iteration=i),
    "pair_sft": lambda t, i: pair_sft_data(t, plus=False, iteration=i),
    "pair_sft_plus": lambda t, i: pair_sft_data(t, plus=True, iteration=i),
}
