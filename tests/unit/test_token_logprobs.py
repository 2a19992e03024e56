"""`core.token_logprobs` from the first completion position: the output layer runs over fewer
positions, and every completion token's log-prob is the full computation's."""

import pytest
import torch

from selfcorrect.train import core


def test_scoring_from_the_first_completion_matches_the_full_forward(tiny_llama):
    model = tiny_llama()
    prompts, completions = [(1, 2, 3, 4), (5, 6, 7)], [(8, 9), (10, 11, 12, 13)]
    ids, attention, mask = core.pack(prompts, completions, 0)
    start = core.first_completion(prompts)
    assert start == 3
    full = core.token_logprobs(model, ids, attention)
    part = core.token_logprobs(model, ids, attention, start)
    assert part.shape == full.shape == ids.shape
    # fp32: the same log-probs to 1e-6 (only which positions reach the output layer changes)
    assert part.dtype == full.dtype == torch.float32
    torch.testing.assert_close(part[mask], full[mask], rtol=0, atol=1e-6)
    assert part[:, :start].eq(0).all() and full[:, 0].eq(0).all()
    assert full[:, 1:start].ne(0).all()  # the full forward scores prompt tokens too
    # gradients reach the model the same way
    part[mask].sum().backward()
    assert model.lm_head.weight.grad is not None


def test_a_model_without_logits_to_keep_is_scored_over_every_position(tiny_llama):
    model = tiny_llama()

    class Plain(torch.nn.Module):  # a forward without the argument
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, input_ids, attention_mask):
            return model(input_ids=input_ids, attention_mask=attention_mask)

    assert core.takes_logits_to_keep(model) and not core.takes_logits_to_keep(Plain())
    prompts, completions = [(1, 2, 3, 4), (5, 6, 7)], [(8, 9), (10, 11, 12, 13)]
    ids, attention, mask = core.pack(prompts, completions, 0)
    start = core.first_completion(prompts)
    ours = core.token_logprobs(model, ids, attention, start)
    plain = core.token_logprobs(Plain(), ids, attention, start)
    torch.testing.assert_close(plain[mask], ours[mask], rtol=0, atol=1e-6)
    assert plain[:, :start].eq(0).all()


def test_a_start_past_the_input_or_before_one_is_clamped(tiny_llama):
    model = tiny_llama()
    ids, attention, _ = core.pack([(1, 2)], [(3,)], 0)
    torch.testing.assert_close(
        core.token_logprobs(model, ids, attention, 0), core.token_logprobs(model, ids, attention)
    )
    assert core.token_logprobs(model, ids, attention, 99).eq(0).all()


@pytest.mark.parametrize("bf16", [False, True])
def test_hf_backend_samples_under_the_trainers_autocast(tiny_llama, bf16):
    from transformers import PreTrainedTokenizerFast

    from selfcorrect.models.tiny import build_model, build_tokenizer
    from selfcorrect.rollout.backend import Sampling
    from selfcorrect.rollout.hf import HFBackend
    from selfcorrect.settings import TinyConfig

    tok: PreTrainedTokenizerFast = build_tokenizer()
    torch.manual_seed(0)
    model = build_model(
        tok,
        TinyConfig(hidden_size=16, intermediate_size=32, layers=1, heads=2, max_positions=32),
    )
    seen = []
    model.register_forward_pre_hook(lambda *_: seen.append(torch.is_autocast_enabled("cpu")))
    gens = HFBackend(model, tok, progress=False, bf16=bf16).generate(
        ["1+2="], Sampling(temperature=1.0, max_new_tokens=3, seed=1)
    )
    assert len(gens) == 1 and seen and set(seen) == {bf16}
