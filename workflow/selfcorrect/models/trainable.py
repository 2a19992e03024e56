"""Which parameters a trainer updates: all of them, or only the top decoder layers.

`trainable_layers: N` (N > 0) trains the last N decoder layers and the final norm and freezes
the rest, the token embeddings included. Besides fewer optimizer states, the backward pass then
stops at the lowest trained layer: no activation gradients flow through the frozen layers
below it. A tied output layer (lm_head sharing the embedding matrix, as in SmolLM2) is frozen
with the embeddings; an untied one stays trainable. On this CPU this made a SmolLM2-135M
training step several times faster than full fine-tuning, and faster than LoRA, whose backward
still runs through every layer (`selfcorrect bench model` measures all three in one run).
"""

from __future__ import annotations

from selfcorrect.errors import SelfCorrectError


def decoder_layers(model):
    """The model's stack of decoder layers (Llama, Qwen2, Mistral, GPT-2 style)."""
    inner = getattr(model, "model", None) or getattr(model, "transformer", None)
    layers = getattr(inner, "layers", None) or getattr(inner, "h", None)
    if layers is None:
        raise SelfCorrectError(
            f"trainable_layers: cannot find the decoder layers of {type(model).__name__}"
        )
    return inner, layers


def limit_trainable(model, layers: int) -> int:
    """Freeze all but the top `layers` decoder layers (0: train everything). Returns the number
    of trainable parameters."""
    if layers > 0:
        inner, stack = decoder_layers(model)
        if layers > len(stack):
            raise SelfCorrectError(
                f"trainable_layers: {layers} is more than the model's {len(stack)} layers"
            )
        for p in model.parameters():
            p.requires_grad_(False)
        trained = list(stack[-layers:])
        norm = getattr(inner, "norm", None) or getattr(inner, "ln_f", None)
        if norm is not None:
            trained.append(norm)
        head = model.get_output_embeddings()
        tied = head is not None and head.weight is model.get_input_embeddings().weight
        if head is not None and not tied:
            trained.append(head)
        for module in trained:
            for p in module.parameters():
                p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
