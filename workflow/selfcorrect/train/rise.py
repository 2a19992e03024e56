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
import time

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from selfcorrect import tracking
from selfcorrect.train import core, distributed
from selfcorrect.train.losses import AttemptBatch, LossConfig, get_loss

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
    return [np.concatenate([groups[g] for g in order[i : i + problems_per_batch]])
            for i in range(0, len(order), problems_per_batch)]


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


def train_rise(trainer, tokenizer, data: pd.DataFrame, cfg: dict, loss: str | None = None
               ) -> pd.DataFrame:
    """Fine-tune `trainer`'s model (train/distributed.py: `setup`) in place on `data`
    (RISE_DATA rows); return per-step telemetry. `loss` names another registered loss on the
    same rows (the SFT baselines pass "sft")."""
    if data.empty:
        log.warning("no improved actions selected: the model is left unchanged")
        return pd.DataFrame(columns=["step", "epoch", "loss"])
    policy, t = trainer.model, trainer
    torch.manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    prompts, actions = encode(tokenizer, data)
    group = torch.tensor(pd.factorize(data["problem_id"])[0])
    reward = torch.tensor(data["reward"].to_numpy(), dtype=torch.float32)
    loss_fn = get_loss(loss or f"rise_{cfg['loss']}")
    config = LossConfig(k=1, tau=cfg.get("tau", 0.4))
    dtype = torch.bfloat16 if cfg["bf16"] else torch.float32
    policy.train()
    rows, step = [], 0
    for epoch in range(cfg["epochs"]):
        batches = problem_batches(data, cfg["problems_per_batch"], rng)
        for idx in tqdm(batches, desc=f"rise epoch {epoch + 1}", disable=not t.is_main):
            start = time.perf_counter()
            idx, share = rank_share(idx, group, t.rank, t.world)
            ids, attention, mask = core.pack([prompts[i] for i in idx], [actions[i] for i in idx],
                                             tokenizer.pad_token_id)
            with torch.autocast("cpu", dtype=dtype, enabled=cfg["bf16"]):
                logp = core.token_logprobs(policy, ids, attention)
            batch = AttemptBatch(logp=logp, ref_logp=logp.detach(), mask=mask.float(),
                                 reward=reward[idx], group=group[idx])
            loss, stats = loss_fn(batch, None, config)
            # the loss is a mean over the batch's action tokens: weight by this rank's share
            tokens, rows_here = float(mask.sum()) * share, float(len(idx)) * share
            total_tokens, total_rows, all_tokens = t.all_sum(
                [tokens, rows_here, float(attention.sum()) * share])
            t.backward(loss * distributed.global_weight(tokens, total_tokens, t.world), last=True)
            grad_norm = t.step()
            if t.world > 1:  # token-weighted loss, row-weighted means, the largest weight
                loss_sum, weight_sum, reward_sum = t.all_sum(
                    [stats["loss"] * tokens, stats["weight_mean"] * rows_here,
                     stats["reward_mean"] * rows_here])
                stats.update(loss=loss_sum / total_tokens, weight_mean=weight_sum / total_rows,
                             reward_mean=reward_sum / total_rows,
                             weight_max=t.all_max([stats["weight_max"] if share else 0.0])[0])
            step += 1
            rows.append({"step": step, "epoch": epoch + 1, **stats,
                         "grad_norm": float(grad_norm),
                         "tokens_per_s": all_tokens / (time.perf_counter() - start)})
            tracking.log_step("train", rows[-1], step)
    return pd.DataFrame(rows)
