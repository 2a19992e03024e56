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


def pytest_report_header(config):
    """The code sandbox's isolation mode, so a run's log says what its sandbox tests ran under."""
    try:
        from selfcorrect.rewards.sandbox import isolation_mode

        return f"code sandbox isolation: {isolation_mode()}"
    except Exception as exc:  # noqa: BLE001 - a header never fails the run
        return f"code sandbox isolation: none ({exc})"
