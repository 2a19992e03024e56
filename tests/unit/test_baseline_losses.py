"""The baselines' losses on hand-computed tensors: SFT and STaR in place of REINFORCE."""

import math

import pytest
import torch

from selfcorrect.train.losses import AttemptBatch, LossConfig, get_loss


def _batch(logp, mask, reward, ref=None):
    logp = torch.tensor(logp, requires_grad=True)
    return AttemptBatch(
        logp=logp,
        ref_logp=torch.tensor(ref) if ref else logp.detach().clone(),
        mask=torch.tensor(mask),
        reward=torch.tensor(reward),
    )


def test_sft_is_token_mean_nll():
    a = _batch([[-1.0, -2.0], [-0.5, 0.0]], [[1.0, 1.0], [1.0, 0.0]], [1.0, 0.0])
    loss, stats = get_loss("sft")(a, None, LossConfig(k=1))
    # every example weighted 1, whatever its reward: (1 + 2 + 0.5) / 3 tokens
    assert loss.item() == pytest.approx(3.5 / 3)
    loss.backward()
    assert torch.allclose(a.logp.grad, torch.tensor([[-1 / 3, -1 / 3], [-1 / 3, 0.0]]))
    assert stats["reward_mean"] == pytest.approx(0.5)


def test_star_stage2_trains_only_correct_attempts():
    # two rollouts; attempt 1: rewards 1, 0; attempt 2: rewards 0, 1. One token each.
    a1 = _batch([[-1.0], [-3.0]], [[1.0], [1.0]], [1.0, 0.0], ref=[[-1.5], [-3.0]])
    a2 = _batch([[-2.0], [-4.0]], [[1.0], [1.0]], [0.0, 1.0], ref=[[-2.0], [-4.0]])
    cfg = LossConfig(k=2, beta1=0.1, kl_estimator="k3")
    loss, stats = get_loss("star_stage2")(a1, a2, cfg)
    # normalised by the kept tokens: the wrong attempt's token is not in the SFT data
    nll1 = 1.0 / 1  # only rollout 0 (correct) counts, over its 1 token
    nll2 = 4.0 / 1  # only rollout 1
    d = -1.5 - (-1.0)  # Δ = log π_ref − log π_θ at attempt 1, rollout 0; others are 0
    kl1 = (math.exp(d) - d - 1) / 2  # mean over 2 rollouts
    assert loss.item() == pytest.approx(nll1 + nll2 + 0.1 * kl1)
    loss.backward()
    # a wrong attempt gets no likelihood gradient (its KL gradient is 0 here: Δ = 0)
    assert float(a1.logp.grad[1, 0]) == 0.0
    assert float(a2.logp.grad[0, 0]) == 0.0
    assert float(a2.logp.grad[1, 0]) == pytest.approx(-1.0)
    assert stats["reward_t2"] == pytest.approx(0.5)


def test_star_stage2_needs_attempt2():
    a1 = _batch([[-1.0]], [[1.0]], [1.0])
    with pytest.raises(ValueError, match="attempt2"):
        get_loss("star_stage2")(a1, None, LossConfig(k=1))
