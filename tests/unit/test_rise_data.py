"""RISE selection/aggregation on a hand-made candidate table (expected rows written out)."""

import pandas as pd
import pytest

from selfcorrect.train.rise_data import (
    COLUMNS,
    SELECTION_RULES,
    aggregate,
    select_actions,
    states_before_success,
    stop_at_first_success,
)

# Two problems, two states each, three candidates per state. Action names are <state><i>.
#   state A = (p0, sample 0, turn 1), policy got 0: rewards [0, 1, 1]
#   state B = (p0, sample 0, turn 2), policy got 1: rewards [1, 0, 1]
#   state C = (p1, sample 0, turn 1), policy got 0: rewards [0, 0, 0]
#   state D = (p1, sample 1, turn 1), policy got 0: rewards [0, 1, 0]
# Rows of A and C are interleaved to check that "best" groups by state, not by adjacency.
ROWS = [
    # problem_id, sample, turn, action, reward, current_reward, source
    ("p0", 0, 1, "A0", 0.0, 0.0, "self"),
    ("p1", 0, 1, "C0", 0.0, 0.0, "self"),
    ("p0", 0, 1, "A1", 1.0, 0.0, "self"),
    ("p1", 0, 1, "C1", 0.0, 0.0, "self"),
    ("p0", 0, 1, "A2", 1.0, 0.0, "teacher"),
    ("p1", 0, 1, "C2", 0.0, 0.0, "teacher"),
    ("p0", 0, 2, "B0", 1.0, 1.0, "self"),
    ("p0", 0, 2, "B1", 0.0, 1.0, "self"),
    ("p0", 0, 2, "B2", 1.0, 1.0, "teacher"),
    ("p1", 1, 1, "D0", 0.0, 0.0, "self"),
    ("p1", 1, 1, "D1", 1.0, 0.0, "self"),
    ("p1", 1, 1, "D2", 0.0, 0.0, "teacher"),
]


def candidates(rows=ROWS) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "problem_id": p,
                "sample": s,
                "turn": t,
                "context": f"ctx {p}/{s}/{t}",
                "action": a,
                "reward": r,
                "current_reward": c,
                "source": src,
            }
            for p, s, t, a, r, c, src in rows
        ],
        columns=COLUMNS,
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("all", ["A0", "C0", "A1", "C1", "A2", "C2", "B0", "B1", "B2", "D0", "D1", "D2"]),
        # reward > current_reward: A1, A2 (1 > 0), D1 (1 > 0); B's correct ones only tie 1 = 1
        ("better", ["A1", "A2", "D1"]),
        # max per state, first in input order on ties: A1 (not A2), B0 (not B2), C0 (all 0), D1
        ("best", ["C0", "A1", "B0", "D1"]),
        # reward == 1
        ("success", ["A1", "A2", "B0", "B2", "D1"]),
    ],
)
def test_select_actions_rules(rule, expected):
    table = candidates()
    got = select_actions(table, rule)
    assert got["action"].tolist() == expected
    # whole rows are kept unchanged, in input order, with a fresh index
    want = table.set_index("action").loc[expected].reset_index()[COLUMNS]
    pd.testing.assert_frame_equal(got, want)


def test_select_best_ties_follow_input_order():
    # Same state A, candidates reordered: the first of the tied best (A2 now) wins.
    rows = [ROWS[4], ROWS[0], ROWS[2]]  # A2 (1), A0 (0), A1 (1)
    assert select_actions(candidates(rows), "best")["action"].tolist() == ["A2"]
    # deterministic: same input, same answer
    assert select_actions(candidates(rows), "best")["action"].tolist() == ["A2"]


def test_select_actions_with_repeated_index_labels():
    table = candidates().set_axis([0] * len(ROWS))  # index labels all 0
    assert select_actions(table, "best")["action"].tolist() == ["C0", "A1", "B0", "D1"]
    assert select_actions(table, "better")["action"].tolist() == ["A1", "A2", "D1"]


def test_select_actions_unknown_rule_and_missing_columns():
    assert set(SELECTION_RULES) == {"all", "better", "best", "success"}
    known = r"unknown selection rule 'top'.*all, best, better, success"
    with pytest.raises(ValueError, match=known):
        select_actions(candidates(), "top")
    with pytest.raises(ValueError, match="current_reward"):
        select_actions(candidates().drop(columns="current_reward"), "better")


def frame(iteration, rows):
    return pd.DataFrame(
        [{"context": c, "action": a, "reward": r, "iteration": iteration} for c, a, r in rows]
    )


def test_aggregate_drops_duplicates_keeping_latest_iteration():
    it1 = frame(1, [("x", "a", 1.0), ("y", "b", 1.0), ("x", "c", 0.0)])
    # ("x", "a") and ("x", "c") repeat exactly (new rewards): iteration 2's copies are kept;
    # ("y", "a") shares only its action with ("x", "a"), so it is not a duplicate.
    it2 = frame(2, [("x", "a", 0.0), ("y", "a", 1.0), ("x", "c", 1.0)])
    want = pd.DataFrame(
        {
            "context": ["y", "x", "y", "x"],
            "action": ["b", "a", "a", "c"],
            "reward": [1.0, 0.0, 1.0, 1.0],
            "iteration": [1, 2, 2, 2],
        }
    )
    pd.testing.assert_frame_equal(aggregate([it1, it2]), want)
    # frames given out of order: the latest *iteration* still wins
    pd.testing.assert_frame_equal(aggregate([it2, it1]), want)


def test_aggregate_fills_missing_iteration_and_needs_frames():
    a = frame(0, [("x", "a", 1.0)]).drop(columns="iteration")
    b = frame(0, [("x", "a", 0.0), ("z", "q", 1.0)]).drop(columns="iteration")
    got = aggregate([a, b])  # iterations = positions 0 and 1
    assert got[["context", "action", "reward", "iteration"]].values.tolist() == [
        ["x", "a", 0.0, 1],
        ["z", "q", 1.0, 1],
    ]
    with pytest.raises(ValueError, match="at least one frame"):
        aggregate([])


# ------------------------------------------------------------------ stop at the first success
# Episodes (problem, sample) over 3 turns; the state at turn t has candidates with `reward`
# and the on-policy action's `current_reward`.
#   (q0, 0): turn 1 best candidate correct → the episode ends at turn 1
#   (q1, 0): turn 2's on-policy action correct, its candidates wrong → ends at turn 2
#   (q1, 1): never correct → all 3 turns
EPISODES = [
    # problem_id, sample, turn, action, reward, current_reward
    ("q0", 0, 1, "a", 0.0, 0.0),
    ("q0", 0, 1, "b", 1.0, 0.0),
    ("q0", 0, 2, "c", 1.0, 0.0),
    ("q0", 0, 3, "d", 1.0, 1.0),
    ("q1", 0, 1, "e", 0.0, 0.0),
    ("q1", 0, 2, "f", 0.0, 1.0),
    ("q1", 0, 3, "g", 1.0, 0.0),
    ("q1", 1, 1, "h", 0.0, 0.0),
    ("q1", 1, 2, "i", 0.0, 0.0),
    ("q1", 1, 3, "j", 0.0, 0.0),
]


def episodes():
    rows = [
        dict(
            zip(["problem_id", "sample", "turn", "action", "reward", "current_reward"], r),
            context=f"ctx-{r[0]}-{r[1]}-{r[2]}",
            source="self",
        )
        for r in EPISODES
    ]
    return pd.DataFrame(rows)[COLUMNS]


def test_stop_at_first_success_drops_every_state_after_it():
    kept = stop_at_first_success(episodes())
    assert kept["action"].tolist() == ["a", "b", "e", "f", "h", "i", "j"]
    assert list(kept.columns) == COLUMNS


def test_states_before_success_uses_the_on_policy_reward_only():
    states = episodes().drop_duplicates(["problem_id", "sample", "turn"])
    kept = states_before_success(states)
    # q0: the on-policy action is first correct at turn 3 (its turn-1 candidate does not count
    # here: candidates are not drawn yet); q1/0: turn 2
    assert kept["action"].tolist() == ["a", "c", "d", "e", "f", "h", "i", "j"]
