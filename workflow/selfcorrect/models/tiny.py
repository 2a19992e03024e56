"""The embedded default model: a tiny Llama and a character-level tokenizer with a chat template.

The tokenizer is built with the `tokenizers` library (one token per printable ASCII character
plus a few special tokens) and wrapped in `PreTrainedTokenizerFast`, so the rest of the
pipeline treats it exactly like a real model's tokenizer: `apply_chat_template`,
`save_pretrained`, `AutoTokenizer.from_pretrained`.
"""

from __future__ import annotations

import string

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from selfcorrect.settings import TinyConfig

PAD, BOS, EOS, UNK = "<pad>", "<s>", "<|end|>", "<unk>"
USER, ASSISTANT, SYSTEM = "<|user|>", "<|assistant|>", "<|system|>"
SPECIAL_TOKENS = [PAD, BOS, EOS, UNK, USER, ASSISTANT, SYSTEM]
CHARS = [c for c in string.printable if c not in "\x0b\x0c\r"]

# Every message ends with <|end|>, which is also EOS: generation stops at the end of a turn.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}{{ '<|user|>' + message['content'] + '<|end|>' }}"
    "{% elif message['role'] == 'assistant' %}"
    "{{ '<|assistant|>' + message['content'] + '<|end|>' }}"
    "{% elif message['role'] == 'system' %}{{ '<|system|>' + message['content'] + '<|end|>' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def build_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS + CHARS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(SPECIAL_TOKENS)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        unk_token=UNK,
        additional_special_tokens=[USER, ASSISTANT, SYSTEM],
        padding_side="left",  # decoder-only generation pads on the left
        model_max_length=1024,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_model(tokenizer: PreTrainedTokenizerFast, cfg: TinyConfig) -> LlamaForCausalLM:
    """A Llama from config (no download): the `base_model.tiny` shape."""
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.heads,
        max_position_embeddings=cfg.max_positions,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        # sdpa is slower than eager on short sequences on CPU (measured)
        attn_implementation="eager",
    )
    return LlamaForCausalLM(config)
