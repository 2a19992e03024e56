"""The rollout interface every engine implements: prompts in, completions with accounting out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from selfcorrect.settings import SamplingConfig


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    max_new_tokens: int = 64
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: SamplingConfig) -> Sampling:
        return cls(
            temperature=float(cfg.temperature),
            top_p=float(cfg.top_p),
            max_new_tokens=cfg.max_new_tokens,
            seed=cfg.seed,
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
