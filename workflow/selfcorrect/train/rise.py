"""RISE recipe: reward-weighted fine-tuning on improved actions (Qu et al., 2024), step 3.

One flat loop: epochs over the (state, improved action) pairs in batches of whole problems
(so the advantage-weighted variant's per-problem mean is exact inside each batch), weighted
negative log-likelihood of the action tokens (train/losses.py: rise_rwr, rise_awr).

On N processes (train/distributed.py) every rank draws the same batches and trains on its share
of each batch's problems; weighted by its share of the batch's tokens, the step is the
single-process step.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from selfcorrect import tracking
from selfcorrect.device import autocast
from selfcorrect.settings import FinetuneConfig
from selfcorrect.train import core, distributed
from selfcorrect.train.losses import TOKEN_MEAN_LOSSES, AttemptBatch, LossConfig, get_loss

log = logging.getLogger(__name__)


def encode(tokenizer, data: pd.DataFrame) -> tuple[list[tuple[int, ...]], list[tuple[int, ...]]]:
    """Context ids and action ids (+ end of turn) of every row, as generation produced them."""
    contexts = tokenizer(list(data["context"]), add_special_tokens=False)["input_ids"]
    actions = tokenizer(list(data["action"]), add_special_tokens=False)["input_ids"]
    eos = tokenizer.eos_token_id
    return [tuple(c) for c in contexts], [tuple(a) + (eos,) for a in actions]


def problem_batches(data: pd.DataFrame, problems_per_batch: int, rng) -> list[np.ndarray]:
    """Row indices grouped by problem, problems shuffled, `problems_per_batch` per batch."""
    groups = list(data.groupby("problem_id", sort=True).indices.values())
    order = rng.permutation(len(groups))
    return [
        np.concatenate([groups[g] for g in order[i : i + problems_per_batch]])
        for i in range(0, len(order), problems_per_batch)
    ]


def rank_share(idx: np.ndarray, group: torch.Tensor, rank: int, world: int):
    """This rank's rows of a batch: its share of the batch's problems (whole problems, so the
    per-problem mean of the advantage-weighted loss stays exact), and 1; or, when the batch has
    fewer problems than ranks and none is left for this one, the batch's first problem with
    weight 0 (every backward under ZeRO is a collective, so every rank must run one)."""
    problems = list(dict.fromkeys(group[idx].tolist()))
    mine = set(distributed.shard(problems, rank, world))
    share = 1.0 if mine else 0.0
    mine = mine or {problems[0]}
    return np.array([i for i in idx if int(group[i]) in mine]), share


def reduce_stats(
    t, stats: dict, unit: float, total_unit: float, rows: float, total_rows: float, share: float
) -> dict:
    """A batch's loss statistics over every process, by whatever keys the loss returns: `loss`
    weighted by each rank's share of the loss's unit (tokens or samples), `*_max` the largest,
    every other key weighted by rows. Keys are sorted so every rank sums them in one order; the
    result keeps the loss's own order, as on one process."""
    maxes = sorted(k for k in stats if k.endswith("_max"))
    means = sorted(k for k in stats if k not in maxes)
    sums = t.all_sum([stats[k] * (unit if k == "loss" else rows) for k in means])
    out = {k: v / (total_unit if k == "loss" else total_rows) for k, v in zip(means, sums)}
    if maxes:  # a rank holding no problem of this batch (share 0) does not count
        out.update(zip(maxes, t.all_max([stats[k] if share else -math.inf for k in maxes])))
    return {k: out[k] for k in stats}


def train_rise(
    trainer,
    tokenizer,
    data: pd.DataFrame,
    cfg: FinetuneConfig,
    loss_name: str,
    config: LossConfig,
) -> pd.DataFrame:
    """Fine-tune `trainer`'s model (train/distributed.py: `setup`) in place on `data`
    (RISE_DATA rows) with the registered loss `loss_name` (RISE: rise_rwr or rise_awr; the
    SFT baselines: sft) under `config`; return per-step telemetry."""
    if data.empty:
        log.warning("no improved actions selected: the model is left unchanged")
        return pd.DataFrame(columns=["step", "epoch", "loss"])
    policy, t = trainer.model, trainer
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    prompts, actions = encode(tokenizer, data)
    group = torch.tensor(pd.factorize(data["problem_id"])[0])
    reward = torch.tensor(data["reward"].to_numpy(), dtype=torch.float32)
    loss_fn = get_loss(loss_name)
    device = t.device  # the policy's (on N processes, this rank's GPU)
    policy.train()
    rows, step = [], 0
    for epoch in range(cfg.epochs):
        batches = problem_batches(data, cfg.problems_per_batch, rng)
        for idx in tqdm(batches, desc=f"rise epoch {epoch + 1}", disable=not t.is_main):
            start = time.perf_counter()
            idx, share = rank_share(idx, group, t.rank, t.world)
            here = [prompts[i] for i in idx]
            ids, attention, mask = core.pack(
                here, [actions[i] for i in idx], tokenizer.pad_token_id, device
            )
            with autocast(device, cfg.bf16):  # only the actions' tokens are scored
                logp = core.token_logprobs(policy, ids, attention, core.first_completion(here))
            # `group` and `reward` stay on the host for the bookkeeping; the batch's go along
            batch = AttemptBatch(
                logp=logp,
                ref_logp=logp.detach(),
                mask=mask.float(),
                reward=reward[idx].to(device),
                group=group[idx].to(device),
            )
            loss, stats = loss_fn(batch, None, config)
            # the loss is a mean over the batch's tokens (sft) or samples (RISE): weight this
            # rank's loss by its share of that unit
            tokens, rows_here = float(mask.sum()) * share, float(len(idx)) * share
            unit = tokens if loss_name in TOKEN_MEAN_LOSSES else rows_here
            total_unit, total_rows, all_tokens = t.all_sum(
                [unit, rows_here, float(attention.sum()) * share]
            )
            t.backward(loss * distributed.global_weight(unit, total_unit, t.world), last=True)
            grad_norm = t.step()
            if t.world > 1:
                stats = reduce_stats(t, stats, unit, total_unit, rows_here, total_rows, share)
            step += 1
            rows.append(
                {
                    "step": step,
                    "epoch": epoch + 1,
                    **stats,
                    "grad_norm": float(grad_norm),
                    "tokens_per_s": all_tokens / (time.perf_counter() - start),
                }
            )
            tracking.log_step("train", rows[-1], step)
    return pd.DataFrame(rows)
