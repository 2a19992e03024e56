import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
# Two cores: keep every test's torch to one thread so parallel work never oversubscribes.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def tiny_llama():
    """A factory of small random Llamas (hidden size 16), for tests of model plumbing."""
    from transformers import LlamaConfig, LlamaForCausalLM

    def build(layers: int = 2, tie: bool = True, vocab: int = 32) -> LlamaForCausalLM:
        torch.manual_seed(0)
        return LlamaForCausalLM(
            LlamaConfig(
                vocab_size=vocab,
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=layers,
                num_attention_heads=2,
                num_key_value_heads=2,
                max_position_embeddings=64,
                tie_word_embeddings=tie,
            )
        )

    return build


# config/test.yaml's tiny model, untrained: the base the stage tests train from.
TINY = {"hidden_size": 32, "intermediate_size": 64, "layers": 1, "heads": 2, "max_positions": 64}


@pytest.fixture(scope="session")
def save_tiny():
    """Saves a tiny model (TINY, with `shape` overriding it) and its tokenizer to `path`, built
    from torch seed `seed`, as the stage tests' base model."""
    from selfcorrect.models.tiny import build_model, build_tokenizer
    from selfcorrect.settings import TinyConfig

    def save(path: Path, seed: int = 0, **shape) -> Path:
        tok = build_tokenizer()
        torch.manual_seed(seed)
        build_model(tok, TinyConfig(**{**TINY, **shape})).save_pretrained(path)
        tok.save_pretrained(path)
        return path

    return save


def pytest_report_header(config):
    """The code sandbox's isolation mode, so a run's log says what its sandbox tests ran under."""
    try:
        from selfcorrect.rewards.sandbox import isolation_mode

        return f"code sandbox isolation: {isolation_mode()}"
    except Exception as exc:  # noqa: BLE001 - a header never fails the run
        return f"code sandbox isolation: none ({exc})"
