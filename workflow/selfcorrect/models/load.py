"""Loading a model directory: a `save_pretrained` directory, or a pointer to a hub id / path.

For real presets the base_model rule does not copy weights: it writes `source.json` naming the
Hugging Face id or local directory, and every stage resolves it here.
"""

from __future__ import annotations

import json
from pathlib import Path

from selfcorrect.errors import SelfCorrectError

POINTER = "source.json"


def resolve(model_dir: str | Path) -> str:
    """The path or hub id that `from_pretrained` should load for `model_dir`."""
    model_dir = Path(model_dir)
    if not model_dir.exists():
        raise SelfCorrectError(f"{model_dir}: model directory not found")
    pointer = model_dir / POINTER
    if pointer.exists():
        return json.loads(pointer.read_text())["source"]
    if not (model_dir / "config.json").exists():
        raise SelfCorrectError(f"{model_dir}: not a model directory (no config.json or {POINTER})")
    return str(model_dir)


def load_model(model_dir: str | Path, dtype=None, device="auto"):
    """(model, tokenizer) for generation or training, the model on `device` (selfcorrect/device.py:
    auto, cpu, cuda, cuda:N or a torch.device); the tokenizer pads on the left."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from selfcorrect.device import resolve_device

    source = resolve(model_dir)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        kwargs = {"dtype": dtype} if dtype is not None else {}
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as exc:
        raise SelfCorrectError(f"{model_dir}: cannot load model {source!r}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    if tokenizer.chat_template is None:
        raise SelfCorrectError(f"{model_dir}: the tokenizer of {source!r} has no chat template")
    return model.to(resolve_device(device)), tokenizer


def write_pointer(source: str, out_dir: Path) -> None:
    """Record a hub id or local directory as the model, after checking a local path exists."""
    looks_local = source.startswith(("/", ".", "~")) or Path(source).exists()
    if looks_local and not (Path(source).expanduser() / "config.json").exists():
        raise SelfCorrectError(f"base_model.source: {source}: no model directory there")
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / POINTER).write_text(json.dumps({"source": source}) + "\n")
