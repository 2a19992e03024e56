import pandas as pd
import pytest

from selfcorrect.errors import SelfCorrectError
from selfcorrect.metrics import scaling_curve


def _labels(answers: dict, gold: dict) -> pd.DataFrame:
    """answers[(problem, sample)] = (turn-1 answer, turn-2 answer)."""
    rows = []
    for (p, s), pair in answers.items():
        for t, a in enumerate(pair, start=1):
            rows.append(
                {
                    "problem_id": p,
                    "sample": s,
                    "turn": t,
                    "extracted": a,
                    "reward": float(a == gold[p]),
                    "finish_reason": "stop",
                    "completion_tokens": 3,
                }
            )
    return pd.DataFrame(rows)


def test_scaling_curve_by_hand():
    # One problem, gold "5", K = 4 samples.
    # turn 1: 5, 7, 7, 5     turn 2: 5, 5, 7, 5
    labels = _labels(
        {("p", 0): ("5", "5"), ("p", 1): ("7", "5"), ("p", 2): ("7", "7"), ("p", 3): ("5", "5")},
        {"p": "5"},
    )
    curve = scaling_curve(labels, [2, 4]).set_index("budget")
    # B=2 parallel: blocks {0,1} -> 5 vs 7 tie, latest sample (7) wins -> 0; {2,3} -> tie,
    # latest (5) wins -> 1; mean 0.5. Sequential: B/2 = 1 chain per block: turn-2 answers of
    # samples 0,1,2,3 -> 1,1,0,1 -> 0.75.
    assert curve.loc[2, "parallel"] == pytest.approx(0.5)
    assert curve.loc[2, "sequential"] == pytest.approx(0.75)
    # B=4 parallel: 5,7,7,5 tie -> latest (sample 3: 5) -> 1. Sequential: blocks {0,1},{2,3}
    # of turn-2 answers: 5,5 -> 1; 7,5 tie -> latest (5) -> 1; mean 1.
    assert curve.loc[4, "parallel"] == pytest.approx(1.0)
    assert curve.loc[4, "sequential"] == pytest.approx(1.0)
    assert curve["problems"].tolist() == [1, 1]


def test_scaling_curve_two_problems_and_leftover_samples():
    # K = 3: budget 2 uses one block of 2 for parallel (sample 2 left over) and 3 blocks of 1.
    gold = {"a": "1", "b": "2"}
    labels = _labels(
        {
            ("a", 0): ("1", "1"),
            ("a", 1): ("1", "0"),
            ("a", 2): ("0", "1"),
            ("b", 0): ("0", "2"),
            ("b", 1): ("0", "0"),
            ("b", 2): ("2", "2"),
        },
        gold,
    )
    curve = scaling_curve(labels, [2]).iloc[0]
    # parallel: a {1,1} -> 1; b {0,0} -> 0 -> 0.5
    assert curve["parallel"] == pytest.approx(0.5)
    # sequential (blocks of 1, turn 2): a 1,0,1 -> 2/3; b 1,0,1 -> 2/3
    assert curve["sequential"] == pytest.approx(2 / 3)


def test_scaling_curve_rejects_bad_budget():
    labels = _labels({("p", 0): ("5", "5"), ("p", 1): ("5", "5")}, {"p": "5"})
    with pytest.raises(SelfCorrectError, match="budget 4"):
        scaling_curve(labels, [4])
    with pytest.raises(SelfCorrectError, match="budget 3"):
        scaling_curve(labels, [3])
