import random

import pandas as pd

from selfcorrect.config import task_config
from selfcorrect.rewards.exact import grade_exact
from selfcorrect.tasks import arith, get_task
from selfcorrect.tasks.base import RISE_FEEDBACK


def test_attempt_commits_answer_first_then_check_and_verdict():
    p = arith.Problem(32, 29, 48)
    assert arith.attempt(p, 99) == "99|32+29=61;61+48=109|n"
    assert arith.attempt(p, 109) == "109|32+29=61;61+48=109|y"


def test_splits_are_deterministic_and_disjoint():
    task = get_task("arith")
    train = task.problems("train", {"n_train": 300})
    test = task.problems("test", {"n_test": 200})
    assert train.equals(task.problems("train", {"n_train": 300}))
    assert len(set(train.problem_id)) == 300 and len(set(test.problem_id)) == 200
    assert not set(train.question) & set(test.question)
    assert set(train.split) == {"train"} and set(test.split) == {"test"}
    # every stored reference solution grades as correct
    assert all(grade_exact(s, a).reward == 1.0 for s, a in zip(test.solution, test.answer))


def test_held_out_problems_never_appear_in_pretraining_transcripts():
    cfg = task_config("arith", {})
    held_out = set(get_task("arith").problems("test", {"n_test": 512}).question)
    rng = random.Random(0)
    seen = {arith.sft_transcript(rng, cfg, "recheck")[0]["content"] for _ in range(3000)}
    questions = {s.removeprefix(arith.WORK_PREFIX) for s in seen}
    assert not questions & held_out


def test_second_attempts_are_resolves_that_mostly_copy():
    sft = {"two_turn": 1.0, "check_only": 0.0, "fix": 0.0, "copy": 0.7}
    cfg = task_config("arith", {"sft": sft})
    rng = random.Random(1)
    convs = [arith.sft_transcript(rng, cfg, "recheck") for _ in range(2000)]
    assert all(len(c) == 4 and c[2]["content"] in ("recheck", RISE_FEEDBACK) for c in convs)
    feedback = sum(c[2]["content"] == RISE_FEEDBACK for c in convs) / len(convs)
    assert 0.45 <= feedback <= 0.55  # feedback_share: RISE's protocol is in-distribution too
    copies = sum(c[1]["content"] == c[3]["content"] for c in convs) / len(convs)
    # copies by construction (0.7) plus fresh draws that repeat the same answer: the guesser's
    # error on three-term problems is systematic, so a re-solve mostly repeats it
    assert 0.75 <= copies <= 0.92


def test_a_share_of_second_attempts_reads_the_check():
    cfg = task_config("arith", {"sft": {"two_turn": 1.0, "check_only": 0.0, "fix": 0.15}})
    rng = random.Random(2)
    convs = [arith.sft_transcript(rng, cfg, "recheck") for _ in range(4000)]
    wrong = [c for c in convs if c[1]["content"].endswith("|n")]
    # the check's value: the last number of attempt 1's check
    fixed = [
        c
        for c in wrong
        if c[3]["content"].split("|")[0] == c[1]["content"].split("=")[-1].split("|")[0]
    ]
    # fix (0.15) plus fresh guesses that happen to be right (0.85 * 0.3 * at most 0.5)
    assert 0.15 <= len(fixed) / len(wrong) <= 0.25
    assert all(c[3]["content"].endswith("|y") for c in fixed)


def test_guesses_slip_randomly_on_two_terms_and_stop_early_on_three():
    sft = {"guess_accuracy_easy": 0.5, "guess_accuracy_hard": 0.1}
    rng = random.Random(4)
    easy = arith.Problem(38, 45, 0)
    guesses = [arith.noisy_guess(rng, easy, sft) for _ in range(2000)]
    assert 0.45 <= guesses.count(83) / 2000 <= 0.55
    hard = arith.Problem(38, 45, 19)  # the guesser stops at 38+45 = 83
    assert arith.stopped_early(hard) == 83
    guesses = [arith.noisy_guess(rng, hard, sft) for _ in range(2000)]
    assert set(guesses) == {102, 83} and 0.07 <= guesses.count(102) / 2000 <= 0.13


def test_check_only_transcripts_have_no_guess():
    cfg = task_config("arith", {"sft": {"check_only": 1.0}})
    conv = arith.sft_transcript(random.Random(2), cfg, "recheck")
    assert conv[0]["content"].startswith(arith.WORK_PREFIX)
    assert "|" not in conv[1]["content"]


def test_slip_changes_one_digit_place_and_stays_positive():
    rng = random.Random(3)
    for value in (1, 10, 109, 250):
        for _ in range(50):
            wrong = arith.slip(rng, value)
            assert wrong > 0 and abs(wrong - value) in (1, 10, 100)


def test_solver_is_always_right():
    test = get_task("arith").problems("test", {"n_test": 50})
    assert all(
        grade_exact(arith.solve(q), a).reward == 1 for q, a in zip(test.question, test.answer)
    )


def test_grade_exact_verdicts():
    assert grade_exact("109|32+29=61;61+48=109|y", "109").verdict == "correct"
    assert grade_exact("99|32+29=61;61+48=109|n", "109").verdict == "wrong"
    assert grade_exact("|32+29=61", "109").verdict == "no_answer"
    assert grade_exact("", "109").reward == 0.0


def _second(context_attempt: str) -> str:
    return f"<s><|user|>32+29+48<|end|><|assistant|>{context_attempt}<|end|><|user|>recheck<|end|><|assistant|>"


def test_fix_candidates_are_second_attempts_after_a_wrong_guess():
    rows = pd.DataFrame(
        {
            "turn": [1, 2, 2],
            "context": [
                "<s><|user|>32+29+48<|end|><|assistant|>",
                _second("61|32+29=61;61+48=109|n"),
                _second("109|32+29=61;61+48=109|y"),
            ],
        }
    )
    assert arith.fix_candidates(rows) == [(rows["context"][1], "61", "109")]


def test_fix_log_odds_follows_what_the_model_learned():
    import torch

    from selfcorrect.models.tiny import build_model, build_tokenizer
    from selfcorrect.settings import TinyConfig

    tok = build_tokenizer()
    torch.manual_seed(0)
    model = build_model(
        tok, TinyConfig(hidden_size=16, intermediate_size=32, layers=1, heads=2, max_positions=64)
    )
    context = _second("61|32+29=61;61+48=109|n")
    rows = pd.DataFrame({"turn": [2], "context": [context]})
    opt = torch.optim.Adam(model.parameters(), lr=3e-2)
    for target, sign in (("109|", 1), ("61|", -1)):  # teach the fix, then the repeat
        ids = torch.tensor([tok(context + target, add_special_tokens=False)["input_ids"]])
        labels = ids.clone()
        labels[0, : -len(target)] = -100  # the loss on the answer only
        for _ in range(40):
            model(ids, labels=labels).loss.backward()
            opt.step()
            opt.zero_grad()
        assert sign * arith.fix_log_odds(model, tok, rows) > 2
