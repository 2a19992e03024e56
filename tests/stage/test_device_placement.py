"""Nothing is built on the CPU behind the model's back (docs/devices.md).

The models live on torch's `meta` device (shapes, no data): any batch, mask or reward built on
the CPU and mixed with them raises. One training update from fixed rollouts for each trainer
(SCoRe, RISE, SFT, pre-training), the packing and log-probs they share, model loading and the
hf backend's inputs run here, so a forgotten placement fails on a machine without a GPU.
A meta tensor holds no values: reading one as a Python number (telemetry, gradient norms, token
counts) gives 1 here, and the two ops whose output size depends on values (RISE's grouping: unique, bincount)
see one group; that is all the update's bookkeeping needs.
"""

import copy

import pandas as pd
import pytest
import torch

from selfcorrect.models.load import load_model
from selfcorrect.models.pretrain import pretrain
from selfcorrect.models.tiny import build_model, build_tokenizer
from selfcorrect.rollout.backend import Generation, Sampling
from selfcorrect.rollout.hf import HFBackend
from selfcorrect.settings import TinyConfig, parse
from selfcorrect.tasks import get_task
from selfcorrect.train import core, distributed
from selfcorrect.train.losses import LossConfig
from selfcorrect.train.rise import train_rise
from selfcorrect.train.score import Rollout, ScoreRecipe

TINY = TinyConfig(hidden_size=32, intermediate_size=64, layers=1, heads=2, max_positions=64)
META = torch.device("meta")


@pytest.fixture(autouse=True)
def meta_values(monkeypatch):
    item, as_float, as_int = torch.Tensor.item, torch.Tensor.__float__, torch.Tensor.__int__
    unique, bincount = torch.unique, torch.bincount
    monkeypatch.setattr(torch.Tensor, "item", lambda t: 1 if t.is_meta else item(t))
    monkeypatch.setattr(torch.Tensor, "__float__", lambda t: 1.0 if t.is_meta else as_float(t))
    monkeypatch.setattr(torch.Tensor, "__int__", lambda t: 1 if t.is_meta else as_int(t))

    def one_group(x, *args, **kwargs):  # unique(..., return_inverse=True) as losses.py calls it
        if not x.is_meta:
            return unique(x, *args, **kwargs)
        return x[:1], torch.zeros_like(x)

    def count(x, weights=None, minlength=0):
        if not x.is_meta:
            return bincount(x, weights, minlength)
        return torch.full((max(minlength, 1),), x.shape[0], device=x.device)

    monkeypatch.setattr(torch, "unique", one_group)
    monkeypatch.setattr(torch, "bincount", count)


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def inputs_on_meta(module, args, kwargs):
    """A forward pre-hook: the model's own inputs must be on its device. (An embedding lookup
    takes CPU indices into meta weights without complaint, where a GPU would refuse them.)"""
    tensors = [x for x in (*args, *kwargs.values()) if isinstance(x, torch.Tensor)]
    off = [f"{tuple(x.shape)} on {x.device}" for x in tensors if not x.is_meta]
    if off:
        raise RuntimeError(f"forward inputs not on the model's device (meta): {off}")


@pytest.fixture
def model(tok):
    torch.manual_seed(0)
    model = build_model(tok, TINY).to(META)
    model.register_forward_pre_hook(inputs_on_meta, with_kwargs=True)
    return model


def on_meta(model) -> bool:
    return all(p.is_meta for p in model.parameters())


def gen(tok, prompt: str, text: str) -> Generation:
    def ids(s: str) -> tuple[int, ...]:
        return tuple(tok(s, add_special_tokens=False)["input_ids"])

    return Generation(
        text, len(prompt), len(text) + 1, "stop", ids(text) + (tok.eos_token_id,), ids(prompt)
    )


def fixed_rollouts(tok, problems: int, k: int) -> list[Rollout]:
    """Two attempts per (problem, sample), of different lengths, with rewards 0/1."""
    out = []
    for i in range(problems):
        for s in range(k):
            y1 = gen(tok, f"<s><|user|>{i}+{s}=?<|end|><|assistant|>", str(i + s) * (s + 1))
            y2 = gen(
                tok,
                f"<s><|user|>{i}+{s}=?<|end|><|assistant|>{y1.text}<|end|><|user|>"
                "again<|end|><|assistant|>",
                str(i + s + 1),
            )
            out.append(Rollout(i, y1, y2, float(s % 2), float((s + i) % 2)))
    return out


def test_pack_and_token_logprobs_stay_on_the_models_device(tok, model):
    ids, attention, mask = core.pack([(1, 2, 3), (4,)], [(5, 6), (7, 8, 9)], tok.pad_token_id, META)
    assert {ids.device, attention.device, mask.device} == {META}
    logp = core.token_logprobs(model, ids, attention)
    assert logp.device == META and logp.shape == ids.shape


@pytest.mark.parametrize("method", ["score_stage1", "score_stage2", "single_turn"])
def test_a_score_update_runs_on_the_models_device(tok, model, method, tmp_path):
    given = {
        "steps": 1,
        "problems_per_step": 2,
        "samples": 2,
        "micro_batch_problems": 1,
        "bf16": True,
        "offline_starts": 0.0,
        "backend": "hf",
    }
    cfg = parse("score", {"score": given}).score
    problems = get_task("arith").problems("train", {"n_train": 4})
    reference = copy.deepcopy(model)
    recipe = ScoreRecipe(
        cfg, method, model, reference, tok, problems, get_task("arith"), {}, tmp_path, None
    )
    assert recipe.trainer.device == META
    stats = recipe.update(fixed_rollouts(tok, problems=2, k=2), method)
    assert on_meta(recipe.policy) and on_meta(recipe.reference)
    assert all(p.grad is None for p in recipe.policy.parameters())  # stepped, then zeroed
    assert {"loss", "grad_norm"} <= set(stats)


@pytest.mark.parametrize("loss", ["rise_rwr", "rise_awr", "sft"])
def test_a_rise_or_sft_update_runs_on_the_models_device(tok, model, loss):
    data = pd.DataFrame(
        {
            "problem_id": ["a", "a", "b", "c"],
            "context": ["<s><|user|>1+2=?<|end|><|assistant|>"] * 2
            + ["<s><|user|>3+4=?<|end|><|assistant|>", "<s><|user|>5=?<|end|><|assistant|>"],
            "action": ["3", "12", "7", "five"],
            "reward": [1.0, 0.0, 1.0, 0.5],
        }
    )
    cfg = parse("rise-train", {"epochs": 1, "problems_per_batch": 2, "bf16": True})
    trainer = distributed.setup(model, cfg)
    log = train_rise(trainer, tok, data, cfg, loss, LossConfig(k=1, tau=cfg.tau))
    assert len(log) == 2 and on_meta(model)


def test_a_pretraining_step_runs_on_the_models_device(tok, model):
    given = {"pretrain": {"steps": 1, "batch_size": 3, "bf16": True}}
    cfg = parse("base-model", {"task": "arith", "base_model": given}).base_model.pretrain
    transcript = get_task("arith").sft_transcripts({})
    curve = pretrain(model, tok, transcript, cfg)
    assert len(curve) == 1 and on_meta(model)


def test_the_hf_backend_generates_from_inputs_on_the_models_device(tok, model, monkeypatch):
    seen = []

    def generate(input_ids, attention_mask, **kwargs):  # records, then "generates" end-of-turn
        seen.append((input_ids.device, attention_mask.device))
        rows, width = input_ids.shape  # (a meta tensor has no values to read back)
        return torch.full((rows, width + 1), tok.eos_token_id)

    monkeypatch.setattr(model, "generate", generate)
    backend = HFBackend(model, tok, batch_size=2, progress=False)
    backend.generate(
        ["<s><|user|>1+1=?<|end|><|assistant|>", "<s><|user|>2=?<|end|>"],
        Sampling(max_new_tokens=4),
    )
    assert seen == [(META, META)]


def test_load_model_places_the_model(tok, tmp_path):
    build_model(tok, TINY).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    loaded, _ = load_model(tmp_path, device=META)
    assert on_meta(loaded)
    cpu, _ = load_model(tmp_path, device="cpu")
    assert all(p.device.type == "cpu" for p in cpu.parameters())
