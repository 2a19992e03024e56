"""SCoRe and RISE losses as pure functions over tensors (METHODS.md, "SCoRe: two-stage multi-turn
RL" and "RISE: recursive introspection").

Conventions shared by every function here:

- token tensors are ``[N, L]``: N attempts (sequences), L token positions;
- ``mask`` ``[N, L]`` (bool or 0/1 float) marks the completion tokens of the attempt, i.e. the
  sampled tokens including the end-of-turn token; prompt and padding positions are False;
- per-attempt rewards are ``[N]`` floats;
- the N attempts are ordered problem-major, K samples per problem (N = P*K), ``k`` explicit;
  RISE data has a variable number of actions per problem, so its groups are an explicit
  ``group`` tensor of problem indices instead.

KL estimators and method losses are registered by name (veRL core_algos style) so that a config
string selects them: ``get_kl("k3")``, ``get_loss("score_stage2")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

KLEstimator = Callable[[Tensor, Tensor], Tensor]
Stats = dict[str, float]

# --------------------------------------------------------------------------- KL estimators

def _register(table: dict, kind: str, name: str) -> Callable:
    def decorate(fn):
        if name in table:
            raise ValueError(f"{kind} {name!r} is already registered")
        table[name] = fn
        return fn

    return decorate


def _lookup(table: dict, kind: str, name: str):
    try:
        return table[name]
    except KeyError:
        raise ValueError(f"unknown {kind} {name!r}; known: {', '.join(sorted(table))}") from None


KL_ESTIMATORS: dict[str, KLEstimator] = {}


def register_kl(name: str) -> Callable[[KLEstimator], KLEstimator]:
    """Register a per-token KL estimator ``f(logp, ref_logp) -> [N, L]`` under ``name``."""
    return _register(KL_ESTIMATORS, "KL estimator", name)


def get_kl(name: str) -> KLEstimator:
    """The KL estimator registered as ``name``; ValueError naming the known ones otherwise."""
    return _lookup(KL_ESTIMATORS, "KL estimator", name)


# Used as a differentiable penalty, the estimators differ in what their gradient estimates
# (expectation over tokens sampled from π_θ, the sample itself held fixed):
#   k1: E[∇k1] = E[∇logπ_θ] = 0 — an unbiased *value* of KL(π_θ‖π_ref), but as a loss term it
#       contributes only noise; use it for monitoring, not to regularise.
#   k2: E[∇k2] = ∇KL(π_θ‖π_ref) exactly (the reverse KL of the METHODS objective).
#   k3: E[∇k3] = ∇KL(π_ref‖π_θ), the forward KL; it agrees with the reverse-KL gradient to first
#       order around π_ref (where the β terms keep the policy) and is METHODS' default.


@register_kl("k1")
def kl_k1(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k1 = logπ_θ − logπ_ref per token (METHODS, SCoRe: KL(π_θ ‖ π_ref) estimate)."""
    return logp - ref_logp


@register_kl("k2")
def kl_k2(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k2 = ½ (logπ_θ − logπ_ref)² per token; as a loss its gradient is the reverse-KL gradient."""
    return 0.5 * (logp - ref_logp) ** 2


@register_kl("k3")
def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k3 = exp(Δ) − Δ − 1, Δ = logπ_ref − logπ_θ (METHODS, SCoRe; Schulman's estimator).

    Unbiased for KL(π_θ ‖ π_ref) and non-negative per token (e^x ≥ 1 + x).
    """
    delta = ref_logp - logp
    # expm1 keeps precision when Δ ≈ 0, the usual case near the reference.
    return torch.expm1(delta) - delta


def _masked(x: Tensor, mask: Tensor) -> Tensor:
    """``x`` with non-completion positions set to 0 (before any arithmetic, so that a -inf
    log-prob at a padding position cannot turn into NaN values or gradients)."""
    return x.masked_fill(~mask.bool(), 0.0)


def attempt_kl(logp: Tensor, ref_logp: Tensor, mask: Tensor, estimator: str = "k3") -> Tensor:
    """Per-attempt KL ``[N]``: the per-token estimate summed over the attempt's completion
    tokens (METHODS, SCoRe: "KL is the per-token estimate summed over an attempt's tokens")."""
    # Zero both inputs off-mask: every estimator is 0 at logp == ref_logp, so padding adds 0.
    per_token = get_kl(estimator)(_masked(logp, mask), _masked(ref_logp.detach(), mask))
    return _masked(per_token, mask).sum(dim=-1)


# --------------------------------------------------------------------------- advantages, rewards


@torch.no_grad()
def leave_one_out_advantage(rewards: Tensor, k: int) -> Tensor:
    """A_i = r_i − mean of the other K−1 samples of the same problem, ``[N]`` (METHODS, SCoRe:
    "advantages use a baseline (e.g. leave-one-out over the K samples of the same problem)").

    The baseline excludes r_i itself, so it is independent of the sample it scores and the
    gradient estimate stays unbiased. With K = 1 there is no other sample to form a baseline
    from; the advantage is then 0 for every attempt (no learning signal), by convention.
    Rewards are detached: no gradient ever flows through an advantage.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    n = rewards.shape[0]
    if rewards.dim() != 1 or n % k:
        raise ValueError(
            f"rewards must be [N] with N a multiple of k (problem-major); "
            f"got shape {tuple(rewards.shape)}, k={k}"
        )
    r = rewards.detach() if rewards.is_floating_point() else rewards.detach().float()
    if k == 1:
        return torch.zeros_like(r)
    grouped = r.view(n // k, k)
    baseline = (grouped.sum(dim=1, keepdim=True) - grouped) / (k - 1)
    return (grouped - baseline).reshape(n)


def shaped_rewards(r1: Tensor, r2: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
    """(r̃1, r̃2) = (r1, r2 + α·(r2 − r1)) (METHODS, SCoRe Stage II reward shaping).

    The bonus α·(r2 − r1) pays for flipping wrong→right and penalises right→wrong, which is
    what keeps Stage II from collapsing to "repeat the first attempt".
    """
    return r1, r2 + alpha * (r2 - r1)


def reinforce_term(logp: Tensor, mask: Tensor, advantages: Tensor) -> Tensor:
    """−(1/N) Σ_i A_i · Σ_t logπ_θ(y_it) (METHODS, SCoRe base objective: on-policy REINFORCE).

    Per-attempt credit: the sequence log-prob of attempt i is weighted by that attempt's own
    advantage (γ = 0). Advantages are detached so the loss is a score-function estimator.
    """
    seq_logp = _masked(logp, mask).sum(dim=-1)
    return -(advantages.detach() * seq_logp).mean()


# --------------------------------------------------------------------------- method losses


@dataclass
class AttemptBatch:
    """One attempt (turn) of N rollouts, problem-major with K samples per problem."""

    logp: Tensor  # [N, L] policy log-prob of each sampled token (carries grad)
    ref_logp: Tensor  # [N, L] frozen reference (base model) log-prob of the same tokens
    mask: Tensor  # [N, L] True on the attempt's completion tokens (incl. end-of-turn)
    reward: Tensor  # [N] verifier reward r(y_t, y*) of the attempt
    # [N] long problem index of each sequence (RISE: a variable number of actions per problem);
    # None = every sequence is its own group. The SCoRe losses group by config.k instead.
    group: Tensor | None = None

    def __post_init__(self) -> None:
        shape = tuple(self.logp.shape)
        others = (tuple(self.ref_logp.shape), tuple(self.mask.shape))
        if len(shape) != 2 or others != (shape, shape):
            raise ValueError(
                f"logp, ref_logp and mask must share one [N, L] shape; got {shape}, "
                f"{tuple(self.ref_logp.shape)}, {tuple(self.mask.shape)}"
            )
        if tuple(self.reward.shape) != shape[:1]:
            raise ValueError(f"reward must be [N]={shape[:1]}; got {tuple(self.reward.shape)}")
        if self.group is not None and tuple(self.group.shape) != shape[:1]:
            raise ValueError(f"group must be [N]={shape[:1]}; got {tuple(self.group.shape)}")


@dataclass
class LossConfig:
    """Hyperparameters of the SCoRe losses (defaults: the paper's MATH run)."""

    k: int  # samples per problem (K); attempts are problem-major, N = P*K
    alpha: float = 10.0  # Stage II shaping bonus α on r2 − r1 (paper: 10; α = 0 is the ablation)
    beta1: float = 0.01  # KL weight β1 on every trained attempt
    beta2: float = 0.1  # Stage I KL weight β2 on attempt 1 (paper: 0.1 MATH, 0.25 MBPP)
    kl_estimator: str = "k3"  # a name in KL_ESTIMATORS
    tau: float = 0.4  # RISE temperature τ of the exp(r/τ) weights (authors' code: 0.4)


LossFn = Callable[[AttemptBatch, "AttemptBatch | None", LossConfig], tuple[Tensor, Stats]]
LOSSES: dict[str, LossFn] = {}


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    """Register a method loss ``f(attempt1, attempt2, config) -> (loss, stats)`` as ``name``."""
    return _register(LOSSES, "loss", name)


def get_loss(name: str) -> LossFn:
    """The method loss registered as ``name``; ValueError naming the known ones otherwise."""
    return _lookup(LOSSES, "loss", name)


# The KL enters every loss below as a differentiable penalty β·mean_i KL_i, not folded into the
# reward. Folded in, a sampled KL would be multiplied by the whole sequence's score ∇logπ(y):
# the exact reverse-KL gradient but a much noisier estimator (its variance grows with length).
# As a penalty (the GRPO-style choice) each token's KL is differentiated directly: low variance,
# and with k3 the gradient is that of KL(π_ref‖π_θ), equal to the reverse-KL gradient to first
# order near π_ref (see the estimator notes above; "k2" gives the reverse-KL gradient exactly).
# Do not select "k1" here: its expected gradient is zero, so it would not regularise at all.


def _require_attempt2(name: str, attempt2: AttemptBatch | None) -> AttemptBatch:
    if attempt2 is None:
        raise ValueError(f"loss {name!r} trains the second attempt and needs attempt2")
    return attempt2


def _mean(x: Tensor) -> float:
    return float(x.detach().float().mean())


@register_loss("score_stage1")
def score_stage1(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """SCoRe Stage I (METHODS): max E[r(y2) − β2·KL(attempt 1)], with β1·KL on attempt 2.

    REINFORCE on attempt 2 only, with the leave-one-out advantage of r2; attempt 1 gets no
    policy-gradient term, only the strong β2 KL that holds it at the base model.
    """
    attempt2 = _require_attempt2("score_stage1", attempt2)
    adv2 = leave_one_out_advantage(attempt2.reward, config.k)
    kl1 = attempt_kl(attempt1.logp, attempt1.ref_logp, attempt1.mask, config.kl_estimator)
    kl2 = attempt_kl(attempt2.logp, attempt2.ref_logp, attempt2.mask, config.kl_estimator)
    pg = reinforce_term(attempt2.logp, attempt2.mask, adv2)
    kl_loss = config.beta2 * kl1.mean() + config.beta1 * kl2.mean()
    loss = pg + kl_loss
    return loss, {
        "loss": float(loss.detach()),
        "pg_loss": float(pg.detach()),
        "kl_loss": float(kl_loss.detach()),
        "reward_t1": _mean(attempt1.reward),
        "reward_t2": _mean(attempt2.reward),
        "kl_t1": _mean(kl1),
        "kl_t2": _mean(kl2),
        "adv_abs_t2": _mean(adv2.abs()),
    }


@register_loss("score_stage2")
def score_stage2(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """SCoRe Stage II (METHODS): max E[Σ_{t=1,2} (r̃_t − β1·KL(attempt t))], γ = 0.

    Each attempt's tokens are credited with that attempt's own shaped reward (r̃1 = r1,
    r̃2 = r2 + α(r2 − r1)) through a leave-one-out advantage; never one scalar for both turns.
    """
    attempt2 = _require_attempt2("score_stage2", attempt2)
    r1, r2 = shaped_rewards(attempt1.reward, attempt2.reward, config.alpha)
    adv1 = leave_one_out_advantage(r1, config.k)
    adv2 = leave_one_out_advantage(r2, config.k)
    kl1 = attempt_kl(attempt1.logp, attempt1.ref_logp, attempt1.mask, config.kl_estimator)
    kl2 = attempt_kl(attempt2.logp, attempt2.ref_logp, attempt2.mask, config.kl_estimator)
    pg = reinforce_term(attempt1.logp, attempt1.mask, adv1) + reinforce_term(
        attempt2.logp, attempt2.mask, adv2
    )
    kl_loss = config.beta1 * (kl1.mean() + kl2.mean())
    loss = pg + kl_loss
    return loss, {
        "loss": float(loss.detach()),
        "pg_loss": float(pg.detach()),
        "kl_loss": float(kl_loss.detach()),
        "reward_t1": _mean(attempt1.reward),
        "reward_t2": _mean(attempt2.reward),
        "shaped_reward_t2": _mean(r2),
        "kl_t1": _mean(kl1),
        "kl_t2": _mean(kl2),
        "adv_abs_t1": _mean(adv1.abs()),
        "adv_abs_t2": _mean(adv2.abs()),
    }


@register_loss("single_turn")
def single_turn(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """Single-turn RL, the "w/o multi-turn training" ablation (METHODS, SCoRe base objective
    for t = 1 only): max E[r(y1) − β1·KL(attempt 1)].

    ``attempt2`` is normally None; if given it is only reported (reward_t2, kl_t2), not trained.
    """
    adv1 = leave_one_out_advantage(attempt1.reward, config.k)
    kl1 = attempt_kl(attempt1.logp, attempt1.ref_logp, attempt1.mask, config.kl_estimator)
    pg = reinforce_term(attempt1.logp, attempt1.mask, adv1)
    kl_loss = config.beta1 * kl1.mean()
    loss = pg + kl_loss
    stats = {
        "loss": float(loss.detach()),
        "pg_loss": float(pg.detach()),
        "kl_loss": float(kl_loss.detach()),
        "reward_t1": _mean(attempt1.reward),
        "kl_t1": _mean(kl1),
        "adv_abs_t1": _mean(adv1.abs()),
    }
    if attempt2 is not None:
        with torch.no_grad():
            kl2 = attempt_kl(attempt2.logp, attempt2.ref_logp, attempt2.mask, config.kl_estimator)
        stats.update(reward_t2=_mean(attempt2.reward), kl_t2=_mean(kl2))
    return loss, stats


# --------------------------------------------------------------------------- RISE


def _group_ids(group: Tensor | int, n: int, device: torch.device) -> Tensor:
    """``[N]`` dense ids 0..G−1 from a problem-index tensor, or from ``k`` (problem-major)."""
    if isinstance(group, int):
        if group < 1 or n % group:
            raise ValueError(f"k must be >= 1 and divide N={n}; got {group}")
        return torch.arange(n, device=device) // group
    if tuple(group.shape) != (n,):
        raise ValueError(f"group must be [N]=({n},); got {tuple(group.shape)}")
    # Problem indices need not be contiguous or start at 0: map them to 0..G−1.
    return torch.unique(group, return_inverse=True)[1]


@torch.no_grad()
def rise_weights(
    rewards: Tensor, group: Tensor | int, tau: float = 0.4, variant: str = "rwr"
) -> Tensor:
    """Per-example RISE weights ``[N]`` (METHODS, RISE step 3), never carrying grad.

    - ``"rwr"``: w = exp(r/τ), reward-weighted regression as in the authors' code (τ = 0.4);
    - ``"awr"``: w = exp((r − r̄_g)/τ), r̄_g the mean reward of the example's group (problem):
      the paper's advantage-weighted variant, absent from the authors' code.

    ``group`` is an ``[N]`` long tensor of problem indices (RISE keeps a variable number of
    actions per problem), or an int ``k`` for problem-major groups of k; ``rwr`` only checks its shape.
    """
    if tau <= 0:
        raise ValueError(f"tau must be > 0, got {tau}")
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be [N]; got shape {tuple(rewards.shape)}")
    r = rewards.detach() if rewards.is_floating_point() else rewards.detach().float()
    ids = _group_ids(group, r.shape[0], r.device)  # validated for both variants
    if variant == "rwr":
        return torch.exp(r / tau)
    if variant == "awr":
        n_groups = int(ids.max()) + 1 if ids.numel() else 0
        sums = torch.zeros(n_groups, dtype=r.dtype, device=r.device).index_add_(0, ids, r)
        counts = torch.bincount(ids, minlength=n_groups).to(r.dtype)
        return torch.exp((r - (sums / counts)[ids]) / tau)
    raise ValueError(f"unknown RISE weighting {variant!r}; known: awr, rwr")


def weighted_nll(logp: Tensor, mask: Tensor, weights: Tensor) -> Tensor:
    """−Σ_i w_i Σ_t mask_it·logp_it / Σ_i Σ_t mask_it (METHODS, RISE step 3: maximise
    Σ log π_θ(y|s)·w).

    Token-mean, not sequence-mean: the authors' code trains with FastChat's SFT loss, which
    averages the cross-entropy over all supervised tokens of the batch; each token of example i
    is then scaled by w_i. Weights are detached (constants of the regression, not learned).
    """
    weights = weights.detach().to(logp.dtype)
    per_example = _masked(logp, mask).sum(dim=-1)
    # clamp: a batch with no completion tokens gives loss 0, not NaN.
    n_tokens = mask.to(logp.dtype).sum().clamp(min=1.0)
    return -(weights * per_example).sum() / n_tokens


def _rise_loss(variant: str, attempt1: AttemptBatch, config: LossConfig) -> tuple[Tensor, Stats]:
    """RISE's weighted regression on (state, improved action) sequences in ``attempt1``."""
    n = attempt1.reward.shape[0]
    group = attempt1.group
    if group is None:  # each sequence its own group
        group = torch.arange(n, device=attempt1.reward.device)
    weights = rise_weights(attempt1.reward, group, config.tau, variant)
    # ref_logp is unused: RISE's objective has no KL term (METHODS, RISE step 3).
    loss = weighted_nll(attempt1.logp, attempt1.mask, weights)
    return loss, {
        "loss": float(loss.detach()),
        "weight_mean": _mean(weights),
        "weight_max": float(weights.max()) if n else 0.0,
        "reward_mean": _mean(attempt1.reward),
    }


@register_loss("rise_rwr")
def rise_rwr(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """RISE, reward-weighted regression (METHODS, RISE step 3; the authors' code):
    max Σ log π_θ(y|s)·exp(r(s, y)/τ). ``attempt1`` holds the (state, improved action)
    sequences with their rewards; ``attempt2`` is unused (None)."""
    return _rise_loss("rwr", attempt1, config)


@register_loss("rise_awr")
def rise_awr(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """RISE, advantage-weighted regression (METHODS, RISE step 3; the paper's variant):
    max Σ log π_θ(y|s)·exp((r(s, y) − r̄_problem)/τ), groups from ``attempt1.group``
    (each sequence its own group when None, which makes every weight exp(0) = 1)."""
    return _rise_loss("awr", attempt1, config)


# --------------------------------------------------------------------------- baselines


@register_loss("sft")
def sft(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """Supervised fine-tuning (STaR, Pair-SFT; METHODS "Baselines"): the token-mean negative
    log-likelihood of the target sequences in ``attempt1``, every example weighted 1."""
    loss = weighted_nll(attempt1.logp, attempt1.mask, torch.ones_like(attempt1.reward))
    return loss, {"loss": float(loss.detach()), "reward_mean": _mean(attempt1.reward)}


@register_loss("star_stage2")
def star_stage2(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """STaR in place of REINFORCE in Stage II (the paper's last ablation): each attempt is
    fine-tuned on iff it is correct (filter, then SFT: the NLL weighted by r_t ∈ {0, 1}), with
    Stage II's β1·KL on both attempts. No baseline, no shaping: STaR has neither."""
    attempt2 = _require_attempt2("star_stage2", attempt2)
    nll1 = weighted_nll(attempt1.logp, attempt1.mask, attempt1.reward)
    nll2 = weighted_nll(attempt2.logp, attempt2.mask, attempt2.reward)
    kl1 = attempt_kl(attempt1.logp, attempt1.ref_logp, attempt1.mask, config.kl_estimator)
    kl2 = attempt_kl(attempt2.logp, attempt2.ref_logp, attempt2.mask, config.kl_estimator)
    kl_loss = config.beta1 * (kl1.mean() + kl2.mean())
    loss = nll1 + nll2 + kl_loss
    return loss, {
        "loss": float(loss.detach()),
        "pg_loss": float((nll1 + nll2).detach()),
        "kl_loss": float(kl_loss.detach()),
        "reward_t1": _mean(attempt1.reward),
        "reward_t2": _mean(attempt2.reward),
        "kl_t1": _mean(kl1),
        "kl_t2": _mean(kl2),
    }
