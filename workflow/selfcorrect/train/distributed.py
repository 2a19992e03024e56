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

import contextlib
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
    limit_trainable(model, cfg.trainable_layers)
    # a parameter built partitioned (`partitioned`) holds only its share: count its whole size
    size = {id(p): getattr(p, "ds_numel", p.numel()) for p in model.parameters()}
    log.info(
        "training %s of %s parameters",
        f"{sum(size[id(p)] for p in model.parameters() if p.requires_grad):,}",
        f"{sum(size.values()):,}",
    )
    if world_size() <= 1:
        return Plain(model, cfg)
    from selfcorrect.train.deepspeed_trainer import DeepSpeedTrainer  # imports deepspeed

    return DeepSpeedTrainer(model, cfg, distributed or parse("distributed", {}, "distributed"))


def zero_config(stage: int, offload: bool, hidden: int | None) -> dict:
    """DeepSpeed's `zero_optimization` section for `stage` (and CPU offload), its buckets sized
    to a model of `hidden` width."""
    zero: dict = {"stage": stage}
    if hidden:
        # buckets sized to the model as the HF integration's "auto" does: DeepSpeed's
        # defaults (5e8 elements) are for large GPU models, and under ZeRO-3 a bucket that
        # large keeps more memory per rank than the partitioning saves on a small model
        zero.update(
            reduce_bucket_size=hidden * hidden,
            allgather_bucket_size=hidden * hidden,
            stage3_prefetch_bucket_size=int(0.9 * hidden * hidden),
            stage3_param_persistence_threshold=10 * hidden,
            # keep only a few layers' parameters gathered at a time (the defaults,
            # 1e9, keep a model under a billion parameters whole on every rank)
            stage3_max_live_parameters=4 * hidden * hidden,
            stage3_max_reuse_distance=4 * hidden * hidden,
        )
        if stage == 3:
            # the optimizer steps the rank's flat fp32 partition in sub-groups of this size;
            # AdamW's temporaries are each the size of one (the default, 1e9 elements, makes
            # one group of a small model's whole partition: 3 partition-sized temporaries, the
            # largest transient of a ZeRO-3 step, measured with `selfcorrect bench zero`)
            zero["sub_group_size"] = 4 * hidden * hidden
    if offload:
        zero["offload_optimizer"] = {"device": "cpu"}
        if stage == 3:
            zero["offload_param"] = {"device": "cpu"}
    return zero


@contextlib.contextmanager
def partitioned(distributed: DistributedConfig | None = None):
    """Models built or loaded inside (`from_pretrained`, `from_config`) are built partitioned
    under ZeRO-3 on several processes: transformers' ZeRO-3-aware loading (deepspeed.zero.Init)
    gives each rank only its share of every parameter, so no rank ever holds the whole model,
    policy or reference. Elsewhere (one process, ZeRO-0/1/2) it changes nothing.

    The models must then go to `setup` (the policy) and `Trainer.frozen` (a reference): a
    partitioned model computes only inside a DeepSpeed engine."""
    distributed = distributed or parse("distributed", {}, "distributed")
    if world_size() <= 1 or distributed.zero_stage < 3:
        yield
        return
    import deepspeed
    import torch.distributed as dist
    from transformers.integrations import HfDeepSpeedConfig

    if not dist.is_initialized():
        deepspeed.init_distributed()
    # transformers reads this through a weak reference while it is alive: only inside the
    # block, so that rank 0's plain generation copy (`generation_model`) is built whole
    config = HfDeepSpeedConfig(
        {
            "train_micro_batch_size_per_gpu": 1,
            "zero_optimization": zero_config(3, distributed.offload, None),
        }
    )
    try:
        yield
    finally:
        del config


def share_fp32_partitions(optimizer) -> int:
    """Under ZeRO-3 with fp32 parameters, make the optimizer's fp32 master partitions the
    parameters' own partitions instead of copies; returns how many were shared.

    The master partition exists so that bf16/fp16 parameters are updated in fp32; with fp32
    parameters it is a copy of the parameter partition (DeepSpeed copies it back after every
    step). DeepSpeed means to share the two when their dtype and device match
    (`_create_fp32_partitions` in zero/stage3.py), but compares a torch.device with a device
    name, which never matches, and so keeps 4 bytes per parameter per rank more: on 2 ranks a
    third of the policy's steady-state ZeRO-3 memory. The tensor objects the optimizer holds
    stay the same (their storage becomes the parameters'), so the arithmetic is unchanged."""
    low = getattr(optimizer, "fp16_partitioned_groups_flat", None) or []
    master = getattr(optimizer, "fp32_partitioned_groups_flat", None) or []
    shared = 0
    if len(low) != len(master):
        return shared
    for param, copy in zip(low, master):
        same = param is not None and (param.dtype, param.device) == (copy.dtype, copy.device)
        if same and param.shape == copy.shape and param.data_ptr() != copy.data_ptr():
            copy.data = param.data
            shared += 1
    return shared


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

    def frozen(self, model):
        """A frozen reference model, ready for forward passes (no grad, eval mode)."""
        return core.freeze(model)

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
