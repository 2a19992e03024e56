"""SCoRe Stage II: leave-one-out groups by problem (offline starts included) and the two credit
readings (docs/methods.md, "Advantages" and "Credit"), on hand-made tensors and rollouts."""

import itertools

import pytest
import torch

from selfcorrect.config import validate_config
from selfcorrect.errors import SelfCorrectError
from selfcorrect.rollout.backend import Generation
from selfcorrect.train.losses import (
    AttemptBatch,
    LossConfig,
    get_loss,
    leave_one_out_advantage,
    stage2_returns,
)
from selfcorrect.train.score import Rollout, group_ids, problem_groups


def t(x, **kw):
    return torch.tensor(x, dtype=torch.float32, **kw)


# ------------------------------------------------------------------ leave-one-out groups


def test_leave_one_out_with_a_group_tensor_of_unequal_groups():
    # groups: problem 7 → [1, 0, 1] (3 samples), problem 2 → [0, 1] (2), problem 5 → [1] (1)
    r = t([1.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    g = torch.tensor([7, 7, 2, 7, 2, 5])
    adv = leave_one_out_advantage(r, g)
    # 7: r=[1, 0, 1] → [1 − 0.5, 0 − 1, 1 − 0.5]; 2: [0 − 1, 1 − 0]; 5: alone → 0
    assert torch.allclose(adv, t([0.5, -1.0, -1.0, 0.5, 1.0, 0.0]))
    # an int k is problem-major groups of k, as before
    r = t([1.0, 0.0, 1.0, 1.0])
    assert torch.allclose(
        leave_one_out_advantage(r, 2), leave_one_out_advantage(r, torch.tensor([0, 0, 1, 1]))
    )


def rollout(problem, r1, offline=False):
    return Rollout(problem, Generation("y", 0, 0, "stop"), None, r1, 0.0, offline=offline)


def test_offline_starts_form_their_own_whole_groups():
    # the embedded default's layout in small: K = 4 on-policy samples of problems 0 and 1, then
    # offline starts with only 2 base samples each (the base rolled out fewer than K) of 1 and 3.
    # Cutting this list into blocks of K (the old `update`) put problems 1 and 3 in one block.
    rs = (
        [rollout(0, 1.0)] * 4
        + [rollout(1, 0.0)] * 4
        + [rollout(1, 1.0, True)] * 2
        + [rollout(3, 0.0, True)] * 2
    )
    blocks = [rs[i : i + 4] for i in range(0, len(rs), 4)]
    assert {r.problem for r in blocks[2]} == {1, 3}  # the bug, for the record
    groups = problem_groups(rs)
    assert [[(r.problem, r.offline) for r in g] for g in groups] == [
        [(0, False)] * 4,
        [(1, False)] * 4,
        [(1, True)] * 2,
        [(3, True)] * 2,
    ]
    # on-policy and offline starts of problem 1 are different start distributions: apart
    assert group_ids(rs) == [0] * 4 + [1] * 4 + [2] * 2 + [3] * 2


def test_problem_groups_keeps_groups_whole_when_a_problem_is_split():
    rs = [rollout(5, 1.0), rollout(6, 0.0), rollout(5, 0.0), rollout(6, 1.0)]
    groups = problem_groups(rs)
    assert [[r.problem for r in g] for g in groups] == [[5, 5], [6, 6]]
    assert group_ids(rs) == [0, 1, 0, 1]


# ------------------------------------------------------------------ credit


def test_stage2_returns_per_attempt_and_episode():
    r1, r2 = t([0.0, 1.0, 1.0, 0.0]), t([1.0, 1.0, 0.0, 0.0])
    s1, s2 = stage2_returns(r1, r2, 3.0, "per_attempt")
    assert torch.equal(s1, r1) and torch.equal(s2, t([4.0, 1.0, -3.0, 0.0]))
    e1, e2 = stage2_returns(r1, r2, 3.0, "episode")
    # attempt 1 gets the return from it on: r̃1 + r̃2
    assert torch.equal(e1, t([4.0, 2.0, -2.0, 0.0])) and torch.equal(e2, s2)
    with pytest.raises(ValueError, match="unknown credit"):
        stage2_returns(r1, r2, 3.0, "gamma")
    with pytest.raises(ValueError, match="unknown credit"):
        LossConfig(k=2, credit="gamma")


def stage2_batch(logp, reward):
    logp = t(logp, requires_grad=True)
    return AttemptBatch(
        logp=logp, ref_logp=logp.detach().clone(), mask=torch.ones_like(logp), reward=t(reward)
    )


@pytest.mark.parametrize(
    "credit,loss,grad1",
    [
        # per-attempt: ret1 = r1 = [0, 1] → A1 = [−1, 1]; pg1 = −mean(A1·logp1) = −(1 − 2)/2
        ("per_attempt", 0.5, [0.5, -0.5]),
        # episode: ret1 = r̃1 + r̃2 = [0 + 4, 1 + 1] → A1 = [2, −2]; pg1 = −(−2 + 4)/2
        ("episode", -1.0, [-1.0, 1.0]),
    ],
)
def test_score_stage2_credit_reaches_attempt1(credit, loss, grad1):
    a1 = stage2_batch([[-1.0], [-2.0]], [0.0, 1.0])
    a2 = stage2_batch([[-1.0], [-1.0]], [1.0, 1.0])  # r̃2 = [4, 1] → A2 = [3, −3]
    cfg = LossConfig(k=2, alpha=3.0, beta1=0.0, kl_estimator="k3", credit=credit)
    value, stats = get_loss("score_stage2")(a1, a2, cfg)
    pg2 = -(3.0 * -1.0 + -3.0 * -1.0) / 2  # 0: attempt 2 is credited alike in both readings
    assert value.item() == pytest.approx(loss + pg2)
    value.backward()
    assert torch.allclose(a1.logp.grad[:, 0], t(grad1))
    assert torch.allclose(a2.logp.grad[:, 0], t([-1.5, 1.5]))
    assert stats["adv_abs_t1"] == pytest.approx(1.0 if credit == "per_attempt" else 2.0)


def tabular_expected_gradient(alpha: float, r2_scale: float, credit: str) -> torch.Tensor:
    """Exact E[∇ surrogate] of a two-attempt tabular policy (action 1 = correct), by
    enumerating every (y1, y2): Σ p(y1,y2)·[ret1·∇log π(y1) + ret2·∇log π(y2|y1)]."""
    theta1 = torch.tensor([0.3, -0.2], requires_grad=True)  # logits of y1
    theta2 = torch.tensor([[0.1, -0.4], [0.5, 0.2]], requires_grad=True)  # logits of y2 | y1
    logp1, logp2 = theta1.log_softmax(0), theta2.log_softmax(1)
    surrogate = 0.0
    for y1, y2 in itertools.product((0, 1), repeat=2):
        prob = float((logp1[y1] + logp2[y1, y2]).exp())
        ret1, ret2 = stage2_returns(t([float(y1)]), t([float(y2) * r2_scale]), alpha, credit)
        surrogate = surrogate + prob * (ret1 * logp1[y1] + ret2 * logp2[y1, y2]).sum()
    surrogate.backward()
    return torch.cat([theta1.grad, theta2.grad.flatten()])


def test_per_attempt_bonus_only_rescales_r2_but_episode_credit_reaches_attempt1():
    # per-attempt credit: α = 10 has the same expected gradient as α = 0 with r2 × 11
    # (the −α·r1 inside r̃2 is a baseline for attempt 2 given attempt 1)
    shaped = tabular_expected_gradient(10.0, 1.0, "per_attempt")
    scaled = tabular_expected_gradient(0.0, 11.0, "per_attempt")
    assert torch.allclose(shaped, scaled, atol=1e-6)
    # episode credit: the bonus changes attempt 1's gradient, attempt 2's is unchanged
    shaped_ep = tabular_expected_gradient(10.0, 1.0, "episode")
    scaled_ep = tabular_expected_gradient(0.0, 11.0, "episode")
    assert not torch.allclose(shaped_ep[:2], scaled_ep[:2], atol=1e-3)
    assert torch.allclose(shaped_ep[2:], scaled_ep[2:], atol=1e-6)


# ------------------------------------------------------------------ config


def test_config_refuses_groups_of_one():
    with pytest.raises(SelfCorrectError, match="score.samples: 1 leaves no other sample"):
        validate_config({"models": ["score"], "score": {"samples": 1}})
    with pytest.raises(
        SelfCorrectError,
        match="score.offline_starts: 0.25 needs 2 or more base samples.*rollout.train.samples is 1",
    ):
        validate_config({"models": ["score"], "rollout": {"train": {"samples": 1}}})
    # without offline starts, or without a Stage II model, one base sample is fine
    validate_config(
        {"models": ["score"], "rollout": {"train": {"samples": 1}}, "score": {"offline_starts": 0}}
    )
    validate_config({"models": ["base"], "rollout": {"train": {"samples": 1}}})
    assert validate_config({})["score"]["credit"] == "per_attempt"
