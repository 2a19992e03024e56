"""The embedded default's base model actually learns the task (the metric moves), not just runs."""

import pytest
import torch

from selfcorrect.models.pretrain import pretrain
from selfcorrect.models.tiny import build_model, build_tokenizer
from selfcorrect.settings import parse
from selfcorrect.stages.base_model import held_out_monitor
from selfcorrect.tasks import get_task


@pytest.mark.slow
def test_pretraining_crosses_the_phase_transition():
    pre = {"steps": 400, "eval_every": 100, "eval_problems": 128, "eval_max_new_tokens": 32}
    cfg = parse("base-model", {"task": "arith", "base_model": {"pretrain": pre}})
    base, task, task_cfg = cfg.base_model, get_task("arith"), cfg.task_cfg
    tok = build_tokenizer()
    torch.manual_seed(0)
    model = build_model(tok, base.tiny)
    monitor = held_out_monitor(model, tok, task, task_cfg, base, batch_size=128)
    curve = pretrain(model, tok, task.sft_transcripts(task_cfg), base.pretrain, monitor)
    acc = curve.dropna(subset=["acc@t1"])["acc@t1"].tolist()
    assert acc[0] < 0.15  # step 100: before the transition (here between steps 200 and 300)
    assert acc[-1] >= 0.3  # step 400: past it (0.40 here), on held-out problems, greedy
    assert curve["truncation"].dropna().iloc[-1] < 0.05
