"""selfcorrect.metrics on hand-made label tables; expected values are worked out in comments."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from selfcorrect.errors import SelfCorrectError
from selfcorrect.metrics import (
    accuracy_by_turn,
    compute_metrics,
    majority_over_samples,
    majority_over_turns,
    truncation_rate,
    turn_matrix,
)


def make_labels(attempts: dict, length: set = frozenset(), tokens: dict | None = None):
    """{(problem_id, sample): [(reward, extracted), …by turn]} -> a LABELS-shaped frame.

    `length` holds the (problem_id, sample, turn) keys that were truncated.
    """
    rows = []
    for (pid, sample), turns in attempts.items():
        for turn, (reward, extracted) in enumerate(turns, start=1):
            key = (pid, sample, turn)
            rows.append(
                {
                    "model": "m",
                    "task": "math",
                    "split": "test",
                    "problem_id": pid,
                    "sample": sample,
                    "turn": turn,
                    "reward": float(reward),
                    "verdict": "correct" if reward else ("wrong" if extracted else "no_answer"),
                    "extracted": extracted,
                    "error": "",
                    "finish_reason": "length" if key in length else "stop",
                    "completion_tokens": (tokens or {}).get(key, 100),
                }
            )
    # the dtypes read_parquet gives for the LABELS schema (float32 rewards must not leak)
    return pd.DataFrame(rows).astype(
        {"sample": "int32", "turn": "int32", "reward": "float32", "completion_tokens": "int32"}
    )


# Four problems, one sample, two turns, one of each transition and a second i→c:
#   p1  wrong "3" -> right "4"   i→c, edited
#   p2  none  ""  -> right "4"   i→c, edited ("" differs from "4"); turn 1 truncated
#   p3  right "5" -> right "5"   c→c, not edited
#   p4  right "7" -> wrong "8"   c→i, edited
TWO_TURNS = {
    ("p1", 0): [(0, "3"), (1, "4")],
    ("p2", 0): [(0, ""), (1, "4")],
    ("p3", 0): [(1, "5"), (1, "5")],
    ("p4", 0): [(1, "7"), (0, "8")],
}


def test_turn_matrix_is_problem_sample_by_turn():
    m = turn_matrix(make_labels(TWO_TURNS))
    assert list(m.columns) == [1, 2]
    assert m.index.names == ["problem_id", "sample"]
    assert m.loc[("p1", 0)].tolist() == [0.0, 1.0]
    assert m.loc[("p4", 0)].tolist() == [1.0, 0.0]


def test_two_turn_transitions():
    tokens = {("p1", 0, 1): 40, ("p1", 0, 2): 60}  # others 100: (40+60+6*100)/8 = 87.5
    m = compute_metrics(make_labels(TWO_TURNS, length={("p2", 0, 1)}, tokens=tokens))
    assert list(m) == [
        "n_problems",
        "n_samples",
        "turns",
        "acc@t1",
        "acc@t2",
        "delta",
        "delta_se",
        "delta_i2c",
        "delta_c2i",
        "edit_rate",
        "p1@t2",
        "m1@t2",
        "truncation",
        "mean_completion_tokens",
    ]
    assert (m["n_problems"], m["n_samples"], m["turns"]) == (4, 1, 2)
    assert m["acc@t1"] == 0.5  # p3, p4
    assert m["acc@t2"] == 0.75  # p1, p2, p3
    assert m["delta"] == pytest.approx(0.25)
    # r2 - r1 = [1, 1, 0, -1], mean 0.25; squared deviations .5625+.5625+.0625+1.5625 = 2.75;
    # sd = sqrt(2.75 / 3) = 0.957427; se = sd / sqrt(4) = 0.478714
    assert m["delta_se"] == pytest.approx(math.sqrt(2.75 / 3) / 2)
    assert m["delta_i2c"] == 0.5  # p1, p2
    assert m["delta_c2i"] == 0.25  # p4
    assert m["delta"] == pytest.approx(m["delta_i2c"] - m["delta_c2i"])
    assert m["edit_rate"] == 0.75  # p1, p2, p4
    assert m["p1@t2"] == 1.0  # every problem is right at some turn
    # Two turns: a disagreement is a 1–1 tie, won by turn 2, so m1@t2 = Acc@t2 here.
    assert m["m1@t2"] == 0.75
    assert m["truncation"] == 1 / 8
    assert m["mean_completion_tokens"] == 87.5


def test_delta_se_is_nan_with_a_single_pair():
    m = compute_metrics(make_labels({("p1", 0): [(0, "1"), (1, "2")]}))
    assert m["delta"] == 1.0 and math.isnan(m["delta_se"])


# Five problems, one sample, three turns (answer, reward):
#   q1  A0 B1 A0   A has 2 votes -> wrong                 m=0  any=1
#   q2  A0 B0 C1   1-1-1 tie, latest is C (turn 3)        m=1  any=1
#   q3  "" "" ""   nobody answered: "" stands, reward 0   m=0  any=0
#   q4  B1 "" ""   empty answers abstain -> B             m=1  any=1
#   q5  A1 B0 ""   A-B tie, latest is B (turn 2)          m=0  any=1
# m1@t3 = 2/5, p1@t3 = 4/5; Acc by turn = [2/5 (q4,q5), 1/5 (q1), 1/5 (q2)]
THREE_TURNS = {
    ("q1", 0): [(0, "A"), (1, "B"), (0, "A")],
    ("q2", 0): [(0, "A"), (0, "B"), (1, "C")],
    ("q3", 0): [(0, ""), (0, ""), (0, "")],
    ("q4", 0): [(1, "B"), (0, ""), (0, "")],
    ("q5", 0): [(1, "A"), (0, "B"), (0, "")],
}


def test_three_turn_majority_with_ties_and_abstentions():
    labels = make_labels(THREE_TURNS)
    m = compute_metrics(labels)
    assert m["turns"] == 3
    assert m["m1@t3"] == 0.4  # exact: float32 rewards are widened before averaging
    assert m["p1@t3"] == pytest.approx(0.8)
    assert [m["acc@t1"], m["acc@t2"], m["acc@t3"]] == pytest.approx([0.4, 0.2, 0.2])
    assert accuracy_by_turn(labels) == pytest.approx([0.4, 0.2, 0.2])
    # Δ and the transitions still describe turns 1 -> 2: q1 i→c; q4, q5 c→i.
    assert m["delta_i2c"] == pytest.approx(0.2) and m["delta_c2i"] == pytest.approx(0.4)
    assert "m1@t2" not in m and "p1@t2" not in m


def test_majority_over_turns_scores_the_winning_answer_per_sample():
    # Same answers in both samples of one problem, different winners by the tie rule.
    labels = make_labels({("x", 0): [(1, "5"), (0, "6")], ("x", 1): [(0, "6"), (1, "5")]})
    assert majority_over_turns(labels) == 0.5  # sample 0 picks "6" (0), sample 1 picks "5" (1)


# Four problems, K = 3 parallel samples, one turn (answer, reward) per sample 0, 1, 2:
#   r1  X1 X1 Y0   X has 2 votes                    -> 1
#   r2  X0 Y1 Z0   three-way tie, highest sample Z  -> 0
#   r3  "" "" W1   empties abstain                  -> 1
#   r4  Y0 X1 Y0   Y has 2 votes                    -> 0
# m3@t1 = 2/4; Acc@t1 over 12 attempts = (2 + 1 + 1 + 1) / 12 = 5/12
PARALLEL = {
    ("r1", 0): [(1, "X")],
    ("r1", 1): [(1, "X")],
    ("r1", 2): [(0, "Y")],
    ("r2", 0): [(0, "X")],
    ("r2", 1): [(1, "Y")],
    ("r2", 2): [(0, "Z")],
    ("r3", 0): [(0, "")],
    ("r3", 1): [(0, "")],
    ("r3", 2): [(1, "W")],
    ("r4", 0): [(0, "Y")],
    ("r4", 1): [(1, "X")],
    ("r4", 2): [(0, "Y")],
}


def test_parallel_majority_over_k_samples():
    labels = make_labels(PARALLEL)
    m = compute_metrics(labels)
    assert (m["n_problems"], m["n_samples"], m["turns"]) == (4, 3, 1)
    assert m["m3@t1"] == 0.5
    assert majority_over_samples(labels) == 0.5
    assert m["acc@t1"] == pytest.approx(5 / 12)
    # One turn: the "any turn" and "majority over turns" metrics reduce to Acc@t1.
    assert m["p1@t1"] == pytest.approx(5 / 12) and m["m1@t1"] == pytest.approx(5 / 12)
    assert not {"delta", "delta_se", "delta_i2c", "delta_c2i", "edit_rate"} & set(m)


def test_single_sample_has_no_parallel_majority():
    assert not [
        k
        for k in compute_metrics(make_labels(TWO_TURNS))
        if k.endswith("@t1") and k.startswith("m")
    ]


def test_truncation_share_counts_every_attempt():
    attempts = {
        ("a", 0): [(0, ""), (1, "1")],
        ("b", 0): [(0, ""), (0, "")],
        ("c", 0): [(1, "2"), (1, "2")],
    }
    # 3 of the 6 attempts hit the token limit
    labels = make_labels(attempts, length={("a", 0, 1), ("b", 0, 1), ("b", 0, 2)})
    assert truncation_rate(labels) == 0.5
    assert compute_metrics(labels)["truncation"] == 0.5


def test_incomplete_table_names_the_first_incomplete_problem():
    labels = make_labels(TWO_TURNS)
    labels = labels[~((labels["problem_id"] == "p3") & (labels["turn"] == 2))]
    with pytest.raises(SelfCorrectError, match=r"problem 'p3' sample 0 is missing turn\(s\) 2"):
        turn_matrix(labels)
    with pytest.raises(SelfCorrectError, match="'p3'"):
        compute_metrics(labels)


def test_missing_first_turn_is_incomplete():
    labels = make_labels(THREE_TURNS)
    labels = labels[~((labels["problem_id"] == "q2") & (labels["turn"] == 1))]
    with pytest.raises(SelfCorrectError, match=r"'q2' sample 0 is missing turn\(s\) 1 "):
        compute_metrics(labels)


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda df: pd.concat([df, df.iloc[[0]]]), "appears more than once"),
        (lambda df: df.assign(reward=df["reward"].where(df.index != 2, 0.5)), "reward 0.5"),
        (lambda df: df.assign(model=["a", "b"] * 4), "one model"),
        (lambda df: df.iloc[0:0], "no rows"),
        (lambda df: df.drop(columns="extracted"), "'extracted'"),
    ],
)
def test_bad_tables_are_one_line_errors(corrupt, message):
    with pytest.raises(SelfCorrectError, match=message):
        compute_metrics(corrupt(make_labels(TWO_TURNS)))


def test_uneven_sample_counts_are_an_error():
    attempts = dict(PARALLEL)
    del attempts[("r2", 2)]
    with pytest.raises(SelfCorrectError, match="problem 'r2' has 2 sample"):
        compute_metrics(make_labels(attempts))


# Equivalent answers written differently must vote together (math-verify for math).
#   samples: "0.5" (right), "\frac12" (right), "3" (wrong), "3" (wrong), "1/2" (right)
SPLIT_VOTE = {
    ("s1", 0): [(1, "0.5")],
    ("s1", 1): [(1, "\\frac12")],
    ("s1", 2): [(0, "3")],
    ("s1", 3): [(0, "3")],
    ("s1", 4): [(1, "1/2")],
}


def test_majority_votes_over_equivalence_classes():
    from selfcorrect.metrics import answer_classes, scaling_curve
    from selfcorrect.rewards import get_equivalence

    labels = make_labels(SPLIT_VOTE)
    same = get_equivalence("math")
    assert answer_classes(["0.5", "3", "\\frac12", "", "1/2", "3.0"], same) == [
        "0.5",
        "3",
        "0.5",
        "",
        "0.5",
        "3",
    ]
    # raw strings: "3" has 2 votes, each spelling of one half 1 → the wrong answer wins
    assert majority_over_samples(labels) == 0.0
    # classes: one half has 3 votes → right
    assert majority_over_samples(labels, same) == 1.0
    assert compute_metrics(labels, same)["m5@t1"] == 1.0
    # sequential turns vote the same way: "3" twice against three spellings of one half
    seq = make_labels(
        {("s1", 0): [(1, "0.5"), (0, "3"), (1, "\\frac{1}{2}"), (0, "3"), (1, "1/2")]}
    )
    assert majority_over_turns(seq) == 0.0 and majority_over_turns(seq, same) == 1.0
    # exact match for arith: different strings stay apart
    exact = get_equivalence("exact")
    assert exact("0.5", "0.5") and not exact("0.5", ".5")
    # the scaling study: budget 4 votes over samples 0..3 at turn 1. Raw: four answers, one
    # vote each except nothing repeats → the tie goes to the latest, "3" (wrong); classes: one
    # half has 3 votes (right)
    order = {
        ("s1", 0): "0.5",
        ("s1", 1): "\\frac12",
        ("s1", 2): "1/2",
        ("s1", 3): "3",
        ("s1", 4): "3",
    }
    scaled = make_labels({k: [(float(a != "3"), a)] * 2 for k, a in order.items()})
    assert scaling_curve(scaled, [4])["parallel"].tolist() == [0.0]
    assert scaling_curve(scaled, [4], same)["parallel"].tolist() == [1.0]
