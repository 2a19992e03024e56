"""`DeepSpeedTrainer`: the trainers' interface (train/distributed.py, `Plain`) on N processes
under DeepSpeed ZeRO. Apart from distributed.py so that one process never imports deepspeed:
`distributed.setup` imports this module only when WORLD_SIZE > 1.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import shutil
from dataclasses import asdict
from pathlib import Path

import torch

from selfcorrect.artifacts import atomic_path
from selfcorrect.device import model_device
from selfcorrect.errors import SelfCorrectError
from selfcorrect.settings import DistributedConfig, OptimConfig
from selfcorrect.train import core
from selfcorrect.train.distributed import Plain, share_fp32_partitions, zero_config

log = logging.getLogger(__name__)
META = "deepspeed.json"  # which DeepSpeed checkpoint tag is complete, and of what run


class DeepSpeedTrainer(Plain):
    """N processes under DeepSpeed ZeRO (stage 2: optimizer states and gradients partitioned;
    stage 3: parameters too). Weights and optimizer stay fp32 and the recipes' forward passes
    keep their autocast, as on one process, so the two paths compute the same step."""

    def __init__(self, model, cfg: OptimConfig, distributed: DistributedConfig):
        import deepspeed  # heavy, and only ever needed on several processes
        import torch.distributed as dist

        self.dist = dist
        if not dist.is_initialized():
            # backend from the accelerator: nccl on GPUs, gloo with DS_ACCELERATOR=cpu
            deepspeed.init_distributed()
        logging.getLogger("DeepSpeed").setLevel(logging.WARNING)
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self.is_main = self.rank == 0
        self.stage, self.offload = distributed.zero_stage, distributed.offload
        if self.stage not in (0, 1, 2, 3):
            raise SelfCorrectError(f"distributed.zero_stage: {self.stage} (known: 0, 1, 2, 3)")
        self.hidden = getattr(getattr(model, "config", None), "hidden_size", None)
        zero = zero_config(self.stage, self.offload, self.hidden)
        # how the optimizer state is split in a checkpoint: resume needs the same
        self.sub_group_size = zero.get("sub_group_size")
        params = [p for p in model.parameters() if p.requires_grad]
        loaded = model_device(model)
        betas, lr, wd = (0.9, 0.99), cfg.lr, cfg.weight_decay
        if self.offload:
            # DeepSpeed's vectorised CPU Adam (compiled on first use, ~140 s on this machine)
            from deepspeed.ops.adam import DeepSpeedCPUAdam

            optimizer = DeepSpeedCPUAdam(
                params, lr=lr, betas=betas, weight_decay=wd, adamw_mode=True
            )
        else:
            optimizer = torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd)
        config = {
            # the recipes own batching: one backward per micro-batch of whole problems
            "train_micro_batch_size_per_gpu": 1,
            "gradient_accumulation_steps": 1,
            "gradient_clipping": cfg.max_grad_norm,
            "zero_optimization": zero,
            "zero_allow_untested_optimizer": True,
            "steps_per_print": 2**31 - 1,
        }
        self.engine, self.optimizer, _, self.scheduler = deepspeed.initialize(
            model=model,
            optimizer=optimizer,
            config=config,
            lr_scheduler=lambda opt: core.warmup_schedule(opt, cfg),
        )
        self.model, self.module = self.engine, self.engine.module
        if self.stage == 3 and not self.offload:  # offload's CPU Adam keeps its own copies
            share_fp32_partitions(self.engine.optimizer)
        # the rank's device (cuda:LOCAL_RANK; the CPU with DS_ACCELERATOR=cpu), where the
        # engine puts the model: the stage loaded it (and the reference) there already
        self.device = torch.device(self.engine.device)
        if self.device != loaded:
            raise SelfCorrectError(
                f"device: the model was loaded on {loaded} but DeepSpeed runs "
                f"rank {self.rank} on {self.device} (use device: auto)"
            )
        log.info("rank %d of %d: training on %s", self.rank, self.world, self.device)
        self._generator = None
        self._engines = [self.engine]  # and the frozen references' (`frozen`), for `close`

    # -- the step ---------------------------------------------------------------------------
    def backward(self, loss: torch.Tensor, last: bool) -> None:
        # The recipes weight each micro-batch themselves; DeepSpeed only needs to know which
        # backward closes the step (its own accumulation would rescale the loss).
        self.engine.set_gradient_accumulation_boundary(last)
        self.engine.backward(loss, scale_wrt_gas=False)

    def step(self) -> float:
        self.engine.step()
        norm = self.engine.get_global_grad_norm()
        return float(norm) if norm is not None else float("nan")

    # -- collectives ------------------------------------------------------------------------
    def all_sum(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)  # nccl: on the GPU
        self.dist.all_reduce(t, op=self.dist.ReduceOp.SUM)
        return t.tolist()

    def all_max(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        self.dist.all_reduce(t, op=self.dist.ReduceOp.MAX)
        return t.tolist()

    def broadcast(self, obj):
        box = [obj]
        self.dist.broadcast_object_list(box, src=0)
        return box[0]

    def frozen(self, model):
        """A frozen reference model for forward passes. Under ZeRO-3 it is partitioned across
        the ranks like the policy (built so by `partitioned`, or partitioned here) inside an
        engine without optimizer, whose forward gathers each layer's parameters in turn (a
        collective: every rank runs the same forward passes); below stage 3 every rank keeps
        a whole copy."""
        model = core.freeze(model)
        if self.stage < 3:
            return model
        import deepspeed

        config = {
            "train_micro_batch_size_per_gpu": 1,
            "zero_optimization": zero_config(3, self.offload, self.hidden),
            "steps_per_print": 2**31 - 1,
        }
        engine, *_ = deepspeed.initialize(model=model, config=config)
        engine.eval()
        self._engines.append(engine)
        return engine

    # -- full weights -----------------------------------------------------------------------
    def _gathered(self, modifier_rank=None):
        """All parameters whole on every rank (ZeRO-3); a no-op for stages 0-2."""
        if self.stage < 3:
            return contextlib.nullcontext()
        import deepspeed

        return deepspeed.zero.GatheredParameters(
            list(self.module.parameters()), modifier_rank=modifier_rank
        )

    def full_state_dict(self) -> dict | None:
        """The whole model's weights on rank 0 (None elsewhere). A collective: every rank calls."""
        with self._gathered():
            if not self.is_main:
                return None
            return {k: v.detach().clone() for k, v in self.module.state_dict().items()}

    def load_full_state_dict(self, state: dict | None) -> None:
        """Rank 0's `state` into every rank's (partition of the) model. A collective."""
        with self._gathered(modifier_rank=0):
            if self.is_main:
                self.module.load_state_dict(state)
        if self.stage < 3:  # replicated parameters: rank 0's copy goes to the others
            for p in self.module.parameters():
                self.dist.broadcast(p.data, src=0)

    def generation_model(self):
        """The model rank 0 generates with (None on other ranks). A collective under ZeRO-3.

        Rollouts are generated on rank 0 for the whole global batch and sent to every rank, so
        they are exactly the samples a single process would draw (same seeds, same batches)
        and every rank computes the same telemetry. ZeRO-2 keeps a full replica of the
        parameters on each rank, used as is; under ZeRO-3 the parameters are gathered once per
        step into a plain copy on rank 0 (ZeRO-3's forward hooks are collectives, so one rank
        cannot run them alone)."""
        if self.stage < 3:
            return self.module if self.is_main else None
        state = self.full_state_dict()
        if not self.is_main:
            return None
        if self._generator is None:
            from transformers import AutoModelForCausalLM

            self._generator = AutoModelForCausalLM.from_config(self.module.config).to(self.device)
        self._generator.load_state_dict(state)
        return self._generator

    # -- checkpoints ------------------------------------------------------------------------
    def save_checkpoint(self, path: Path, state: core.TrainState, fingerprint: dict) -> None:
        """DeepSpeed's sharded checkpoint (every rank writes its partitions), then, once all
        are written, rank 0 records the tag as complete and removes older tags."""
        tag = f"step{state.step}"
        client = {
            "state": asdict(state),
            "fingerprint": fingerprint,
            "rng": core.rng_state(),
        }
        self.engine.save_checkpoint(str(path / "deepspeed"), tag=tag, client_state=client)
        self.dist.barrier()
        if self.is_main:
            meta = {
                "tag": tag,
                "fingerprint": fingerprint,
                "world_size": self.world,
                "zero_stage": self.stage,
                "sub_group_size": self.sub_group_size,
            }
            with atomic_path(path / META) as tmp:
                Path(tmp).write_text(json.dumps(meta) + "\n")
            for old in (path / "deepspeed").glob("step*"):
                if old.name != tag:
                    shutil.rmtree(old, ignore_errors=True)
        self.dist.barrier()

    def load_checkpoint(self, path: Path, fingerprint: dict) -> core.TrainState | None:
        file = path / META
        meta = json.loads(file.read_text()) if file.exists() else None
        self.dist.barrier()  # every rank has read the record before rank 0 may remove it
        if meta is None:
            return None
        if not core.is_current(file, meta.get("fingerprint"), fingerprint, say=self.is_main):
            if self.is_main:
                core.discard_checkpoint(path)
            self.dist.barrier()
            return None
        layout = {
            "world_size": self.world,
            "zero_stage": self.stage,
            "sub_group_size": self.sub_group_size,
        }
        if any(meta.get(k) != v for k, v in layout.items()):
            if self.is_main:
                log.warning(
                    "%s: checkpoint of another layout (%s), starting from scratch",
                    file,
                    {k: meta.get(k) for k in layout},
                )
            return None
        _, client = self.engine.load_checkpoint(str(path / "deepspeed"), tag=meta["tag"])
        core.restore_rng(client["rng"])
        state = core.TrainState(**client["state"])
        if self.is_main:
            log.info("resumed from %s at step %d", path / "deepspeed" / meta["tag"], state.step)
        return state

    def save_pretrained(self, tokenizer, out: str | Path, extra=None) -> None:
        state = self.full_state_dict()
        if state is not None:
            # a tied parameter (e.g. lm_head = embed_tokens) is saved once, as save_pretrained
            # does from the module itself; the gathered dict holds a copy under each name
            seen, tied = set(), set()
            for name, p in self.module.named_parameters(remove_duplicate=False):
                if id(p) in seen:
                    tied.add(name)
                seen.add(id(p))
            state = {k: v for k, v in state.items() if k not in tied}
        if self.is_main:
            self._write(self.module, state, tokenizer, out, extra)
        self.dist.barrier()

    def close(self) -> None:
        # without an orderly teardown a rank can crash on exit (measured here): the engines
        # release their hooks and buffers, and what they held is freed, while the interpreter
        # and the process group are still whole, not during the interpreter's finalization
        for engine in self._engines:
            engine.destroy()
        gc.collect()
        self.dist.barrier()
        self.dist.destroy_process_group()
