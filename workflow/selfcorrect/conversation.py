"""Multi-turn conversations: the first prompt, then attempt / instruction / attempt …

Turns are chat messages rendered with the tokenizer's chat template, so the same code serves
instruction-tuned models and the built-in tiny model (which ships its own template).
"""

from __future__ import annotations


def messages_for_turn(first_prompt: str, attempts: list[str], instruction: str,
                      window: int = 0) -> list[dict]:
    """The conversation the model reads before attempt `len(attempts) + 1`.

    `window` > 0 keeps only the last `window` attempts (with their instructions) after the
    problem: RISE's optional bounded context for long sequential evaluation.
    """
    messages = [{"role": "user", "content": first_prompt}]
    for previous in attempts[-window:] if window else attempts:
        messages.append({"role": "assistant", "content": previous})
        messages.append({"role": "user", "content": instruction})
    return messages


def render(tokenizer, messages: list[dict]) -> str:
    """The prompt text ending where the assistant's next attempt begins."""
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
