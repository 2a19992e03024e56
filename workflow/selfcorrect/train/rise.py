"""RISE recipe: reward-weighted fine-tuning on improved actions (Qu et al., 2024), step 3.

One flat loop: epochs over the (state, improved action) pairs in batches of whole problems
(so the advantage-weighted variant's per-problem mean is exact inside each batch), weighted
negative log-likelihood of the action tokens (train/losses.py: rise_rwr, rise_awr).
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from selfcorrect.train import core
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


def train_rise(policy, tokenizer, data: pd.DataFrame, cfg: dict, loss: str | None = None
               ) -> pd.DataFrame:
    """Fine-tune `policy` in place on `data` (RISE_DATA rows); return per-step telemetry.

    `loss` names another registered loss on the same rows (the SFT baselines pass "sft")."""
    if data.empty:
        log.warning("no improved actions selected: the model is left unchanged")
        return pd.DataFrame(columns=["step", "epoch", "loss"])
    torch.manual_seed(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    prompts, actions = encode(tokenizer, data)
    group = torch.tensor(pd.factorize(data["problem_id"])[0])
    reward = torch.tensor(data["reward"].to_numpy(), dtype=torch.float32)
    loss_fn = get_loss(loss or f"rise_{cfg['loss']}")
    config = LossConfig(k=1, tau=cfg.get("tau", 0.4))
    optimizer, scheduler = core.build_optimizer(policy, cfg)
    dtype = torch.bfloat16 if cfg["bf16"] else torch.float32
    policy.train()
    rows, step = [], 0
    for epoch in range(cfg["epochs"]):
        batches = problem_batches(data, cfg["problems_per_batch"], rng)
        for idx in tqdm(batches, desc=f"rise epoch {epoch + 1}"):
            start = time.perf_counter()
            ids, attention, mask = core.pack([prompts[i] for i in idx], [actions[i] for i in idx],
                                             tokenizer.pad_token_id)
            with torch.autocast("cpu", dtype=dtype, enabled=cfg["bf16"]):
                logp = core.token_logprobs(policy, ids, attention)
            batch = AttemptBatch(logp=logp, ref_logp=logp.detach(), mask=mask.float(),
                                 reward=reward[idx], group=group[idx])
            loss, stats = loss_fn(batch, None, config)
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(policy.parameters(), cfg["max_grad_norm"])
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            rows.append({"step": step, "epoch": epoch + 1, **stats,
                         "grad_norm": float(grad_norm),
                         "tokens_per_s": float(attention.sum()) / (time.perf_counter() - start)})
    return pd.DataFrame(rows)
