"""Self-Refine's critique-then-refine (docs/methods.md, "Baselines"): each attempt after the
first reads the model's own feedback on the previous one. A scripted engine records every
prompt it is given, so the conversations are checked exactly."""

import pandas as pd

from selfcorrect.conversation import messages_for_turn
from selfcorrect.models.tiny import build_tokenizer
from selfcorrect.rollout.backend import Generation, Sampling
from selfcorrect.rollout.multiturn import collect_rollouts


class Scripted:
    """Answers "note<k>" to a critique prompt and "try<k>" otherwise (k counts its calls)."""

    name = "scripted"

    def __init__(self):
        self.calls: list[list[str]] = []

    def generate(self, prompts, sampling):
        self.calls.append(list(prompts))
        k = len(self.calls)
        return [
            Generation(
                ("note" if p.endswith("find it<|end|><|assistant|>") else "try") + str(k),
                1,
                1,
                "stop",
            )
            for p in prompts
        ]


def test_messages_with_critique_and_feedback():
    first = {"role": "user", "content": "q"}
    # the feedback context ends at the critique of the last attempt
    assert messages_for_turn("q", ["a1"], "fix", critique="find it") == [
        first,
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "find it"},
    ]
    # the next attempt reads attempt, critique, feedback, refine
    assert messages_for_turn("q", ["a1"], "fix", critique="find it", feedback=["f1"]) == [
        first,
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "find it"},
        {"role": "assistant", "content": "f1"},
        {"role": "user", "content": "fix"},
    ]
    # window 1 keeps the last attempt and its feedback only
    msgs = messages_for_turn(
        "q", ["a1", "a2"], "fix", window=1, critique="c", feedback=["f1", "f2"]
    )
    assert [m["content"] for m in msgs] == ["q", "a2", "c", "f2", "fix"]
    # without a critique: unchanged
    assert [m["content"] for m in messages_for_turn("q", ["a1"], "fix")] == ["q", "a1", "fix"]


def test_collect_rollouts_critique_then_refine():
    tok = build_tokenizer()
    problems = pd.DataFrame({"task": ["arith"], "split": ["test"], "problem_id": ["p0"]})
    engine = Scripted()
    df = collect_rollouts(
        engine,
        tok,
        problems,
        ["1+2"],
        "fix it",
        turns=3,
        samples=1,
        sampling=Sampling(temperature=0.0, max_new_tokens=8, seed=0),
        model_name="base",
        critique="find it",
    )
    # attempt 1, feedback 1, attempt 2, feedback 2, attempt 3: five engine calls
    assert len(engine.calls) == 5
    assert df["completion"].tolist() == ["try1", "try3", "try5"]
    assert engine.calls[1] == [
        ("<s><|user|>1+2<|end|><|assistant|>try1<|end|><|user|>find it<|end|><|assistant|>")
    ]
    assert df["context"].iloc[1] == (
        "<s><|user|>1+2<|end|><|assistant|>try1<|end|>"
        "<|user|>find it<|end|><|assistant|>note2<|end|>"
        "<|user|>fix it<|end|><|assistant|>"
    )
    assert "note4<|end|><|user|>fix it" in df["context"].iloc[2]
    # one instruction (no critique): one call per attempt
    plain = Scripted()
    collect_rollouts(
        plain,
        tok,
        problems,
        ["1+2"],
        "fix it",
        turns=3,
        samples=1,
        sampling=Sampling(temperature=0.0, max_new_tokens=8, seed=0),
        model_name="base",
    )
    assert len(plain.calls) == 3


def test_the_task_gives_the_critique_prompt_its_config_sets():
    from selfcorrect.tasks import get_task

    task = get_task("arith")
    assert task.critique({}) == "" and task.critique(None) == ""
    assert task.critique({"critique_instruction": "Find the mistake."}) == "Find the mistake."
