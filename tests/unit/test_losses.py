"""SCoRe losses against hand-computed values (every expected number is derived in a comment)."""

import math

import pytest
import torch

from selfcorrect.train.losses import (
    KL_ESTIMATORS,
    LOSSES,
    AttemptBatch,
    LossConfig,
    attempt_kl,
    get_kl,
    get_loss,
    leave_one_out_advantage,
    reinforce_term,
    shaped_rewards,
)

LN2 = math.log(2.0)


def t(x, **kw):
    return torch.tensor(x, dtype=torch.float32, **kw)


# ----------------------------------------------------------------------------- KL estimators


def test_k1_and_k3_per_token_values():
    logp = t([-1.0, -1.0, -1.0])
    ref = t([-1.0 + LN2, -1.0 - LN2, -1.0])
    # k1 = logp − ref = [−ln2, ln2, 0]
    assert torch.allclose(get_kl("k1")(logp, ref), t([-LN2, LN2, 0.0]))
    # Δ = ref − logp = [ln2, −ln2, 0]; k3 = e^Δ − Δ − 1:
    #   Δ=ln2 → 2 − ln2 − 1 = 1 − ln2 ≈ 0.3069;  Δ=−ln2 → 0.5 + ln2 − 1 = ln2 − 0.5 ≈ 0.1931;  0
    assert torch.allclose(get_kl("k3")(logp, ref), t([1 - LN2, LN2 - 0.5, 0.0]))
    # k2 = ½(logp − ref)² = [ln2²/2, ln2²/2, 0]
    assert torch.allclose(get_kl("k2")(logp, ref), t([LN2**2 / 2, LN2**2 / 2, 0.0]))


def test_k3_is_non_negative():
    g = torch.Generator().manual_seed(0)
    logp, ref = torch.randn(64, generator=g) * 3, torch.randn(64, generator=g) * 3
    assert (get_kl("k3")(logp, ref) >= 0).all()


def test_attempt_kl_sums_only_masked_tokens():
    mask = torch.tensor([[True, True, False], [True, False, False]])
    logp = t([[-1.0, -2.0, -3.0], [-0.5, -0.5, -0.5]])
    # per-token k1 = logp − ref = [[0.5, 0.25, 100], [1.0, 7, 7]]; off-mask values are ignored
    ref = logp - t([[0.5, 0.25, 100.0], [1.0, 7.0, 7.0]])
    # row 0: 0.5 + 0.25 = 0.75; row 1: 1.0
    assert torch.allclose(attempt_kl(logp, ref, mask, "k1"), t([0.75, 1.0]))
    # float 0/1 masks work the same
    assert torch.allclose(attempt_kl(logp, ref, mask.float(), "k1"), t([0.75, 1.0]))


def test_attempt_kl_padding_with_minus_inf_gives_no_nan():
    logp = t([[-1.0, float("-inf")]], requires_grad=True)
    ref = t([[-1.0 + LN2, float("-inf")]])
    kl = attempt_kl(logp, ref, torch.tensor([[True, False]]), "k3")
    assert torch.allclose(kl, t([1 - LN2]))  # only token 0: Δ = ln2 → 1 − ln2
    kl.sum().backward()
    assert torch.isfinite(logp.grad).all() and logp.grad[0, 1] == 0


def test_kl_registry_lookup_and_unknown_name():
    assert {"k1", "k2", "k3"} <= set(KL_ESTIMATORS)
    assert get_kl("k3") is KL_ESTIMATORS["k3"]
    with pytest.raises(ValueError, match=r"unknown KL estimator 'k9'.*k1, k2, k3"):
        get_kl("k9")
    with pytest.raises(ValueError, match="k9"):
        attempt_kl(torch.zeros(1, 1), torch.zeros(1, 1), torch.ones(1, 1), "k9")


# ----------------------------------------------------------------------------- advantages


def test_leave_one_out_k2():
    # problem 0: [1, 0] → 1 − 0 = 1, 0 − 1 = −1; problem 1: [1, 1] → 0, 0
    adv = leave_one_out_advantage(t([1.0, 0.0, 1.0, 1.0]), 2)
    assert torch.equal(adv, t([1.0, -1.0, 0.0, 0.0]))


def test_leave_one_out_k3():
    # problem 0: [1, 0, 0] → 1 − (0+0)/2 = 1; 0 − (1+0)/2 = −0.5; −0.5
    # problem 1: [1, 1, 0] → 1 − (1+0)/2 = 0.5; 0.5; 0 − (1+1)/2 = −1
    adv = leave_one_out_advantage(t([1.0, 0.0, 0.0, 1.0, 1.0, 0.0]), 3)
    assert torch.allclose(adv, t([1.0, -0.5, -0.5, 0.5, 0.5, -1.0]))
    # shaped (non-binary) rewards: [11, −10, 0] → 11 − (−5) = 16; −10 − 5.5 = −15.5; 0 − 0.5 = −0.5
    assert torch.allclose(leave_one_out_advantage(t([11.0, -10.0, 0.0]), 3), t([16.0, -15.5, -0.5]))


def test_leave_one_out_k1_is_zero_and_bad_shapes_raise():
    # K = 1: no other sample to form a baseline → advantage 0 by convention
    assert torch.equal(leave_one_out_advantage(t([1.0, 0.0, 1.0]), 1), torch.zeros(3))
    with pytest.raises(ValueError, match="divide N"):
        leave_one_out_advantage(t([1.0, 0.0, 1.0]), 2)
    with pytest.raises(ValueError, match="k must be"):
        leave_one_out_advantage(t([1.0]), 0)


def test_leave_one_out_is_detached():
    r = t([1.0, 0.0], requires_grad=True)
    adv = leave_one_out_advantage(r, 2)
    assert not adv.requires_grad
    # integer rewards are accepted and come back as floats
    assert leave_one_out_advantage(torch.tensor([1, 0]), 2).dtype == torch.float32


def test_shaped_rewards_alpha_10():
    r1, r2 = t([1.0, 0.0, 1.0, 0.0]), t([0.0, 1.0, 1.0, 0.0])
    s1, s2 = shaped_rewards(r1, r2, 10.0)
    assert torch.equal(s1, r1)
    # c→i: 0 + 10(0−1) = −10; i→c: 1 + 10(1−0) = 11; c→c: 1 + 0 = 1; i→i: 0
    assert torch.equal(s2, t([-10.0, 11.0, 1.0, 0.0]))
    # α = 0 (the "w/o reward shaping" ablation) leaves r2 unchanged
    assert torch.equal(shaped_rewards(r1, r2, 0.0)[1], r2)


# ----------------------------------------------------------------------------- REINFORCE


def test_reinforce_term_value_and_gradient():
    logp = t([[-1.0, -2.0, -50.0], [-0.5, -0.5, -9.0]], requires_grad=True)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    adv = t([1.0, -1.0])
    # Σ_t logp·mask = [−3, −10]; loss = −mean(1·(−3), −1·(−10)) = −(−3 + 10)/2 = −3.5
    loss = reinforce_term(logp, mask, adv)
    assert torch.isclose(loss, t(-3.5))
    loss.backward()
    # ∂loss/∂logp_it = −A_i·mask_it / N, N = 2
    assert torch.allclose(logp.grad, t([[-0.5, -0.5, 0.0], [0.5, 0.5, 0.5]]))


def test_reinforce_term_detaches_advantages():
    logp = t([[-1.0], [-2.0]], requires_grad=True)
    adv = t([1.0, -1.0], requires_grad=True)
    reinforce_term(logp, torch.ones(2, 1, dtype=torch.bool), adv).backward()
    assert adv.grad is None and logp.grad is not None


# ----------------------------------------------------------------------------- method losses
# One hand-made batch: N = 4 attempts = 2 problems × K = 2, L = 3, masks of different lengths.
# Off-mask positions hold junk (−50 log-probs, KL 9) that must never count.

MASK1 = [[1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 0]]
LOGP1 = [[-1.0, -1.0, -50.0], [-1.0, -50.0, -50.0], [-1.0, -1.0, -1.0], [-0.5, -0.5, -50.0]]
# Σ_t logp1 = [−2, −1, −3, −1]
K1_TOKENS1 = [[0.1, 0.2, 9.0], [0.3, 9.0, 9.0], [0.1, 0.1, 0.1], [0.0, 0.4, 9.0]]
# per-attempt k1 KL1 = [0.3, 0.3, 0.3, 0.4], mean = 1.3/4 = 0.325
MASK2 = [[1, 0, 0], [1, 1, 0], [1, 1, 1], [1, 0, 0]]
LOGP2 = [[-1.0, -50.0, -50.0], [-1.0, -1.0, -50.0], [-0.5, -0.5, -1.0], [-2.0, -50.0, -50.0]]
# Σ_t logp2 = [−1, −2, −2, −2]
K1_TOKENS2 = [[0.2, 9.0, 9.0], [0.1, 0.1, 9.0], [0.0, 0.0, 0.0], [0.4, 9.0, 9.0]]
# per-attempt k1 KL2 = [0.2, 0.2, 0.0, 0.4], mean = 0.8/4 = 0.2


def batch(logp, k1_tokens, mask, reward, reward_grad=False):
    logp = t(logp, requires_grad=True)
    ref = (logp - t(k1_tokens)).detach()  # so that k1 = logp − ref = k1_tokens
    return AttemptBatch(logp, ref, torch.tensor(mask).bool(), t(reward, requires_grad=reward_grad))


def attempts(r1=(1.0, 0.0, 1.0, 0.0), r2=(1.0, 0.0, 0.0, 1.0), reward_grad=False):
    return (
        batch(LOGP1, K1_TOKENS1, MASK1, list(r1), reward_grad),
        batch(LOGP2, K1_TOKENS2, MASK2, list(r2), reward_grad),
    )


def test_stage1_value_and_stats():
    a1, a2 = attempts()
    cfg = LossConfig(k=2, beta1=0.01, beta2=0.1, kl_estimator="k1")
    loss, stats = get_loss("score_stage1")(a1, a2, cfg)
    # r2 = [1, 0, 0, 1] → LOO (K=2) = [1, −1, −1, 1]
    # pg = −mean(1·(−1), −1·(−2), −1·(−2), 1·(−2)) = −(−1 + 2 + 2 − 2)/4 = −0.25
    # loss = −0.25 + β2·0.325 + β1·0.2 = −0.25 + 0.0325 + 0.002 = −0.2155
    assert loss.item() == pytest.approx(-0.2155, abs=1e-6)
    assert stats["pg_loss"] == pytest.approx(-0.25)
    assert stats["kl_loss"] == pytest.approx(0.0345)
    assert stats["kl_t1"] == pytest.approx(0.325) and stats["kl_t2"] == pytest.approx(0.2)
    assert stats["reward_t1"] == pytest.approx(0.5) and stats["reward_t2"] == pytest.approx(0.5)
    assert stats["adv_abs_t2"] == pytest.approx(1.0)
    assert all(isinstance(v, float) for v in stats.values())


def test_stage1_gradients():
    a1, a2 = attempts()
    cfg = LossConfig(k=2, beta1=0.01, beta2=0.1, kl_estimator="k1")
    loss, _ = get_loss("score_stage1")(a1, a2, cfg)
    loss.backward()
    m1, m2 = t(MASK1), t(MASK2)
    # attempt 1: only the KL term, ∂(β2·mean_i Σ_t k1)/∂logp1 = β2·mask/N = 0.1/4 = 0.025
    assert torch.allclose(a1.logp.grad, 0.025 * m1)
    # attempt 2: −A_i·mask/N + β1·mask/N with A = [1, −1, −1, 1], N = 4
    adv = t([1.0, -1.0, -1.0, 1.0])[:, None]
    assert torch.allclose(a2.logp.grad, (-adv / 4 + 0.01 / 4) * m2)


def test_stage1_without_beta2_leaves_attempt1_untouched():
    for estimator in ("k1", "k3"):
        a1, a2 = attempts()
        cfg = LossConfig(k=2, beta1=0.01, beta2=0.0, kl_estimator=estimator)
        get_loss("score_stage1")(a1, a2, cfg)[0].backward()
        # no policy-gradient term on attempt 1: with β2 = 0 its gradient is exactly zero
        assert torch.count_nonzero(a1.logp.grad) == 0
        assert torch.count_nonzero(a2.logp.grad) > 0


def test_stage1_default_k3_matches_attempt_kl():
    a1, a2 = attempts()
    cfg = LossConfig(k=2)  # k3, β1 0.01, β2 0.1
    loss, stats = get_loss("score_stage1")(a1, a2, cfg)
    kl1 = attempt_kl(a1.logp, a1.ref_logp, a1.mask).mean().item()
    kl2 = attempt_kl(a2.logp, a2.ref_logp, a2.mask).mean().item()
    # per-token k3 with Δ = −k1: e^{−0.1} + 0.1 − 1 ≈ 0.004837 etc.; check one attempt by hand:
    # attempt 1 row 0: (e^{−0.1} + 0.1 − 1) + (e^{−0.2} + 0.2 − 1) ≈ 0.004837 + 0.018731 = 0.023568
    k3 = lambda d: math.exp(-d) + d - 1
    assert attempt_kl(a1.logp, a1.ref_logp, a1.mask)[0].item() == pytest.approx(k3(0.1) + k3(0.2))
    assert loss.item() == pytest.approx(-0.25 + 0.1 * kl1 + 0.01 * kl2, abs=1e-6)
    assert stats["kl_t1"] == pytest.approx(kl1)


def test_stage2_value_with_alpha():
    a1, a2 = attempts(r1=(1.0, 0.0, 1.0, 0.0), r2=(1.0, 1.0, 0.0, 0.0))
    cfg = LossConfig(k=2, alpha=10.0, beta1=0.01, beta2=123.0, kl_estimator="k1")  # β2 unused
    loss, stats = get_loss("score_stage2")(a1, a2, cfg)
    # r̃1 = [1, 0, 1, 0] → LOO [1, −1, 1, −1]
    # pg1 = −mean(1·(−2), −1·(−1), 1·(−3), −1·(−1)) = −(−2 + 1 − 3 + 1)/4 = 0.75
    # r̃2 = r2 + 10(r2 − r1) = [1, 11, −10, 0] → LOO [1−11, 11−1, −10−0, 0+10] = [−10, 10, −10, 10]
    # pg2 = −mean(−10·(−1), 10·(−2), −10·(−2), 10·(−2)) = −(10 − 20 + 20 − 20)/4 = 2.5
    # loss = 0.75 + 2.5 + 0.01·(0.325 + 0.2) = 3.25525
    assert loss.item() == pytest.approx(3.25525, abs=1e-5)
    assert stats["pg_loss"] == pytest.approx(3.25)
    assert stats["shaped_reward_t2"] == pytest.approx(0.5)  # (1 + 11 − 10 + 0)/4
    assert stats["adv_abs_t1"] == pytest.approx(1.0) and stats["adv_abs_t2"] == pytest.approx(10.0)
    loss.backward()
    # per-attempt credit (γ = 0): attempt 1 sees only its own advantage (+ β1 KL)
    adv1 = t([1.0, -1.0, 1.0, -1.0])[:, None]
    assert torch.allclose(a1.logp.grad, (-adv1 / 4 + 0.01 / 4) * t(MASK1))


def test_stage2_without_shaping():
    a1, a2 = attempts(r1=(1.0, 0.0, 1.0, 0.0), r2=(1.0, 1.0, 0.0, 0.0))
    cfg = LossConfig(k=2, alpha=0.0, beta1=0.0, kl_estimator="k1")
    loss, _ = get_loss("score_stage2")(a1, a2, cfg)
    # r̃2 = r2 = [1, 1, 0, 0] → LOO [0, 0, −1, 1]; pg2 = −(0 + 0 + 2 − 2)/4 = 0; pg1 = 0.75
    assert loss.item() == pytest.approx(0.75)


def test_single_turn():
    a1, a2 = attempts(r1=(1.0, 0.0, 1.0, 0.0))
    cfg = LossConfig(k=2, beta1=0.01, kl_estimator="k1")
    loss, stats = get_loss("single_turn")(a1, None, cfg)
    # LOO(r1) = [1, −1, 1, −1] → pg1 = 0.75 (as in stage 2); + 0.01·0.325 = 0.75325
    assert loss.item() == pytest.approx(0.75325, abs=1e-6)
    assert "reward_t2" not in stats and stats["adv_abs_t1"] == pytest.approx(1.0)
    # a second attempt, if given, is reported but not trained
    loss2, stats2 = get_loss("single_turn")(a1, a2, cfg)
    assert loss2.item() == pytest.approx(0.75325, abs=1e-6)
    assert stats2["kl_t2"] == pytest.approx(0.2)
    loss2.backward()
    assert a2.logp.grad is None


def test_advantages_are_detached_in_every_loss():
    for name in ("score_stage1", "score_stage2", "single_turn"):
        a1, a2 = attempts(reward_grad=True)
        loss, _ = get_loss(name)(a1, a2, LossConfig(k=2))
        loss.backward()
        assert a1.reward.grad is None and a2.reward.grad is None


def test_loss_registry_and_errors():
    assert {"score_stage1", "score_stage2", "single_turn"} <= set(LOSSES)
    with pytest.raises(ValueError, match=r"unknown loss 'ppo'.*score_stage1"):
        get_loss("ppo")
    a1, _ = attempts()
    with pytest.raises(ValueError, match="needs attempt2"):
        get_loss("score_stage2")(a1, None, LossConfig(k=2))
    with pytest.raises(ValueError, match="unknown KL estimator"):
        get_loss("single_turn")(a1, None, LossConfig(k=2, kl_estimator="k7"))
    with pytest.raises(ValueError, match=r"\[N, L\]"):
        AttemptBatch(torch.zeros(2, 3), torch.zeros(2, 2), torch.ones(2, 3), torch.zeros(2))
    with pytest.raises(ValueError, match="reward must be"):
        AttemptBatch(torch.zeros(2, 3), torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(3))


# ----------------------------------------------------------------------------- RISE

from selfcorrect.train.losses import rise_weights, weighted_nll

E = math.exp


def test_rise_weights_rwr_and_awr_by_hand():
    r, g = t([1.0, 0.0, 1.0, 1.0]), torch.tensor([0, 0, 1, 1])
    # rwr: exp(r/0.4) = [e^2.5, e^0, e^2.5, e^2.5]
    assert torch.allclose(rise_weights(r, g, 0.4, "rwr"), t([E(2.5), 1.0, E(2.5), E(2.5)]))
    # awr: group means 0.5 and 1 → exp([0.5, −0.5, 0, 0]/0.4) = [e^1.25, e^−1.25, 1, 1]
    assert torch.allclose(rise_weights(r, g, 0.4, "awr"), t([E(1.25), E(-1.25), 1.0, 1.0]))
    # groups are problem indices, not positions: any labels, any order, uneven sizes
    g2 = torch.tensor([7, 3, 7, 7])  # group 7: [1, 1, 1] mean 1; group 3: [0] mean 0
    assert torch.allclose(rise_weights(r, g2, 0.4, "awr"), torch.ones(4))
    # an int k means problem-major groups of k (here == g)
    assert torch.allclose(rise_weights(r, 2, 0.4, "awr"), rise_weights(r, g, 0.4, "awr"))
    # default τ = 0.4, default variant rwr
    assert torch.allclose(rise_weights(r, g), rise_weights(r, g, 0.4, "rwr"))


def test_rise_weights_are_detached_and_validated():
    r = t([1.0, 0.0], requires_grad=True)
    for variant in ("rwr", "awr"):
        assert not rise_weights(r, torch.tensor([0, 0]), 0.4, variant).requires_grad
    with pytest.raises(ValueError, match=r"unknown RISE weighting 'pg'.*awr, rwr"):
        rise_weights(r, torch.tensor([0, 0]), 0.4, "pg")
    with pytest.raises(ValueError, match="group must be"):
        rise_weights(r, torch.tensor([0, 0, 1]), 0.4, "awr")
    with pytest.raises(ValueError, match="tau"):
        rise_weights(r, torch.tensor([0, 0]), 0.0, "rwr")


def test_weighted_nll_value_and_gradient():
    logp = t([[-1.0, -2.0, -50.0], [-0.5, -9.0, float("-inf")]], requires_grad=True)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    w = t([2.0, 4.0], requires_grad=True)
    # Σ_t mask·logp = [−3, −0.5]; Σ mask = 3 tokens; loss = −(2·(−3) + 4·(−0.5))/3 = 8/3
    loss = weighted_nll(logp, mask, w)
    assert loss.item() == pytest.approx(8 / 3)
    loss.backward()
    # ∂loss/∂logp_it = −w_i·mask_it / 3; padding (even −inf) gets exactly 0
    assert torch.allclose(logp.grad, t([[-2 / 3, -2 / 3, 0.0], [-4 / 3, 0.0, 0.0]]))
    assert w.grad is None  # weights are constants of the regression


def test_weighted_nll_empty_mask_is_zero():
    logp = t([[-1.0, -2.0]], requires_grad=True)
    assert weighted_nll(logp, torch.zeros(1, 2, dtype=torch.bool), t([1.0])).item() == 0.0


def rise_batch(reward=(1.0, 0.0, 1.0, 1.0), group=(0, 0, 1, 1)):
    # LOGP1/MASK1 from the SCoRe batch above: Σ_t logp = [−2, −1, −3, −1], 2+1+3+2 = 8 tokens.
    b = batch(LOGP1, K1_TOKENS1, MASK1, list(reward), reward_grad=True)
    g = None if group is None else torch.tensor(group)
    return AttemptBatch(b.logp, b.ref_logp, b.mask, b.reward, group=g)


def test_rise_rwr_loss_value_and_stats():
    a1 = rise_batch()
    loss, stats = get_loss("rise_rwr")(a1, None, LossConfig(k=1, tau=0.4))
    # w = [e^2.5, 1, e^2.5, e^2.5]; per-sample token means of log π = [−1, −1, −1, −0.5]
    # (Σ_t logp [−2, −1, −3, −1] over [2, 1, 3, 2] tokens); loss = mean_i w_i·(−mean_t logp)
    # = (e^2.5 + 1 + e^2.5 + 0.5e^2.5)/4 = (2.5e^2.5 + 1)/4 (the RISE authors' train.py)
    assert loss.item() == pytest.approx((2.5 * E(2.5) + 1) / 4, rel=1e-6)
    assert stats["weight_mean"] == pytest.approx((3 * E(2.5) + 1) / 4, rel=1e-6)
    assert stats["weight_max"] == pytest.approx(E(2.5), rel=1e-6)
    assert stats["reward_mean"] == pytest.approx(0.75)
    assert stats["loss"] == pytest.approx(loss.item())
    assert all(isinstance(v, float) for v in stats.values())
    loss.backward()
    # weights detached: no grad to the rewards; ∂loss/∂logp_it = −w_i·mask_it/(4·n_i)
    assert a1.reward.grad is None
    w = t([E(2.5), 1.0, E(2.5), E(2.5)])[:, None]
    n_i = t([2.0, 1.0, 3.0, 2.0])[:, None]
    assert torch.allclose(a1.logp.grad, -w / (4 * n_i) * t(MASK1))
    # ref_logp is ignored (no KL in RISE): changing it changes nothing
    a2 = rise_batch()
    a2.ref_logp = a2.ref_logp - 5.0
    assert get_loss("rise_rwr")(a2, None, LossConfig(k=1))[0].item() == pytest.approx(loss.item())


def test_rise_awr_loss_uses_groups():
    a1 = rise_batch()
    loss, stats = get_loss("rise_awr")(a1, None, LossConfig(k=1, tau=0.4))
    # w = [e^1.25, e^−1.25, 1, 1]; loss = (e^1.25·1 + e^−1.25·1 + 1·1 + 1·0.5)/4
    assert loss.item() == pytest.approx((E(1.25) + E(-1.25) + 1.5) / 4, rel=1e-6)
    assert stats["weight_max"] == pytest.approx(E(1.25), rel=1e-6)
    loss.backward()
    assert a1.reward.grad is None
    # τ from the config: τ = 1 → w = [e^0.5, e^−0.5, 1, 1]
    loss_tau1, _ = get_loss("rise_awr")(rise_batch(), None, LossConfig(k=1, tau=1.0))
    assert loss_tau1.item() == pytest.approx((E(0.5) + E(-0.5) + 1.5) / 4, rel=1e-6)
    # no groups: every sequence its own group → all weights exp(0) = 1 → mean of token means
    loss_none, stats_none = get_loss("rise_awr")(rise_batch(group=None), None, LossConfig(k=1))
    assert loss_none.item() == pytest.approx(3.5 / 4) and stats_none["weight_max"] == 1.0


def test_rise_registry_and_group_validation():
    assert {"rise_rwr", "rise_awr"} <= set(LOSSES)
    assert LossConfig(k=2).tau == 0.4
    with pytest.raises(ValueError, match="group must be"):
        AttemptBatch(
            torch.zeros(2, 3),
            torch.zeros(2, 3),
            torch.ones(2, 3),
            torch.zeros(2),
            group=torch.tensor([0, 0, 1]),
        )
