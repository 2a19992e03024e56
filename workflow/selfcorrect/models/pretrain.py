"""Pre-training the embedded default's base model on a task's transcripts (SFT from scratch).

Loss is on assistant tokens only (the attempts and their end-of-turn token). Accuracy on
held-out problems is logged along the way: it rises as a sharp phase transition, and a base
taken mid-transition hides every self-correction effect, so the curve shows where it plateaus.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable

import pandas as pd
import torch
from tqdm import tqdm

from selfcorrect.device import autocast, model_device
from selfcorrect.settings import PretrainConfig

log = logging.getLogger(__name__)


def encode_conversation(tokenizer, messages: list[dict]) -> tuple[list[int], list[bool]]:
    """Token ids of the chat-template rendering, and which of them are assistant tokens."""
    return conversation_encoder(tokenizer)(messages)


def conversation_encoder(tokenizer) -> Callable[[list[dict]], tuple[list[int], list[bool]]]:
    """`encode_conversation` for one tokenizer, its vocabulary and special ids looked up once.

    Built piece by piece (bos, then role token, content, end token per message) because
    rendering every transcript through Jinja is the bottleneck at this model size; a test
    checks it equals `tokenizer(apply_chat_template(messages))`. The lookups are hoisted:
    done per character (a tokenizer's attributes are slow to read), they took a sixth of
    pre-training's time.
    """
    vocab = tokenizer.get_vocab()
    bos, end, unk = tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id

    def encode(messages: list[dict]) -> tuple[list[int], list[bool]]:
        ids, mask = [bos], [False]
        for m in messages:
            content = [vocab.get(ch, unk) for ch in m["content"]]
            is_assistant = m["role"] == "assistant"
            ids += [vocab[f"<|{m['role']}|>"], *content, end]
            mask += [False] + [is_assistant] * (len(content) + 1)
        return ids, mask

    return encode


def collate(
    encoded: list[tuple[list[int], list[bool]]], pad_id: int, device: torch.device | str = "cpu"
):
    """Right-padded ids, attention mask and labels (-100 off assistant tokens), on `device`."""
    width = max(len(ids) for ids, _ in encoded)
    input_ids = torch.full((len(encoded), width), pad_id, dtype=torch.long)
    labels = torch.full((len(encoded), width), -100, dtype=torch.long)
    attention = torch.zeros((len(encoded), width), dtype=torch.long)
    for row, (ids, mask) in enumerate(encoded):
        n = len(ids)
        input_ids[row, :n] = torch.tensor(ids)
        attention[row, :n] = 1
        labels[row, :n] = torch.where(torch.tensor(mask), torch.tensor(ids), -100)
    return input_ids.to(device), attention.to(device), labels.to(device)


def length_buckets(encoded: list, spread: float = 1.5) -> list[list]:
    """The batch as micro-batches of similar length: sorted by length, a new one starting where
    a sequence is more than `spread` times the current one's shortest. Padding every sequence
    to the batch's longest spent about half of pre-training's compute on padding (`arith`'s
    transcripts are 33 tokens at the median and 111 at most)."""
    buckets: list[list] = []
    for item in sorted(encoded, key=lambda e: len(e[0])):
        if not buckets or len(item[0]) > spread * len(buckets[-1][0][0]):
            buckets.append([])
        buckets[-1].append(item)
    return buckets


def backward(model, batch: list, pad_id: int, bf16: bool) -> tuple[float, int]:
    """Accumulate the gradient of the batch's loss (the mean over all its target tokens) over
    length buckets; return the loss and the number of tokens computed on."""
    device = model_device(model)
    targets = sum(sum(mask[1:]) for _, mask in batch)  # the labels the model shifts by one
    loss, tokens = 0.0, 0
    for bucket in length_buckets(batch):
        input_ids, attention, labels = collate(bucket, pad_id, device)
        with autocast(device, bf16):
            part = model(
                input_ids=input_ids,
                attention_mask=attention,
                labels=labels,
                num_items_in_batch=targets,
            ).loss
        part.backward()
        loss += part.item()
        tokens += attention.sum().item()
    return loss, tokens


def lr_at(step: int, cfg: PretrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak."""
    peak, warmup, total = cfg.lr, cfg.warmup_steps, cfg.steps
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pretrain(
    model,
    tokenizer,
    transcript: Callable[[random.Random], list[dict]],
    cfg: PretrainConfig,
    evaluate: Callable[[], dict] | None = None,
) -> pd.DataFrame:
    """Train `model` in place; return the per-step log (loss, lr, tokens/s, held-out metrics)."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    opt = torch.optim.AdamW(
        model.parameters(), lr=cfg.lr, betas=(0.9, 0.98), weight_decay=cfg.weight_decay
    )
    records = []
    model.train()
    encode = conversation_encoder(tokenizer)
    bar = tqdm(range(cfg.steps), desc="pretrain")
    for step in bar:
        start = time.perf_counter()
        batch = [encode(transcript(rng)) for _ in range(cfg.batch_size)]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        loss, tokens = backward(model, batch, tokenizer.pad_token_id, cfg.bf16)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        record = {
            "step": step + 1,
            "loss": loss,
            "lr": opt.param_groups[0]["lr"],
            "tokens_per_s": tokens / (time.perf_counter() - start),
        }
        last = step + 1 == cfg.steps
        if evaluate is not None and ((step + 1) % cfg.eval_every == 0 or last):
            record.update(evaluate())
            model.train()
            log.info(
                "step %d: %s",
                step + 1,
                ", ".join(f"{k} {float(v):.4g}" for k, v in record.items() if k != "step"),
            )
        bar.set_postfix(loss=f"{record['loss']:.3f}")
        records.append(record)
    return pd.DataFrame(records)
