import atexit
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
# Two cores: keep every test's torch to one thread so parallel work never oversubscribes.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Snakemake imports its Slurm executor plugin at every start, and the plugin then runs `scontrol
# show config`. Where a Slurm client is configured but no controller is up (a machine that ran
# tests/slurm/local_slurm.sh, between Slurm tests), scontrol retries for MessageTimeout (10 s):
# 9 s of every dry run. Every test but the Slurm ones gets the same configuration with a 1-s
# MessageTimeout; tests/workflow/test_slurm.py talks to the system's (the `slurm_conf` fixture).
# The system's path is kept in the environment, since pytest-xdist's workers inherit the copy's
# as SLURM_CONF.
SLURM_CONF = os.environ.setdefault(
    "SELFCORRECT_SYSTEM_SLURM_CONF", os.environ.get("SLURM_CONF", "/etc/slurm/slurm.conf")
)


def _quick_failing_slurm_conf(conf: str) -> str:
    text = re.sub(r"(?im)^\s*MessageTimeout\s*=.*$", "", Path(conf).read_text())
    folder = tempfile.mkdtemp(prefix="selfcorrect-slurm-conf-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / "slurm.conf"
    path.write_text(f"{text}\nMessageTimeout=1\n")
    return str(path)


if os.path.isfile(SLURM_CONF):
    os.environ["SLURM_CONF"] = _quick_failing_slurm_conf(SLURM_CONF)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def slurm_conf() -> str:
    """The system's Slurm configuration (the other tests see a copy that gives up quickly)."""
    return SLURM_CONF


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


# `make test` runs the files on two workers (pytest-xdist, --dist loadfile), each file whole on
# one worker so its module fixtures (a DAG run, a trained model) are built once. The longest
# files go first, longest first, so no worker is left alone with one at the end (their times
# are in `make test`'s --durations table); the rest keep their order. The Slurm test goes
# first of all: most of its time is waiting on Slurm (the executor plugin sleeps 5 s before
# each sbatch and polls less often while nothing finishes), and the tiny DAG beside it, run
# on both cores, fills that core.
LONGEST = (
    "tests/workflow/test_slurm.py",
    "tests/workflow/test_workflow.py",
    "tests/workflow/test_real_model.py",
    "tests/stage/test_pretrain_learns.py",
    "tests/workflow/test_vllm_workflow.py",
    "tests/workflow/test_code_preset.py",
    "tests/stage/test_deepspeed.py",
)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        return LONGEST.index(path) if path in LONGEST else len(LONGEST)

    items.sort(key=rank)
