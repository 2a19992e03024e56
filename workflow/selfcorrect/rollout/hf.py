"""The transformers backend: batched `generate` with a KV cache. Always available."""

from __future__ import annotations

from contextlib import nullcontext

import torch
from tqdm import tqdm

from selfcorrect.device import autocast, model_device
from selfcorrect.rollout.backend import Generation, Sampling


class HFBackend:
    name = "hf"

    def __init__(
        self, model, tokenizer, batch_size: int = 256, progress: bool = True, bf16: bool = False
    ):
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size
        self.progress = progress
        # sampling under bf16 autocast (selfcorrect/device.py `autocast`), as the trainers'
        # forward passes run: 1.5x faster on the tiny model on this CPU (measured), but other
        # tokens than sampling in the model's dtype, so opt-in (score.sample_bf16)
        self.bf16 = bf16

    def update_weights(self, model) -> None:
        # Same process, same module: the trainer's parameters are the engine's parameters.
        self.model = model

    @torch.no_grad()
    def generate(self, prompts: list[str], sampling: Sampling) -> list[Generation]:
        tok = self.tokenizer
        encoded = tok(prompts, add_special_tokens=False)["input_ids"]
        # Length-sorted batches waste less compute on padding; results go back in input order.
        order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
        out: list[Generation | None] = [None] * len(prompts)
        torch.manual_seed(sampling.seed)
        was_training = self.model.training
        self.model.eval()
        batches = range(0, len(order), self.batch_size)
        with autocast(model_device(self.model), self.bf16) if self.bf16 else nullcontext():
            for start in tqdm(batches, desc="generate", disable=not self.progress, leave=False):
                idx = order[start : start + self.batch_size]
                for i, gen in zip(idx, self._generate_batch([encoded[i] for i in idx], sampling)):
                    out[i] = gen
        self.model.train(was_training)
        return out  # type: ignore[return-value]

    def _generate_batch(self, batch: list[list[int]], sampling: Sampling) -> list[Generation]:
        tok = self.tokenizer
        width = max(len(ids) for ids in batch)
        pad = tok.pad_token_id
        device = model_device(self.model)  # the policy's, which training may have moved
        input_ids = torch.tensor([[pad] * (width - len(ids)) + ids for ids in batch], device=device)
        attention = torch.tensor(
            [[0] * (width - len(ids)) + [1] * len(ids) for ids in batch], device=device
        )
        sample = sampling.temperature > 0
        generated = self.model.generate(
            input_ids=input_ids,
            attention_mask=attention,
            do_sample=sample,
            temperature=sampling.temperature if sample else None,
            top_p=sampling.top_p if sample else None,
            top_k=0 if sample else None,
            max_new_tokens=sampling.max_new_tokens,
            eos_token_id=tok.eos_token_id,
            pad_token_id=pad,
        )[:, width:]
        return [self._finish(row.tolist(), ids) for row, ids in zip(generated, batch)]

    def _finish(self, tokens: list[int], prompt: list[int]) -> Generation:
        eos = self.tokenizer.eos_token_id
        if eos in tokens:
            tokens = tokens[: tokens.index(eos) + 1]  # the end-of-turn token counts as generated
            text_tokens, reason = tokens[:-1], "stop"
        else:
            text_tokens, reason = tokens, "length"
        text = self.tokenizer.decode(text_tokens, skip_special_tokens=True)
        return Generation(text, len(prompt), len(tokens), reason, tuple(tokens), tuple(prompt))
