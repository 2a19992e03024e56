"""Multi-turn conversations: the first prompt, then attempt / instruction / attempt …

Turns are chat messages rendered with the tokenizer's chat template, so the same code serves
instruction-tuned models and the built-in tiny model (which ships its own template).
"""

from __future__ import annotations


def messages_for_turn(
    first_prompt: str,
    attempts: list[str],
    instruction: str,
    window: int = 0,
    critique: str = "",
    feedback: list[str] | tuple[str, ...] = (),
) -> list[dict]:
    """The conversation the model reads before attempt `len(attempts) + 1`.

    `window` > 0 keeps only the last `window` attempts (with their instructions) after the
    problem: RISE's optional bounded context for long sequential evaluation.

    With a `critique` prompt (Self-Refine's critique-then-refine, docs/methods.md "Baselines"),
    each attempt is followed by the critique, the model's own `feedback` on that attempt, then
    the `instruction` to refine. When `feedback` lacks the last attempt's, the conversation ends
    at the critique: the context in which that feedback is generated.
    """
    messages = [{"role": "user", "content": first_prompt}]
    n = len(attempts)
    for j in range(max(0, n - window) if window else 0, n):
        messages.append({"role": "assistant", "content": attempts[j]})
        if critique:
            messages.append({"role": "user", "content": critique})
            if j >= len(feedback):
                return messages
            messages.append({"role": "assistant", "content": feedback[j]})
        messages.append({"role": "user", "content": instruction})
    return messages


def render(tokenizer, messages: list[dict]) -> str:
    """The prompt text ending where the assistant's next attempt begins."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
