"""Self-correction metrics over one model's labels on one task (the SCoRe and RISE tables).

The input is a LABELS frame (see `selfcorrect.artifacts`): one row per (problem_id, sample, turn)
with a 0/1 reward, the extracted final answer, the finish reason and the completion length.
Rates are returned as fractions in [0, 1]; the report turns them into percent.

Units: "per attempt" metrics (Acc@t, Δ, edit rate, p1, m1) average over (problem, sample) pairs;
with the same number of samples for every problem this equals averaging per problem first.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd

from selfcorrect.errors import SelfCorrectError

KEYS = ["problem_id", "sample"]
_REQUIRED = [
    "problem_id",
    "sample",
    "turn",
    "reward",
    "extracted",
    "finish_reason",
    "completion_tokens",
]


# --- validation and reshaping ---------------------------------------------------------------


def _validate(labels: pd.DataFrame) -> None:
    """One model and task, unique keys, 0/1 rewards, every (problem, sample) has turns 1..T."""
    missing = [c for c in _REQUIRED if c not in labels.columns]
    if missing:
        raise SelfCorrectError(f"labels: missing column {missing[0]!r}")
    if labels.empty:
        raise SelfCorrectError("labels: no rows")
    for col in ("model", "task", "split"):
        if col in labels.columns and labels[col].nunique() > 1:
            values = ", ".join(sorted(map(str, labels[col].unique())))
            raise SelfCorrectError(f"labels: metrics need one {col}, found {values}")

    bad_reward = ~labels["reward"].isin([0.0, 1.0])
    if bad_reward.any():
        row = labels[bad_reward].iloc[0]
        raise SelfCorrectError(
            f"labels: problem {row['problem_id']!r} sample {row['sample']} turn {row['turn']} "
            f"has reward {float(row['reward'])}, expected 0 or 1"
        )
    if (labels["turn"] < 1).any():
        row = labels[labels["turn"] < 1].iloc[0]
        raise SelfCorrectError(
            f"labels: problem {row['problem_id']!r} has turn {row['turn']}, turns start at 1"
        )
    dup = labels.duplicated(KEYS + ["turn"])
    if dup.any():
        row = labels[dup].iloc[0]
        raise SelfCorrectError(
            f"labels: problem {row['problem_id']!r} sample {row['sample']} turn {row['turn']} "
            "appears more than once"
        )

    # Keys are unique and turns lie in 1..T, so a complete pair has exactly T rows.
    n_turns = int(labels["turn"].max())
    sizes = labels.groupby(KEYS, sort=False).size()
    incomplete = sizes[sizes < n_turns]
    if not incomplete.empty:
        problem_id, sample = incomplete.index[0]
        own = labels[(labels["problem_id"] == problem_id) & (labels["sample"] == sample)]
        absent = sorted(set(range(1, n_turns + 1)) - set(own["turn"].astype(int)))
        raise SelfCorrectError(
            f"labels: problem {problem_id!r} sample {sample} is missing turn(s) "
            f"{', '.join(map(str, absent))} (expected turns 1..{n_turns})"
        )


def _wide(labels: pd.DataFrame, column: str) -> pd.DataFrame:
    """Validated pivot of one column: index (problem_id, sample), columns turns 1..T."""
    _validate(labels)
    wide = labels.pivot(index=KEYS, columns="turn", values=column)
    wide.columns = [int(t) for t in wide.columns]
    wide.columns.name = "turn"
    return wide.sort_index(axis=1)


def turn_matrix(labels: pd.DataFrame) -> pd.DataFrame:
    """Rewards as a (problem_id, sample) x turn matrix of 0.0/1.0; errors if a turn is missing."""
    return _wide(labels, "reward").astype(float)


def answer_matrix(labels: pd.DataFrame) -> pd.DataFrame:
    """Extracted answers as a (problem_id, sample) x turn matrix; "" where none was found."""
    return _wide(labels.assign(extracted=labels["extracted"].fillna("")), "extracted")


def samples_per_problem(labels: pd.DataFrame) -> int:
    """K, the number of parallel samples of every problem; errors if problems differ."""
    per_problem = labels.groupby("problem_id", sort=False)["sample"].nunique()
    k = int(per_problem.max())
    short = per_problem[per_problem != k]
    if not short.empty:
        raise SelfCorrectError(
            f"labels: problem {short.index[0]!r} has {int(short.iloc[0])} sample(s), "
            f"others have {k}"
        )
    return k


# --- per-turn accuracy and transitions --------------------------------------------------------


def accuracy_at(rewards: pd.DataFrame, turn: int) -> float:
    """Acc@t: mean reward of attempt t."""
    return float(rewards[turn].mean())


def delta(rewards: pd.DataFrame) -> float:
    """Δ(t1,t2) = Acc@t2 − Acc@t1."""
    return accuracy_at(rewards, 2) - accuracy_at(rewards, 1)


def delta_se(rewards: pd.DataFrame) -> float:
    """Paired standard error of Δ: sd of r2 − r1 over (problem, sample), ddof=1, / sqrt(n).

    NaN with a single pair (no spread to estimate). Samples of one problem are treated as
    independent, which understates the error when K > 1.
    """
    diff = rewards[2] - rewards[1]
    if len(diff) < 2:
        return math.nan
    return float(diff.std(ddof=1) / math.sqrt(len(diff)))


def delta_i2c(rewards: pd.DataFrame) -> float:
    """Δi→c: share of (problem, sample) wrong at t1 and right at t2."""
    return float(((rewards[1] == 0) & (rewards[2] == 1)).mean())


def delta_c2i(rewards: pd.DataFrame) -> float:
    """Δc→i: share of (problem, sample) right at t1 and wrong at t2."""
    return float(((rewards[1] == 1) & (rewards[2] == 0)).mean())


def edit_rate(answers: pd.DataFrame) -> float:
    """Share of (problem, sample) whose turn-2 answer differs from turn 1's.

    A collapse to "never edit" shows here first. Compared on the extracted answer, so a
    rewritten solution with the same final answer is not an edit.
    """
    return float((answers[2] != answers[1]).mean())


def pass_any_turn(rewards: pd.DataFrame) -> float:
    """p1@tT ("with oracle"): share of (problem, sample) with at least one correct turn."""
    return float(rewards.max(axis=1).mean())


# --- majority votes --------------------------------------------------------------------------


def answer_classes(answers: list[str], equivalent: Callable[[str, str], bool]) -> list[str]:
    """Each answer replaced by the first answer of its equivalence class, in order of first
    appearance (a class is the first answer each later one is `equivalent` to). "" stays ""."""
    reps: list[str] = []
    out = []
    for a in answers:
        if a == "":
            out.append(a)
            continue
        rep = next((r for r in reps if r == a or equivalent(r, a)), None)
        if rep is None:
            reps.append(a)
            rep = a
        out.append(rep)
    return out


def _vote(
    rows: pd.DataFrame,
    group: list[str],
    order: str,
    equivalent: Callable[[str, str], bool] | None = None,
) -> pd.Series:
    """Reward of the majority answer within each `group`, one value per group.

    Votes go to equivalence classes of answers under `equivalent` (math-verify for math, so
    "0.5" and "\\frac12" are one answer; None = exact string match). Empty answers abstain
    unless nobody in the group answered. Ties go to the class seen latest along `order`; the
    chosen class scores the reward of its latest occurrence.
    """
    rows = rows.assign(extracted=rows["extracted"].fillna(""), reward=rows["reward"].astype(float))
    rows = rows.sort_values(group + [order])
    if equivalent is not None:
        classes = rows.groupby(group, sort=False)["extracted"].transform(
            lambda s: pd.Series(answer_classes(list(s), equivalent), index=s.index)
        )
        rows = rows.assign(extracted=classes)
    answered = rows["extracted"].ne("")
    anyone = answered.groupby([rows[g] for g in group]).transform("any")
    voters = rows[answered | ~anyone]
    tally = voters.groupby(group + ["extracted"], sort=False).agg(
        votes=("extracted", "size"), last=(order, "max"), reward=("reward", "last")
    )
    winners = tally.sort_values(["votes", "last"], ascending=False).groupby(level=group).head(1)
    return winners["reward"].droplevel("extracted").sort_index()


def majority_over_turns(labels: pd.DataFrame, equivalent=None) -> float:
    """m1@tT ("without oracle"): majority over the T sequential answers of each sample."""
    return float(_vote(labels, KEYS, "turn", equivalent).mean())


def majority_over_samples(labels: pd.DataFrame, equivalent=None) -> float:
    """mK@t1: majority over the K parallel first attempts of each problem, mean over problems.

    Parallel samples have no natural order; ties go to the higher sample index, for determinism.
    """
    return float(_vote(labels[labels["turn"] == 1], ["problem_id"], "sample", equivalent).mean())


# --- generation health -----------------------------------------------------------------------


def truncation_rate(labels: pd.DataFrame) -> float:
    """Share of all attempts cut at max_new_tokens (they usually score 0 silently)."""
    return float(labels["finish_reason"].eq("length").mean())


def mean_completion_tokens(labels: pd.DataFrame) -> float:
    return float(labels["completion_tokens"].mean())


# --- assembly --------------------------------------------------------------------------------


def accuracy_by_turn(labels: pd.DataFrame) -> list[float]:
    """[Acc@t1, …, Acc@tT]."""
    rewards = turn_matrix(labels)
    return [accuracy_at(rewards, t) for t in rewards.columns]


def compute_metrics(labels: pd.DataFrame, equivalent=None) -> dict:
    """All metrics of one model on one task, in report order (see the module docstring).
    `equivalent` decides when two answers are one for the majority votes
    (selfcorrect.rewards.get_equivalence; None = exact string match)."""
    rewards = turn_matrix(labels)
    n_turns = rewards.shape[1]
    k = samples_per_problem(labels)
    out: dict = {
        "n_problems": int(labels["problem_id"].nunique()),
        "n_samples": k,
        "turns": n_turns,
    }
    for t in range(1, n_turns + 1):
        out[f"acc@t{t}"] = accuracy_at(rewards, t)
    if n_turns >= 2:
        out["delta"] = delta(rewards)
        out["delta_se"] = delta_se(rewards)
        out["delta_i2c"] = delta_i2c(rewards)
        out["delta_c2i"] = delta_c2i(rewards)
        out["edit_rate"] = edit_rate(answer_matrix(labels))
    out[f"p1@t{n_turns}"] = pass_any_turn(rewards)
    out[f"m1@t{n_turns}"] = majority_over_turns(labels, equivalent)
    if k > 1:
        out[f"m{k}@t1"] = majority_over_samples(labels, equivalent)
    out["truncation"] = truncation_rate(labels)
    out["mean_completion_tokens"] = mean_completion_tokens(labels)
    return out


# --- inference-time scaling (SCoRe, Fig. "inference-time scaling") ---------------------------


def _block_votes(labels: pd.DataFrame, turn: int, block: int, equivalent=None) -> float:
    """Majority-vote accuracy over disjoint blocks of `block` samples at `turn`.

    Samples 0..K−1 of each problem form ⌊K/block⌋ disjoint blocks; each block votes on its
    answers at `turn`, and the result is the mean over problems and blocks (using every block
    rather than the first lowers the variance without biasing the estimate).
    """
    rows = labels[labels["turn"] == turn]
    rows = rows[rows["sample"] < (rows["sample"].max() + 1) // block * block]
    rows = rows.assign(block=rows["sample"] // block)
    return float(_vote(rows, ["problem_id", "block"], "sample", equivalent).mean())


def scaling_curve(labels: pd.DataFrame, budgets: list[int], equivalent=None) -> pd.DataFrame:
    """Accuracy at each sample budget B (docs/methods.md, "Inference-time scaling"):

    - ``parallel``: majority over B parallel first attempts;
    - ``sequential``: B/2 parallel first attempts, each corrected once, majority over the B/2
      second attempts (each chain spends 2 of the budget).

    - ``problems``: how many problems the accuracies average over (the report's error bars).

    `labels` holds K ≥ B samples per problem with two turns (sampled, e.g. temperature 0.7).
    """
    rewards = turn_matrix(labels)
    if rewards.shape[1] < 2:
        raise SelfCorrectError("scaling: labels need two turns (a first attempt and a correction)")
    k = samples_per_problem(labels)
    problems = int(labels["problem_id"].nunique())
    rows = []
    for b in budgets:
        if b < 2 or b % 2 or b > k:
            raise SelfCorrectError(f"scaling: budget {b} must be even, >= 2 and <= K={k}")
        rows.append(
            {
                "budget": b,
                "parallel": _block_votes(labels, 1, b, equivalent),
                "sequential": _block_votes(labels, 2, b // 2, equivalent),
                "problems": problems,
            }
        )
    return pd.DataFrame(rows)
