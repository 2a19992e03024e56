"""SCoRe and RISE losses as pure functions over tensors (docs/methods.md, which states every
equation as implemented).

One module of over 300 lines on purpose: docs/methods.md cites each equation's function here by
name, and the losses are built from the same pieces (KL estimators, advantages, the NLL
variants, the registry), so every equation reads beside the pieces it uses.

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

from collections.abc import Callable
from dataclasses import dataclass

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
#   k2: E[∇k2] = ∇KL(π_θ‖π_ref) exactly (the reverse KL of the objective in docs/methods.md).
#   k3: E[∇k3] = ∇KL(π_ref‖π_θ), the forward KL; it agrees with the reverse-KL gradient to first
#       order around π_ref (where the β terms keep the policy) and is the default here.


@register_kl("k1")
def kl_k1(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k1 = logπ_θ − logπ_ref per token (docs/methods.md, SCoRe: KL(π_θ ‖ π_ref) estimate)."""
    return logp - ref_logp


@register_kl("k2")
def kl_k2(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k2 = ½ (logπ_θ − logπ_ref)² per token; as a loss its gradient is the reverse-KL gradient."""
    return 0.5 * (logp - ref_logp) ** 2


@register_kl("k3")
def kl_k3(logp: Tensor, ref_logp: Tensor) -> Tensor:
    """k3 = exp(Δ) − Δ − 1, Δ = logπ_ref − logπ_θ (docs/methods.md, SCoRe; Schulman's estimator).

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
    tokens (docs/methods.md, "KL": the per-token estimate summed over an attempt's tokens)."""
    # Zero both inputs off-mask: every estimator is 0 at logp == ref_logp, so padding adds 0.
    per_token = get_kl(estimator)(_masked(logp, mask), _masked(ref_logp.detach(), mask))
    return _masked(per_token, mask).sum(dim=-1)


# --------------------------------------------------------------------------- advantages, rewards


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
def leave_one_out_advantage(rewards: Tensor, group: Tensor | int) -> Tensor:
    """A_i = r_i − mean of the other samples of the same problem, ``[N]`` (docs/methods.md,
    "Advantages": leave-one-out over the samples of the same problem).

    ``group`` is an ``[N]`` tensor of problem ids (groups of any size, in any order; Stage II
    mixes K on-policy samples of a problem with however many offline starts it has), or an int
    ``k`` for problem-major groups of k. The baseline excludes r_i itself, so it is independent
    of the sample it scores and the gradient estimate stays unbiased. A group of one has no
    other sample to form a baseline from; its advantage is 0 (no learning signal), by
    convention. Rewards are detached: no gradient ever flows through an advantage.
    """
    if rewards.dim() != 1:
        raise ValueError(f"rewards must be [N]; got shape {tuple(rewards.shape)}")
    r = rewards.detach() if rewards.is_floating_point() else rewards.detach().float()
    ids = _group_ids(group, r.shape[0], r.device)
    n_groups = int(ids.max()) + 1 if ids.numel() else 0
    sums = torch.zeros(n_groups, dtype=r.dtype, device=r.device).index_add_(0, ids, r)
    counts = torch.bincount(ids, minlength=n_groups).to(r.dtype)[ids]
    baseline = (sums[ids] - r) / (counts - 1).clamp(min=1.0)
    return torch.where(counts > 1, r - baseline, torch.zeros_like(r))


def shaped_rewards(r1: Tensor, r2: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
    """(r̃1, r̃2) = (r1, r2 + α·(r2 − r1)) (docs/methods.md, SCoRe Stage II reward shaping).

    The bonus α·(r2 − r1) pays for flipping wrong→right and penalises right→wrong, which is
    what keeps Stage II from collapsing to "repeat the first attempt".
    """
    return r1, r2 + alpha * (r2 - r1)


def reinforce_term(logp: Tensor, mask: Tensor, advantages: Tensor) -> Tensor:
    """−(1/N) Σ_i A_i · Σ_t logπ_θ(y_it) (docs/methods.md, SCoRe: on-policy REINFORCE).

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
    """Hyperparameters of the SCoRe and RISE losses. The defaults are the paper's MATH run for
    calling a loss directly and equal the config schema's (tests/unit/test_settings.py); the
    trainers pass every value from their typed settings (train/score.py: `loss_config`)."""

    k: int  # samples per problem (K); attempts are problem-major, N = P*K
    alpha: float = 10.0  # Stage II shaping bonus α on r2 − r1 (paper: 10; α = 0 is the ablation)
    beta1: float = 0.01  # KL weight β1 on every trained attempt
    beta2: float = 0.1  # Stage I KL weight β2 on attempt 1 (paper: 0.1 MATH, 0.25 MBPP)
    kl_estimator: str = "k3"  # a name in KL_ESTIMATORS
    tau: float = 0.4  # RISE temperature τ of the exp(r/τ) weights (authors' code: 0.4)
    credit: str = "per_attempt"  # Stage II credit: a name in CREDITS (stage2_returns)

    def __post_init__(self) -> None:
        if self.credit not in CREDITS:
            raise ValueError(f"unknown credit {self.credit!r}; known: {', '.join(CREDITS)}")


CREDITS = ("per_attempt", "episode")


# Losses that are a mean over the batch's tokens; every other one over its samples (rows). A
# multi-process step weights each rank's loss by its share of that unit (train/rise.py).
TOKEN_MEAN_LOSSES = {"sft"}

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


def _groups(attempt: AttemptBatch, config: LossConfig) -> Tensor | int:
    """The leave-one-out groups of an attempt: its ``group`` tensor, else problem-major K."""
    return attempt.group if attempt.group is not None else config.k


def _attempt_terms(
    attempt: AttemptBatch, advantage: Tensor | None, config: LossConfig
) -> tuple[Tensor, Tensor]:
    """One attempt's REINFORCE term (0 when ``advantage`` is None: a KL-only attempt) and its
    per-attempt KL ``[N]``: the two lines every SCoRe loss repeats for each attempt."""
    kl = attempt_kl(attempt.logp, attempt.ref_logp, attempt.mask, config.kl_estimator)
    if advantage is None:
        return attempt.logp.new_zeros(()), kl
    return reinforce_term(attempt.logp, attempt.mask, advantage), kl


def _rl_stats(pg: Tensor, kl_loss: Tensor, **tensors: Tensor) -> Stats:
    """loss, pg_loss, kl_loss and the mean of every tensor given (reward_t1, kl_t2, …)."""
    return {
        "loss": float((pg + kl_loss).detach()),
        "pg_loss": float(pg.detach()),
        "kl_loss": float(kl_loss.detach()),
        **{name: _mean(value) for name, value in tensors.items()},
    }


@register_loss("score_stage1")
def score_stage1(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """SCoRe Stage I (docs/methods.md): max E[r(y2) − β2·KL(attempt 1)], with β1·KL on
    attempt 2.

    REINFORCE on attempt 2 only, with the leave-one-out advantage of r2; attempt 1 gets no
    policy-gradient term, only the strong β2 KL that holds it at the base model.
    """
    attempt2 = _require_attempt2("score_stage1", attempt2)
    adv2 = leave_one_out_advantage(attempt2.reward, _groups(attempt2, config))
    _, kl1 = _attempt_terms(attempt1, None, config)
    pg, kl2 = _attempt_terms(attempt2, adv2, config)
    kl_loss = config.beta2 * kl1.mean() + config.beta1 * kl2.mean()
    return pg + kl_loss, _rl_stats(
        pg,
        kl_loss,
        reward_t1=attempt1.reward,
        reward_t2=attempt2.reward,
        kl_t1=kl1,
        kl_t2=kl2,
        adv_abs_t2=adv2.abs(),
    )


def stage2_returns(r1: Tensor, r2: Tensor, alpha: float, credit: str) -> tuple[Tensor, Tensor]:
    """What each attempt's tokens are credited with in Stage II (docs/methods.md, "Credit").

    With r̃1 = r1 and r̃2 = r2 + α(r2 − r1):
    - ``per_attempt`` (γ = 0): attempt 1 gets r̃1, attempt 2 gets r̃2;
    - ``episode`` (return-to-go, γ = 1): attempt 1 gets r̃1 + r̃2, attempt 2 gets r̃2, so the
      shaping bonus reaches the first attempt. Under per-attempt credit the −α·r1 inside r̃2 is
      a baseline for attempt 2 given attempt 1, and the bonus only rescales r2 by (1 + α).
    """
    s1, s2 = shaped_rewards(r1, r2, alpha)
    if credit == "per_attempt":
        return s1, s2
    if credit == "episode":
        return s1 + s2, s2
    raise ValueError(f"unknown credit {credit!r}; known: {', '.join(CREDITS)}")


@register_loss("score_stage2")
def score_stage2(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """SCoRe Stage II (docs/methods.md): max E[Σ_{t=1,2} (r̃_t − β1·KL(attempt t))].

    Each attempt's tokens are credited through a leave-one-out advantage of what
    ``stage2_returns`` gives it under ``config.credit``; never one scalar for both turns.
    """
    attempt2 = _require_attempt2("score_stage2", attempt2)
    g1, g2 = _groups(attempt1, config), _groups(attempt2, config)
    ret1, ret2 = stage2_returns(attempt1.reward, attempt2.reward, config.alpha, config.credit)
    adv1 = leave_one_out_advantage(ret1, g1)
    adv2 = leave_one_out_advantage(ret2, g2)
    pg1, kl1 = _attempt_terms(attempt1, adv1, config)
    pg2, kl2 = _attempt_terms(attempt2, adv2, config)
    pg, kl_loss = pg1 + pg2, config.beta1 * (kl1.mean() + kl2.mean())
    return pg + kl_loss, _rl_stats(
        pg,
        kl_loss,
        reward_t1=attempt1.reward,
        reward_t2=attempt2.reward,
        shaped_reward_t2=ret2,
        kl_t1=kl1,
        kl_t2=kl2,
        adv_abs_t1=adv1.abs(),
        adv_abs_t2=adv2.abs(),
    )


@register_loss("single_turn")
def single_turn(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """Single-turn RL, the "w/o multi-turn training" ablation (docs/methods.md, SCoRe base
    objective for t = 1 only): max E[r(y1) − β1·KL(attempt 1)].

    ``attempt2`` is normally None; if given it is only reported (reward_t2, kl_t2), not trained.
    """
    adv1 = leave_one_out_advantage(attempt1.reward, _groups(attempt1, config))
    pg, kl1 = _attempt_terms(attempt1, adv1, config)
    kl_loss = config.beta1 * kl1.mean()
    stats = _rl_stats(pg, kl_loss, reward_t1=attempt1.reward, kl_t1=kl1, adv_abs_t1=adv1.abs())
    if attempt2 is not None:
        with torch.no_grad():
            _, kl2 = _attempt_terms(attempt2, None, config)
        stats.update(reward_t2=_mean(attempt2.reward), kl_t2=_mean(kl2))
    return pg + kl_loss, stats


# --------------------------------------------------------------------------- RISE


@torch.no_grad()
def rise_weights(
    rewards: Tensor, group: Tensor | int, tau: float = 0.4, variant: str = "rwr"
) -> Tensor:
    """Per-example RISE weights ``[N]`` (docs/methods.md, RISE step 3), never carrying grad.

    - ``"rwr"``: w = exp(r/τ), reward-weighted regression as in the authors' code (τ = 0.4);
    - ``"awr"``: w = exp((r − r̄_g)/τ), r̄_g the mean reward of the example's group (problem):
      the paper's advantage-weighted variant, absent from the authors' code.

    ``group`` is an ``[N]`` long tensor of problem indices (RISE keeps a variable number of
    actions per problem), or an int ``k`` for problem-major groups of k; ``rwr`` only checks
    its shape.
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
    """−Σ_i w_i Σ_t mask_it·logp_it / Σ_i Σ_t mask_it: the batch's token-mean NLL, token t of
    example i scaled by w_i (docs/methods.md, "SFT baselines").

    This is FastChat's SFT loss (the mean cross-entropy over every supervised token of the
    batch) with weights; the SFT baselines use it with w = 1. Weights are detached.
    """
    weights = weights.detach().to(logp.dtype)
    per_example = _masked(logp, mask).sum(dim=-1)
    # clamp: a batch with no completion tokens gives loss 0, not NaN.
    n_tokens = mask.to(logp.dtype).sum().clamp(min=1.0)
    return -(weights * per_example).sum() / n_tokens


def per_sample_weighted_nll(logp: Tensor, mask: Tensor, weights: Tensor) -> Tensor:
    """−(1/N) Σ_i w_i · (Σ_t mask_it·logp_it / Σ_t mask_it) (docs/methods.md, "RISE loss").

    Each sample's token-mean log-likelihood times its weight, averaged over the samples, as the
    RISE authors' train.py computes it: a long action weighs no more than a short one. A sample
    with no tokens contributes 0 (and still counts in N). Weights are detached.
    """
    weights = weights.detach().to(logp.dtype)
    n_i = mask.to(logp.dtype).sum(dim=-1).clamp(min=1.0)
    token_mean = _masked(logp, mask).sum(dim=-1) / n_i
    return -(weights * token_mean).sum() / max(int(logp.shape[0]), 1)


def filtered_nll(logp: Tensor, mask: Tensor, keep: Tensor) -> Tensor:
    """−Σ_{i kept} Σ_t mask_it·logp_it / Σ_{i kept} Σ_t mask_it: the token-mean NLL of the
    kept sequences only (docs/methods.md, "STaR in Stage II").

    Normalised by the kept tokens, so the step size does not shrink with the success rate (the
    filtered-out sequences are not in STaR's SFT data at all). ``keep`` is [N], nonzero = kept.
    """
    kept = (keep.detach() != 0).to(logp.dtype)
    per_example = _masked(logp, mask).sum(dim=-1)
    n_tokens = (mask.to(logp.dtype).sum(dim=-1) * kept).sum().clamp(min=1.0)
    return -(kept * per_example).sum() / n_tokens


def _rise_loss(variant: str, attempt1: AttemptBatch, config: LossConfig) -> tuple[Tensor, Stats]:
    """RISE's weighted regression on (state, improved action) sequences in ``attempt1``."""
    n = attempt1.reward.shape[0]
    group = attempt1.group
    if group is None:  # each sequence its own group
        group = torch.arange(n, device=attempt1.reward.device)
    weights = rise_weights(attempt1.reward, group, config.tau, variant)
    # ref_logp is unused: RISE's objective has no KL term (docs/methods.md, RISE step 3).
    loss = per_sample_weighted_nll(attempt1.logp, attempt1.mask, weights)
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
    """RISE, reward-weighted regression (docs/methods.md, RISE step 3; the authors' code):
    max Σ log π_θ(y|s)·exp(r(s, y)/τ). ``attempt1`` holds the (state, improved action)
    sequences with their rewards; ``attempt2`` is unused (None)."""
    return _rise_loss("rwr", attempt1, config)


@register_loss("rise_awr")
def rise_awr(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """RISE, advantage-weighted regression (docs/methods.md, RISE step 3; the paper's variant):
    max Σ log π_θ(y|s)·exp((r(s, y) − r̄_problem)/τ), groups from ``attempt1.group``
    (each sequence its own group when None, which makes every weight exp(0) = 1)."""
    return _rise_loss("awr", attempt1, config)


# --------------------------------------------------------------------------- baselines


@register_loss("sft")
def sft(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """Supervised fine-tuning (STaR, Pair-SFT; docs/methods.md "Baselines"): the token-mean negative
    log-likelihood of the target sequences in ``attempt1``, every example weighted 1."""
    loss = weighted_nll(attempt1.logp, attempt1.mask, torch.ones_like(attempt1.reward))
    return loss, {"loss": float(loss.detach()), "reward_mean": _mean(attempt1.reward)}


@register_loss("star_stage2")
def star_stage2(
    attempt1: AttemptBatch, attempt2: AttemptBatch | None, config: LossConfig
) -> tuple[Tensor, Stats]:
    """STaR in place of REINFORCE in Stage II (the paper's last ablation): each attempt is
    fine-tuned on iff it is correct (filter, then SFT: the token-mean NLL of the kept attempts,
    ``filtered_nll``), with Stage II's β1·KL on both attempts. No baseline, no shaping: STaR
    has neither."""
    attempt2 = _require_attempt2("star_stage2", attempt2)
    nll1 = filtered_nll(attempt1.logp, attempt1.mask, attempt1.reward)
    nll2 = filtered_nll(attempt2.logp, attempt2.mask, attempt2.reward)
    _, kl1 = _attempt_terms(attempt1, None, config)
    _, kl2 = _attempt_terms(attempt2, None, config)
    kl_loss = config.beta1 * (kl1.mean() + kl2.mean())
    return nll1 + nll2 + kl_loss, _rl_stats(
        nll1 + nll2,
        kl_loss,
        reward_t1=attempt1.reward,
        reward_t2=attempt2.reward,
        kl_t1=kl1,
        kl_t2=kl2,
    )
