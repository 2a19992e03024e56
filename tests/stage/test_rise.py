"""One RISE iteration end to end through the CLI on a tiny model: collect -> label ->
improve -> train, and the parameters change."""

import json

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from tests.stage.stage_cli import label, prepare, rollout, run_stage

from selfcorrect.artifacts import read_parquet
from selfcorrect.tasks.base import RISE_FEEDBACK


@pytest.fixture(scope="module")
def iteration(tmp_path_factory, save_tiny):
    d = tmp_path_factory.mktemp("rise")
    save_tiny(d / "base", max_positions=128)
    prepare(d / "train.parquet", "train", {"n_train": 6})
    collect = {
        "task_cfg": {"correction_instruction": RISE_FEEDBACK},
        "rollout": {"backend": "hf", "batch_size": 64, "turns": 2, "limit": 4},
        "sampling": {
            "samples": 1,
            "temperature": 1.0,
            "top_p": 1.0,
            "max_new_tokens": 30,
            "seed": 0,
        },
    }
    rollout(d / "base", d / "train.parquet", d / "rollouts.parquet", collect, name="m0")
    label(d / "rollouts.parquet", d / "train.parquet", d / "labels.parquet")
    improve = {
        "teacher": "solver",
        "best_of": 1,
        "temperature": 1.0,
        "max_new_tokens": 30,
        "selection": "success",
        "batch_size": 64,
        "seed": 0,
    }
    run_stage(
        "rise-improve",
        "--model",
        d / "base",
        "--rollouts",
        d / "rollouts.parquet",
        "--labels",
        d / "labels.parquet",
        "--problems",
        d / "train.parquet",
        "--iteration",
        1,
        "--cfg",
        json.dumps(improve),
        "--out",
        d / "improved.parquet",
    )
    train = {
        "train_from": "base",
        "loss": "awr",
        "tau": 0.4,
        "epochs": 2,
        "problems_per_batch": 2,
        "lr": 3e-3,
        "weight_decay": 0.0,
        "warmup_steps": 0,
        "max_grad_norm": 1.0,
        "bf16": False,
        "seed": 0,
    }
    run_stage(
        "rise-train",
        "--init",
        d / "base",
        "--data",
        d / "improved.parquet",
        "--cfg",
        json.dumps(train),
        "--out",
        d / "rise_1",
    )
    return d


def test_collection_uses_the_feedback_between_turns(iteration):
    rollouts = read_parquet(iteration / "rollouts.parquet", "rollouts")
    assert len(rollouts) == 4 * 2
    second = rollouts[rollouts.turn == 2]
    assert all(f"<|user|>{RISE_FEEDBACK}<|end|>" in c for c in second.context)


def test_improved_actions_are_the_teachers_at_every_visited_state(iteration):
    improved = read_parquet(iteration / "improved.parquet", "rise_data")
    # the solver is right at turn 1 of all 4 problems: each episode stops there (the authors'
    # rule), so no state follows a correct answer with "incorrect" feedback
    assert len(improved) == 4 and set(improved.turn) == {1}
    assert set(improved.source) == {"teacher"} and (improved.reward == 1).all()
    assert set(improved.iteration) == {1}
    rollouts = read_parquet(iteration / "rollouts.parquet", "rollouts")
    assert set(improved.context) == set(rollouts[rollouts.turn == 1].context)


def test_training_changes_the_parameters(iteration):
    before = load_file(iteration / "base/model.safetensors")
    after = load_file(iteration / "rise_1/model.safetensors")
    assert any(not torch.equal(before[k], after[k]) for k in before)

    telemetry = pd.read_parquet(iteration / "rise_1/train_log.parquet")
    assert len(telemetry) == 4  # 2 epochs x 2 batches of 2 problems
    assert telemetry["loss"].iloc[-1] < telemetry["loss"].iloc[0]


def run_improve(iteration, tmp_path, improve: dict):
    """`selfcorrect rise-improve` on the iteration fixture's rollouts; its improved actions."""
    out = tmp_path / "improved.parquet"
    run_stage(
        "rise-improve",
        "--model",
        iteration / "base",
        "--rollouts",
        iteration / "rollouts.parquet",
        "--labels",
        iteration / "labels.parquet",
        "--problems",
        iteration / "train.parquet",
        "--iteration",
        1,
        "--cfg",
        json.dumps(improve),
        "--out",
        out,
    )
    return read_parquet(out, "rise_data")


def test_self_distillation_selects_by_rule(iteration, tmp_path):
    improve = {
        "teacher": "self",
        "best_of": 3,
        "temperature": 1.0,
        "max_new_tokens": 30,
        "selection": "all",
        "batch_size": 64,
        "seed": 0,
    }
    improved = run_improve(iteration, tmp_path, improve)
    assert len(improved) % 3 == 0 and 4 * 3 <= len(improved) <= 8 * 3
    assert set(improved.source) == {"self"}
    # a turn-2 state exists only where turn 1's on-policy action and its 3 candidates all failed
    for (_, _), episode in improved.groupby(["problem_id", "sample"]):
        first = episode[episode.turn == 1]
        assert (episode.turn.max() == 1) == bool(
            (first.reward == 1).any() or (first.current_reward == 1).any()
        )


def test_on_policy_turn1_target(iteration, tmp_path):
    improve = {
        "teacher": "solver",
        "best_of": 1,
        "temperature": 1.0,
        "max_new_tokens": 30,
        "selection": "all",
        "batch_size": 64,
        "seed": 0,
        "turn1_target": "on_policy",
    }
    improved = run_improve(iteration, tmp_path, improve)
    rollouts = read_parquet(iteration / "rollouts.parquet", "rollouts")
    first = improved[improved.turn == 1]
    # turn 1's target is the rolled-out first attempt with its own reward
    assert set(first.source) == {"on_policy"} and len(first) == 4
    assert (first.reward == first.current_reward).all()
    assert set(first.action) <= set(rollouts[rollouts.turn == 1].completion)
    # later turns are the solver's, and only where turn 1 was wrong
    later = improved[improved.turn > 1]
    assert set(later.source) <= {"teacher"}
    wrong = set(first[first.reward == 0].problem_id)
    assert set(later.problem_id) == wrong
