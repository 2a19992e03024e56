"""Baseline training sets on hand-made rollout tables."""

import pandas as pd

from selfcorrect.train.baseline_data import pair_sft_data, star_data, traces

# (problem, sample): (y1, r1, y2, r2)
TRACES = {
    ("p", 0): ("a", 0, "b", 1),  # incorrect -> correct
    ("p", 1): ("c", 1, "c", 1),  # correct -> correct
    ("p", 2): ("d", 0, "d", 0),  # incorrect -> incorrect
    ("p", 3): ("e", 1, "f", 0),  # correct -> incorrect
    ("q", 0): ("g", 0, "h", 0),  # q has no correct first attempt
}


def _tables():
    rollouts, labels = [], []
    for (pid, s), (y1, r1, y2, r2) in TRACES.items():
        for turn, (y, r) in enumerate([(y1, r1), (y2, r2)], start=1):
            key = {"problem_id": pid, "sample": s, "turn": turn}
            ctx = f"{pid}|" + ("" if turn == 1 else f"{y1}|fix")
            rollouts.append({**key, "context": ctx, "completion": y})
            labels.append({**key, "reward": float(r)})
    # shuffled input order must not matter
    return pd.DataFrame(rollouts[::-1]), pd.DataFrame(labels)


def test_traces_pairs_turns():
    t = traces(*_tables())
    assert list(t["y1"]) == ["a", "c", "d", "e", "g"]
    assert list(t["y2"]) == ["b", "c", "d", "f", "h"]
    assert list(t["ctx2"])[:2] == ["p|a|fix", "p|c|fix"]


def test_star_keeps_traces_whose_second_attempt_is_correct():
    data = star_data(traces(*_tables()))
    assert list(zip(data["sample"], data["context"], data["action"])) == [
        (0, "p|a|fix", "b"),
        (1, "p|c|fix", "c"),
    ]
    assert list(data["current_reward"]) == [0.0, 1.0]  # r1 of the trace
    assert set(data["turn"]) == {2}


def test_pair_sft_pairs_only_incorrect_to_correct():
    data = pair_sft_data(traces(*_tables()))
    # incorrect first attempts of p: samples 0 and 2; correct first attempts: c (1), e (3).
    # Partners: the next correct sample after one's own, cyclically. q has none: no pairs.
    assert list(zip(data["sample"], data["context"], data["action"])) == [
        (0, "p|a|fix", "c"),
        (2, "p|d|fix", "e"),
    ]
    assert set(data["reward"]) == {1.0}
    assert set(data["current_reward"]) == {0.0}


def test_pair_sft_plus_adds_correct_to_correct():
    data = pair_sft_data(traces(*_tables()), plus=True)
    pairs = list(zip(data["sample"], data["action"]))
    # sample 1 (correct) pairs with the next correct one (3: e); sample 3 wraps to 1 (c)
    assert pairs == [(0, "c"), (1, "e"), (2, "e"), (3, "c")]
    assert list(data["current_reward"]) == [0.0, 1.0, 0.0, 1.0]
