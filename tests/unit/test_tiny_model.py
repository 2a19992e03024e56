import random
from dataclasses import replace

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from selfcorrect.config import task_config
from selfcorrect.conversation import messages_for_turn, render
from selfcorrect.models.pretrain import (
    backward,
    collate,
    encode_conversation,
    length_buckets,
    lr_at,
)
from selfcorrect.models.tiny import build_model, build_tokenizer
from selfcorrect.settings import TinyConfig, parse
from selfcorrect.tasks import arith

TINY = TinyConfig(hidden_size=16, intermediate_size=32, layers=1, heads=2, max_positions=64)


def test_chat_template_renders_turns_and_generation_prompt():
    tok = build_tokenizer()
    msgs = messages_for_turn("32+29+48", ["99|32+29=61;61+48=109|n"], "recheck")
    assert render(tok, msgs) == (
        "<s><|user|>32+29+48<|end|><|assistant|>99|32+29=61;61+48=109|n<|end|>"
        "<|user|>recheck<|end|><|assistant|>"
    )


def test_piecewise_encoding_equals_the_chat_template():
    tok = build_tokenizer()
    cfg = task_config("arith", {})
    rng = random.Random(0)
    for _ in range(50):
        conv = arith.sft_transcript(rng, cfg, "recheck")
        ids, mask = encode_conversation(tok, conv)
        text = tok.apply_chat_template(conv, tokenize=False)
        assert ids == tok(text, add_special_tokens=False)["input_ids"]
        # the loss sees exactly the assistant contents and their end-of-turn tokens
        trained = tok.decode([i for i, m in zip(ids, mask) if m])
        assert trained == "".join(
            m["content"] + "<|end|>" for m in conv if m["role"] == "assistant"
        )


def test_collate_masks_padding_and_prompts():
    ids, labels_mask = [1, 5, 6, 2], [False, False, True, True]
    input_ids, attention, labels = collate([(ids, labels_mask), ([1, 7], [False, True])], pad_id=0)
    assert input_ids.tolist() == [[1, 5, 6, 2], [1, 7, 0, 0]]
    assert attention.tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert labels.tolist() == [[-100, -100, 6, 2], [-100, 7, -100, -100]]


def test_length_buckets_give_the_gradient_of_the_padded_batch():
    tok, cfg = build_tokenizer(), task_config("arith", {})
    rng = random.Random(0)
    batch = [encode_conversation(tok, arith.sft_transcript(rng, cfg, "recheck")) for _ in range(64)]
    buckets = length_buckets(batch)
    assert len(buckets) > 1 and sorted(map(len, buckets)) != [64]
    assert all(
        max(map(len, b)) <= 1.5 * min(map(len, b)) for b in ([i for i, _ in b] for b in buckets)
    )
    torch.manual_seed(0)
    model = build_model(tok, TINY)
    input_ids, attention, labels = collate(batch, tok.pad_token_id)
    whole = model(input_ids=input_ids, attention_mask=attention, labels=labels).loss
    whole.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    loss, tokens = backward(model, batch, tok.pad_token_id, bf16=False)
    assert abs(loss - whole.item()) < 1e-5 and tokens == attention.sum().item()
    for p, g in zip(model.parameters(), expected):
        torch.testing.assert_close(p.grad, g, atol=1e-6, rtol=1e-4)


def test_schedule_warms_up_then_decays_to_a_tenth():
    pretrain = parse("base-model", {"task": "arith"}).base_model.pretrain
    cfg = replace(pretrain, lr=1.0, warmup_steps=10, steps=110)
    assert lr_at(0, cfg) == 0.1 and lr_at(9, cfg) == 1.0
    assert abs(lr_at(110, cfg) - 0.1) < 1e-9
    assert lr_at(60, cfg) < lr_at(20, cfg)


def test_save_and_reload_with_auto_classes(tmp_path):
    tok = build_tokenizer()
    model = build_model(tok, TINY)
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    tok2 = AutoTokenizer.from_pretrained(tmp_path)
    model2 = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert tok2.chat_template == tok.chat_template
    x = torch.tensor([[1, 4, 10, 2]])
    assert torch.allclose(model(x).logits, model2(x).logits)
