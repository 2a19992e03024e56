"""The pieces a real model needs: the word-problem task, GGUF sources, model cards, and
training only the top layers (on a tiny Llama, so these run in seconds)."""

import json

import pandas as pd
import pytest
import torch

from selfcorrect.errors import SelfCorrectError
from selfcorrect.models.card import CARD, CONFIG, training_metrics, write_card
from selfcorrect.models.load import gguf_location
from selfcorrect.models.trainable import limit_trainable
from selfcorrect.rewards.math import grade_math
from selfcorrect.tasks import get_task
from selfcorrect.tasks.wordprob import Problem, Step


def test_word_problem_text_answer_and_worked_solution():
    p = Problem("Mia", "pencils", 12, (Step("add", 7), Step("sub", 5), Step("mul", 2)))
    assert p.question == (
        "Mia has 12 pencils. She buys 7 more pencils. She then gives 5 pencils to a friend. "
        "She then doubles the number of pencils. How many pencils does Mia have now?"
    )
    assert p.answer == 28
    assert p.solution == "12 + 7 = 19. 19 - 5 = 14. 14 * 2 = 28. The final answer is 28."
    assert Problem("Tom", "coins", 12, (Step("div", 3),)).answer == 4


def test_word_problems_are_deterministic_held_out_and_mixed():
    task = get_task("wordprob")
    cfg = {"n_train": 300, "n_test": 60, "steps_mix": [1, 1, 1]}
    train, test = task.problems("train", cfg), task.problems("test", cfg)
    assert train.equals(task.problems("train", cfg))
    assert not set(train["question"]) & set(test["question"])
    assert train["problem_id"].is_unique and len(train) == 300
    steps = pd.Series([json.loads(m)["steps"] for m in train["meta"]]).value_counts()
    assert set(steps.index) == {1, 2, 3} and steps.min() > 50
    assert (train["answer"].astype(int) > 0).all()
    # each reference solution grades as correct against its own answer, with math-verify
    for sol, ans in zip(train["solution"][:20], train["answer"][:20]):
        assert grade_math(sol, ans).verdict == "correct"


def test_free_text_answers_grade_with_math_verify():
    text = "Tom starts with 6. Then 6 + 4 = 10. So the final answer is 10."
    assert grade_math(text, "10").verdict == "correct"
    assert grade_math(text, "11").verdict == "wrong"
    assert grade_math("He has some shells left.", "10").verdict == "no_answer"


def test_gguf_sources(tmp_path):
    assert gguf_location("Qwen/Qwen2.5-1.5B-Instruct") is None
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    assert gguf_location(str(f)) == (tmp_path, "m.gguf")
    with pytest.raises(SelfCorrectError, match="no GGUF file"):
        gguf_location(str(tmp_path / "missing.gguf"))
    with pytest.raises(SelfCorrectError, match="no installed package 'nosuchpkg'"):
        gguf_location("package:nosuchpkg/x.gguf")


def test_model_card_and_config(tmp_path):
    log = pd.DataFrame({"step": [0, 1], "reward_t2": [0.25, 0.5], "kl_t1": [0.0, 0.01]})
    write_card(
        tmp_path,
        name="score",
        method="score_stage2",
        cfg={"score": {"alpha": 10.0}},
        started_from="results/models/score_stage1",
        data="`train.parquet`",
        metrics=training_metrics(log),
        base_model="package:x/y.gguf",
    )
    card = (tmp_path / CARD).read_text()
    assert card.startswith("---\nlibrary_name: transformers")
    assert "base_model: package:x/y.gguf" in card and "| last reward_t2 | 0.5 |" in card
    assert "Stage II" in card and "| steps | 2 |" in card
    assert "alpha: 10.0" in (tmp_path / CONFIG).read_text()


def test_top_layers_only_are_trained_and_backward_stops_there(tiny_llama):
    model = tiny_llama(layers=3, tie=True)
    n = limit_trainable(model, 1)
    trained = {name for name, p in model.named_parameters() if p.requires_grad}
    assert trained and all(k.startswith(("model.layers.2.", "model.norm")) for k in trained)
    assert n == sum(p.numel() for name, p in model.named_parameters() if name in trained)
    ids = torch.randint(0, model.config.vocab_size, (2, 6))
    model(input_ids=ids, labels=ids).loss.backward()
    assert all(p.grad is None for name, p in model.named_parameters() if name not in trained)
    assert all(p.grad is not None for name, p in model.named_parameters() if name in trained)
    with pytest.raises(SelfCorrectError, match="more than the model's 3 layers"):
        limit_trainable(model, 4)
    untied = tiny_llama(layers=2, tie=False)
    limit_trainable(untied, 1)
    assert (
        untied.lm_head.weight.requires_grad and not untied.model.embed_tokens.weight.requires_grad
    )
    fresh = tiny_llama(layers=2, tie=False)
    assert limit_trainable(fresh, 0) == sum(p.numel() for p in fresh.parameters())


def test_training_flops_count_what_each_option_computes(tiny_llama):
    from selfcorrect.bench.model import step_flops

    # vocab 32 x hidden 16 embedding (tied head): 512; a layer: attention 4·16·16 + MLP 3·16·32 +
    # two norms 2·16 = 2592; final norm 16: 5712 parameters in all
    full = tiny_llama(layers=2, tie=True)
    assert sum(p.numel() for p in full.parameters()) == 5712
    # forward 2·5712, activation gradients through everything above the embedding 2·5200,
    # weight gradients of all 5712
    assert step_flops(full, tokens=10) == (2 * 5712 + 2 * 5200 + 2 * 5712) * 10
    top = tiny_llama(layers=2, tie=True)
    limit_trainable(top, 1)  # layer 1 (2592) and the final norm (16) are trained
    assert step_flops(top, tokens=10) == (2 * 5712 + 2 * 2608 + 2 * 2608) * 10
