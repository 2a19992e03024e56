"""Where models and batches live, decided in one place (docs/devices.md).

`resolve_device` turns the `device` setting (config key `device`, CLI `--device`) into a
`torch.device`; every stage loads its models there (models/load.py), and everything else takes
its device from the model (`model_device`): batches, masks, rewards and generation inputs are
built on the device of the parameters they meet. `autocast` gives the forward passes their
mixed precision from the device type.
"""

from __future__ import annotations

import contextlib
import os

import torch

from selfcorrect.errors import SelfCorrectError

SETTINGS = "auto, cpu, cuda or cuda:N"


def resolve_device(setting: str | torch.device | None = "auto") -> torch.device:
    """The device for `setting` (auto | cpu | cuda | cuda:N; None means auto).

    `auto` is CUDA when a GPU is visible, else the CPU. Under torchrun/deepspeed (LOCAL_RANK
    set), `auto` and a bare `cuda` mean this process's GPU, cuda:LOCAL_RANK. With
    DS_ACCELERATOR=cpu (DeepSpeed on CPU), `auto` is the CPU.
    """
    if isinstance(setting, torch.device):
        return setting
    setting = (setting or "auto").strip().lower()
    if setting == "auto":
        cuda = torch.cuda.is_available() and os.environ.get("DS_ACCELERATOR", "") != "cpu"
        setting = "cuda" if cuda else "cpu"
    if setting == "cpu":
        return torch.device("cpu")
    if setting == "cuda" or setting.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise SelfCorrectError(
                f"device: {setting}: CUDA is not available on this machine (use auto or cpu)"
            )
        index = setting.removeprefix("cuda").removeprefix(":")
        if not index:
            index = os.environ.get("LOCAL_RANK", "0")
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise SelfCorrectError(
                f"device: {setting}: no such GPU (LOCAL_RANK "
                f"{os.environ.get('LOCAL_RANK')}, "
                f"{torch.cuda.device_count()} visible)"
            )
        return torch.device("cuda", int(index))
    raise SelfCorrectError(f"device: {setting!r}: unknown (known: {SETTINGS})")


def model_device(model) -> torch.device:
    """The device of `model`'s parameters (a module or a DeepSpeed engine)."""
    return next(model.parameters()).device


def autocast(device: torch.device | str, cpu_bf16: bool):
    """The forward passes' mixed precision on `device`.

    CUDA: bf16 autocast (fp32 where the GPU has no bf16). CPU: bf16 autocast when `cpu_bf16`
    (the recipes' `bf16` setting), fp32 otherwise. Other devices (e.g. `meta` in tests): none.
    """
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=torch.cuda.is_bf16_supported())
    if kind == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=cpu_bf16)
    return contextlib.nullcontext()
