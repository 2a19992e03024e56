"""The training core every method shares: log-probs of sampled tokens, the optimizer and its
schedule, and checkpoints that hold everything a resumed run needs.

Recipes (train/score.py, …) stay flat and readable and call these pieces; the mathematics
lives in train/losses.py.
"""

from __future__ import annotations

import inspect
import logging
import random
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from selfcorrect.artifacts import atomic_path
from selfcorrect.settings import OptimConfig
from selfcorrect.train.fingerprint import differences

log = logging.getLogger(__name__)
CHECKPOINT = "checkpoint.pt"
# what a checkpoint directory holds: the single-process checkpoint, the kept best weights,
# and DeepSpeed's sharded checkpoint with its record (train/distributed.py)
CHECKPOINT_FILES = (CHECKPOINT, "best.pt", "deepspeed.json", "deepspeed")


def token_logprobs(
    model, input_ids: torch.Tensor, attention_mask: torch.Tensor, start: int = 1
) -> torch.Tensor:
    """log π(x_t | x_<t) of every given token from position `start` on, [B, L] (positions
    before `start`, and always position 0, get 0).

    Only the sampled tokens' log-probs are kept: logit of the token minus the log-sum-exp of
    its row, never a full [B, L, vocab] log-softmax. The output layer runs only over the
    positions that predict tokens from `start` on (`logits_to_keep`): with a real vocabulary
    it is a large share of the forward, and the recipes score completions, not prompts.
    """
    length = input_ids.shape[1]
    start = min(max(start, 1), length)
    # logits at positions start-1 … L-1; the last predicts past the input and is dropped
    keep = length - start + 1
    if takes_logits_to_keep(model):
        logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep)
    else:  # a model without the argument computes every position's; the same ones are kept
        logits = model(input_ids=input_ids, attention_mask=attention_mask)
    logits = logits.logits[:, -keep:-1]
    targets = input_ids[:, start:]
    picked = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1).float()
    logp = picked - torch.logsumexp(logits.float(), dim=-1)
    return torch.cat([logp.new_zeros((logp.shape[0], start)), logp], dim=1)


def takes_logits_to_keep(model) -> bool:
    """Whether the model's forward takes `logits_to_keep` (transformers' causal LMs do); a
    DeepSpeed engine passes its keywords on to its module, whose forward is asked."""
    module = getattr(model, "module", model)
    return "logits_to_keep" in inspect.signature(module.forward).parameters


def first_completion(prompts: list[tuple[int, ...]]) -> int:
    """The first position any completion of a `pack`ed batch starts at (its shortest prompt):
    `token_logprobs`' `start` when only completions are scored."""
    return min(len(p) for p in prompts)


def pack(
    prompts: list[tuple[int, ...]],
    completions: list[tuple[int, ...]],
    pad_id: int,
    device: torch.device | str = "cpu",
):
    """Right-padded prompt+completion ids, attention mask, and the completion-token mask, on
    `device` (the model's: selfcorrect/device.py `model_device`); built on the host, then
    copied once each."""
    width = max(2, max(len(p) + len(c) for p, c in zip(prompts, completions)))
    n = len(prompts)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)
    attention = torch.zeros((n, width), dtype=torch.long)
    completion = torch.zeros((n, width), dtype=torch.bool)
    for row, (p, c) in enumerate(zip(prompts, completions)):
        ids = list(p) + list(c)
        input_ids[row, : len(ids)] = torch.tensor(ids, dtype=torch.long)
        attention[row, : len(ids)] = 1
        completion[row, len(p) : len(ids)] = True
    return input_ids.to(device), attention.to(device), completion.to(device)


def build_optimizer(model, cfg: OptimConfig):
    """AdamW with linear warm-up to a constant rate (the paper: Adam, constant lr)."""
    opt = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad],
        lr=cfg.lr,
        betas=(0.9, 0.99),
        weight_decay=cfg.weight_decay,
    )
    return opt, warmup_schedule(opt, cfg)


def warmup_schedule(optimizer, cfg: OptimConfig):
    """Linear warm-up over `warmup_steps`, then constant (also bound to DeepSpeed's optimizer)."""
    warmup = max(1, cfg.warmup_steps)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / warmup))


def freeze(model):
    """The frozen reference: eval mode, no grad (its forward runs under no_grad too)."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass
class TrainState:
    """What a resumed run needs besides weights and optimizer: the step (which fixes the data
    position and every sampling seed), the best checkpoint so far, and the telemetry."""

    step: int = 0
    best_reward: float = float("-inf")
    best_step: int = -1
    telemetry: list[dict] = field(default_factory=list)


def save_checkpoint(
    path: Path, model, optimizer, scheduler, state: TrainState, fingerprint: dict[str, str]
):
    with atomic_path(path / CHECKPOINT) as tmp:
        torch.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "state": asdict(state),
                "fingerprint": fingerprint,
                "rng": rng_state(),
            },
            tmp,
        )


def rng_state() -> dict:
    """This process's random states (torch, Python, numpy), as a checkpoint keeps them."""
    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": np.random.get_state(),
    }


def restore_rng(state: dict) -> None:
    """Put back what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])


def load_checkpoint(
    path: Path, model, optimizer, scheduler, fingerprint: dict[str, str]
) -> TrainState | None:
    """Restore a run from `path` if a checkpoint trained from the same inputs is there
    (train/fingerprint.py); a checkpoint of other inputs is removed."""
    file = path / CHECKPOINT
    if not file.exists():
        return None
    # on the host: loading copies into the model's and optimizer's devices (any device resumes)
    ckpt = torch.load(file, map_location="cpu", weights_only=False)
    if not is_current(file, ckpt.get("fingerprint"), fingerprint):
        discard_checkpoint(path)
        return None
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    restore_rng(ckpt["rng"])
    state = TrainState(**ckpt["state"])
    log.info("resumed from %s at step %d", file, state.step)
    return state


def is_current(
    file: Path, recorded: dict | None, fingerprint: dict[str, str], say: bool = True
) -> bool:
    """Whether the checkpoint `file` was trained from the inputs `fingerprint` describes; if
    not, one line says which inputs differ."""
    changed = differences(recorded, fingerprint)
    if changed and say:
        log.warning(
            "checkpoint %s was trained from other inputs (%s): starting fresh",
            file,
            ", ".join(changed),
        )
    return not changed


def discard_checkpoint(path: Path) -> None:
    """Remove a stale checkpoint (and its kept best weights) so nothing of it is resumed."""
    for name in CHECKPOINT_FILES:
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            target.unlink(missing_ok=True)
