"""Data-parallel training: plain PyTorch on one process, DeepSpeed ZeRO on several.

A trainer launched by `torchrun --nproc-per-node N` or `deepspeed --num_gpus N` (WORLD_SIZE > 1)
wraps its model in a DeepSpeed engine (ZeRO stage 2 or 3, optional optimizer offload to CPU);
one process stays plain PyTorch (`Plain`, here) and never imports deepspeed (the
`DeepSpeedTrainer` of train/deepspeed_trainer.py). Recipes see one interface,
`setup(model, cfg, distributed_cfg)`, that owns what differs between the two: the optimizer and
its step, backward over micro-batches, all-reduce of telemetry, the full weights for generation
and saving, checkpoints, and teardown.

Data parallelism is by problem: every rank takes whole problems of the global batch (`shard`),
so per-problem statistics (SCoRe's leave-one-out baseline, RISE's per-problem mean) stay exact,
and each rank weights its loss by its share of the global batch (`global_weight`), so the
averaged gradient is the one-process gradient of the same global batch.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import torch

from selfcorrect.artifacts import atomic_path
from selfcorrect.device import model_device
from selfcorrect.models.trainable import limit_trainable
from selfcorrect.settings import DistributedConfig, OptimConfig, parse
from selfcorrect.train import core

log = logging.getLogger(__name__)
T = TypeVar("T")


def world_size() -> int:
    """Processes in this run, as torchrun and the deepspeed launcher export it."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def shard(items: Sequence[T], rank: int, world: int) -> list[T]:
    """Rank `rank`'s contiguous share of `items`; shares differ in size by at most one."""
    base, extra = divmod(len(items), world)
    start = rank * base + min(rank, extra)
    return list(items[start : start + base + (rank < extra)])


def global_weight(local: float, total: float, world: int) -> float:
    """Factor on a rank's mean loss over `local` units (rows, tokens) so that the gradient
    DeepSpeed averages over `world` ranks equals the gradient of the mean over `total` units."""
    return world * local / total


def setup(model, cfg: OptimConfig, distributed: DistributedConfig | None = None):
    """The trainer for this process: `Plain` on one process, `DeepSpeedTrainer` on several
    (under `distributed`, the schema's defaults when not given). `cfg.trainable_layers` > 0
    freezes all but the top layers first (models/trainable.py)."""
    trained = limit_trainable(model, cfg.trainable_layers)
    log.info(
        "training %s of %s parameters",
        f"{trained:,}",
        f"{sum(p.numel() for p in model.parameters()):,}",
    )
    if world_size() <= 1:
        return Plain(model, cfg)
    from selfcorrect.train.deepspeed_trainer import DeepSpeedTrainer  # imports deepspeed

    return DeepSpeedTrainer(model, cfg, distributed or parse("distributed", {}, "distributed"))


class Plain:
    """One process: exactly the single-process training path (no collectives)."""

    rank, world, is_main = 0, 1, True

    def __init__(self, model, cfg: OptimConfig):
        self.module = self.model = model
        self.device = model_device(model)  # where the recipes build their batches
        log.info("training on %s", self.device)
        self.max_grad_norm = cfg.max_grad_norm
        self.optimizer, self.scheduler = core.build_optimizer(model, cfg)

    def backward(self, loss: torch.Tensor, last: bool) -> None:
        loss.backward()

    def step(self) -> float:
        """Clip, step optimizer and schedule, zero the gradients; the pre-clip grad norm."""
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(norm)

    def all_sum(self, values: list[float]) -> list[float]:
        return list(values)

    def all_max(self, values: list[float]) -> list[float]:
        return list(values)

    def broadcast(self, obj):
        return obj

    def generation_model(self):
        return self.model

    def full_state_dict(self) -> dict:
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def load_full_state_dict(self, state: dict | None) -> None:
        if state is None:
            log.warning("no kept weights to restore (best.pt missing): keeping the last step")
            return
        self.model.load_state_dict(state)

    def save_checkpoint(self, path: Path, state: core.TrainState, fingerprint: dict) -> None:
        core.save_checkpoint(path, self.model, self.optimizer, self.scheduler, state, fingerprint)

    def load_checkpoint(self, path: Path, fingerprint: dict) -> core.TrainState | None:
        return core.load_checkpoint(path, self.model, self.optimizer, self.scheduler, fingerprint)

    def save_pretrained(self, tokenizer, out: str | Path, extra=None) -> None:
        """The model directory `from_pretrained` loads, written atomically; `extra(tmp)` adds
        files (e.g. the training log)."""
        self._write(self.module, None, tokenizer, out, extra)

    @staticmethod
    def _write(module, state_dict, tokenizer, out, extra) -> None:
        with atomic_path(out) as tmp:
            module.save_pretrained(tmp, state_dict=state_dict)
            tokenizer.save_pretrained(tmp)
            if extra is not None:
                extra(Path(tmp))

    def close(self) -> None:
        pass
