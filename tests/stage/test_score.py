"""SCoRe on a tiny model: parameters move, the reward moves, Stage I holds attempt 1 near the
reference, and a killed run resumes to the same result.

The verifier is replaced by a dense synthetic reward (the share of digits in the attempt) so an
untrained model gets a learning signal: these tests check the optimisation machinery, the
embedded-default run checks the task.
"""

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import pandas as pd
import pytest
import torch

from selfcorrect.artifacts import write_parquet
from selfcorrect.rollout.backend import Generation
from selfcorrect.settings import parse
from selfcorrect.tasks import get_task
from selfcorrect.train import core
from selfcorrect.train.score import ScoreRecipe

SYNTHETIC = "lambda self, problem, gen: sum(c.isdigit() for c in gen.text) / max(1, len(gen.text))"


def digit_share(self, problem, gen):
    return sum(c.isdigit() for c in gen.text) / max(1, len(gen.text))


def score_cfg(**overrides):
    cfg = {
        "steps": 6,
        "problems_per_step": 4,
        "samples": 4,
        "max_new_tokens": 8,
        "lr": 3e-3,
        "warmup_steps": 0,
        "checkpoint_every": 2,
        "micro_batch_problems": 2,
        "bf16": False,
        "offline_starts": 0.0,
        "keep": "last",
        "beta1": 0.0,
        "beta2": 0.0,
    }
    cfg.update(overrides)
    return parse("score", {"score": cfg}).score


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory, save_tiny):
    d = tmp_path_factory.mktemp("base")
    save_tiny(d / "model")
    problems = get_task("arith").problems("train", {"n_train": 16})
    write_parquet(problems, d / "train.parquet", "problems")
    return d


def recipe(base_dir, tmp_path, method, monkeypatch, offline=None, **overrides):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    monkeypatch.setattr(ScoreRecipe, "reward", digit_share)
    load = lambda: AutoModelForCausalLM.from_pretrained(base_dir / "model")
    problems = pd.read_parquet(base_dir / "train.parquet")
    tok = AutoTokenizer.from_pretrained(base_dir / "model")
    return ScoreRecipe(
        score_cfg(**overrides),
        method,
        load(),
        load(),
        tok,
        problems,
        get_task("arith"),
        {},
        tmp_path / method,
        offline,
    )


@pytest.mark.parametrize("method", ["score_stage1", "score_stage2", "single_turn"])
def test_a_step_changes_the_parameters(base_dir, tmp_path, method, monkeypatch):
    r = recipe(base_dir, tmp_path, method, monkeypatch, steps=1)
    before = [p.detach().clone() for p in r.policy.parameters()]
    log = r.train()
    changed = sum(not torch.equal(a, b) for a, b in zip(before, r.policy.parameters()))
    assert changed == len(before)
    # the reference never moves
    ref = dict(r.reference.named_parameters())
    assert all(not p.requires_grad for p in ref.values())
    assert {"reward_t1", "loss", "grad_norm", "tokens_per_s"} <= set(log.columns)


def test_sampling_stays_in_the_models_dtype_unless_sample_bf16(base_dir, tmp_path, monkeypatch):
    # bf16 forward passes (the default) leave sampling alone: the embedded default's evidence
    # was sampled so; bf16 sampling is opt-in
    assert score_cfg().sample_bf16 is False  # the schema's default
    assert not recipe(base_dir, tmp_path, "single_turn", monkeypatch, bf16=True).backend.bf16
    assert recipe(base_dir, tmp_path, "single_turn", monkeypatch, sample_bf16=True).backend.bf16


def test_reward_rises_under_training(base_dir, tmp_path, monkeypatch):
    r = recipe(base_dir, tmp_path, "score_stage2", monkeypatch, steps=25, problems_per_step=8)
    log = r.train()
    assert log["reward_t2"].tail(5).mean() > log["reward_t2"].head(5).mean() + 0.1
    assert log["reward_t1"].tail(5).mean() > log["reward_t1"].head(5).mean() + 0.1


@pytest.mark.parametrize("credit", ["per_attempt", "episode"])
def test_stage2_offline_starts_with_fewer_samples_than_k_train_in_whole_groups(
    base_dir, tmp_path, monkeypatch, credit
):
    # 3 problems x K = 4 on-policy, plus one offline problem with only 2 base samples: blocks of
    # K mixed problems (and 14 rollouts are no multiple of 4, so the loss raised)
    problems = pd.read_parquet(base_dir / "train.parquet")
    offline = pd.DataFrame(
        {
            "problem_id": [p for p in problems["problem_id"] for _ in (0, 1)],
            "sample": [0, 1] * len(problems),
            "completion": "12",
            "reward": [1.0, 0.0] * len(problems),
        }
    )
    r = recipe(
        base_dir,
        tmp_path,
        "score_stage2",
        monkeypatch,
        offline=offline,
        steps=1,
        problems_per_step=3,
        offline_starts=0.34,
        credit=credit,
    )
    seen = []
    real = r.attempt_batches
    monkeypatch.setattr(r, "attempt_batches", lambda rs: seen.append(rs) or real(rs))
    log = r.train()
    assert len(log) == 1 and r.loss_config.credit == credit
    micro = [x for rs in seen for x in rs]
    assert len(micro) == 3 * 4 + 2  # every rollout, once
    for rs in seen:
        batch_groups = {}
        for x, g in zip(rs, real(rs)[1].group.tolist()):
            batch_groups.setdefault(g, set()).add((x.problem, x.offline))
        assert all(len(keys) == 1 for keys in batch_groups.values())


def answers(tok, prompts):
    out = []
    for i, prompt in enumerate(prompts):
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        text = ["12", "x7", "123", "b3", "9"][(i + len(ids)) % 5]
        tokens = tok(text, add_special_tokens=False)["input_ids"]
        stop = i % 3 != 2
        tokens += [tok.eos_token_id] if stop else []
        reason = "stop" if stop else "length"
        out.append(Generation(text, len(ids), len(tokens), reason, tuple(tokens), tuple(ids)))
    return out


def separate_batches(r, rollouts):
    return r.attempt_batch(rollouts, 1), r.attempt_batch(rollouts, 2)


def loss_and_grads(r, batches):
    from selfcorrect.train.losses import get_loss

    r.policy.zero_grad(set_to_none=True)
    loss, _ = get_loss(r.method)(*batches, r.loss_config)
    loss.backward()
    return loss.item(), [p.grad.clone() for p in r.policy.parameters()]


@pytest.mark.parametrize(
    ("method", "resplit"),
    [("score_stage1", False), ("score_stage2", False), ("score_stage1", True)],
)
def test_one_forward_scores_both_attempts_as_two_would(
    base_dir, tmp_path, monkeypatch, method, resplit
):
    # offline starts too: their attempt 1 carries no loss in either form
    problems = pd.read_parquet(base_dir / "train.parquet")
    offline = pd.DataFrame(
        {
            "problem_id": list(problems["problem_id"]),
            "sample": 0,
            "completion": "12",
            "reward": 0.0,
        }
    )
    r = recipe(
        base_dir,
        tmp_path,
        method,
        monkeypatch,
        offline=offline,
        offline_starts=0.5,
        beta1=0.1,
        beta2=0.5,
    )
    # a trained model's answers (an untrained one samples special tokens, which decoding
    # drops): some end with the end-of-turn token, some are cut at the length limit
    monkeypatch.setattr(r.backend, "generate", lambda prompts, _: answers(r.tokenizer, prompts))
    rollouts = r.collect(0, list(range(4)))
    assert any(x.offline for x in rollouts) == (method == "score_stage2")
    if resplit:  # two second prompts that do not begin with attempt 1 (a BPE re-split)
        for j in (0, 5):
            y2 = rollouts[j].y2
            rollouts[j].y2 = replace(y2, prompt_ids=y2.prompt_ids[:1] + (0,) + y2.prompt_ids[2:])
    shared, alone = r.attempt_batches(rollouts), separate_batches(r, rollouts)
    assert (shared[0].logp is shared[1].logp) != resplit  # one forward where all continue
    for one, two in zip(shared, alone):
        for field in ("logp", "ref_logp"):
            a = (getattr(one, field) * one.mask).sum(1)
            b = (getattr(two, field) * two.mask).sum(1)
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
        assert torch.equal(one.mask.sum(1), two.mask.sum(1))
    loss_a, grads_a = loss_and_grads(r, shared)
    loss_b, grads_b = loss_and_grads(r, alone)
    assert loss_a == pytest.approx(loss_b, abs=1e-6)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def turn1_kl(r) -> float:
    """Mean summed k1 KL of greedy-free sampled first attempts, policy vs reference."""
    rollouts = r.collect(999, list(range(8)))
    a1 = r.attempt_batch(rollouts, 1)
    return float(((a1.logp - a1.ref_logp) * a1.mask).sum(1).mean())


def test_stage1_keeps_attempt1_nearer_the_reference_than_stage2(base_dir, tmp_path, monkeypatch):
    kl = {}
    for method in ("score_stage1", "score_stage2"):
        r = recipe(base_dir, tmp_path, method, monkeypatch, steps=10, beta2=1.0, beta1=0.01)
        r.train()
        with torch.no_grad():
            kl[method] = turn1_kl(r)
    assert kl["score_stage1"] < kl["score_stage2"]


def test_interleaving_runs_stage1_steps_inside_stage2(base_dir, tmp_path, monkeypatch):
    r = recipe(base_dir, tmp_path, "score_stage2", monkeypatch, steps=4, interleave_stage1_every=2)
    assert r.train()["method"].tolist() == ["score_stage2", "score_stage1"] * 2


def run_cli(base_dir, out, checkpoints, steps):
    cfg = {"task_cfg": {}, "score": asdict(score_cfg(steps=steps))}
    code = (
        "import sys, selfcorrect.train.score as s\n"
        f"s.ScoreRecipe.reward = {SYNTHETIC}\n"
        "from selfcorrect.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    args = [
        "--threads",
        "1",
        "score",
        "--method",
        "score_stage2",
        "--init",
        str(base_dir / "model"),
        "--ref",
        str(base_dir / "model"),
        "--problems",
        str(base_dir / "train.parquet"),
        "--cfg",
        json.dumps(cfg),
        "--checkpoints",
        str(checkpoints),
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "workflow")}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_killed_run_resumes_from_its_checkpoint_to_the_same_result(base_dir, tmp_path):
    steps = 12
    whole = run_cli(base_dir, tmp_path / "whole", tmp_path / "ck_whole", steps)
    assert whole.wait(timeout=300) == 0, whole.stderr.read()

    killed = run_cli(base_dir, tmp_path / "resumed", tmp_path / "ck", steps)
    checkpoint = tmp_path / "ck" / core.CHECKPOINT
    deadline = time.time() + 300
    while time.time() < deadline:  # kill once a mid-run checkpoint exists
        if checkpoint.exists() and torch.load(checkpoint, weights_only=False)["state"]["step"] >= 4:
            break
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    step_at_kill = torch.load(checkpoint, weights_only=False)["state"]["step"]
    assert 4 <= step_at_kill < steps and not (tmp_path / "resumed").exists()

    resumed = run_cli(base_dir, tmp_path / "resumed", tmp_path / "ck", steps)
    assert resumed.wait(timeout=300) == 0
    assert f"resumed from {checkpoint} at step {step_at_kill}" in resumed.stderr.read()

    a = pd.read_parquet(tmp_path / "whole/train_log.parquet").drop(
        columns=["tokens_per_s", "seconds"]
    )
    b = pd.read_parquet(tmp_path / "resumed/train_log.parquet").drop(
        columns=["tokens_per_s", "seconds"]
    )
    pd.testing.assert_frame_equal(a, b)
    from safetensors.torch import load_file

    wa = load_file(tmp_path / "whole/model.safetensors")
    wb = load_file(tmp_path / "resumed/model.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
