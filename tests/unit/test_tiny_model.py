import random
from dataclasses import replace

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from selfcorrect.config import task_config
from selfcorrect.conversation import messages_for_turn, render
from selfcorrect.models.pretrain import collate, encode_conversation, lr_at
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
