"""`selfcorrect base-model`: the model every method starts from -> results/models/base/.

`source: tiny` builds the embedded default (a tiny Llama and a character tokenizer) and
pre-trains it on the task's transcripts; any other source (a hub id, a local directory or a GGUF
file, see models/load.py) is loaded once and saved as an ordinary `save_pretrained` directory,
so every later stage, and anyone with transformers, loads results/models/base directly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from selfcorrect.errors import SelfCorrectError
from selfcorrect.stages import json_object, stage_cfg

if TYPE_CHECKING:
    from selfcorrect.settings import BaseModelConfig

log = logging.getLogger(__name__)
PRETRAIN_LOG = "pretrain_log.parquet"
LOADS_MODEL = True


def add_arguments(parser) -> None:
    parser.add_argument(
        "--cfg",
        type=json_object,
        required=True,
        help='JSON {"base_model": …, "task": name, "task_cfg": …, '
        '"batch_size": n}: the model\'s source and, for the tiny model, '
        "the task it is pre-trained on and the batch of its held-out check",
    )
    parser.add_argument("--out", required=True, help="the model directory written")


def run(args) -> None:
    from dataclasses import asdict

    from selfcorrect.artifacts import atomic_path
    from selfcorrect.models.card import write_card
    from selfcorrect.models.load import from_source

    cfg = stage_cfg(args, "base-model")
    base_cfg, task_name, task_cfg = cfg.base_model, cfg.task, cfg.task_cfg
    batch_size, out, device = cfg.batch_size, args.out, args.device
    source = base_cfg.source
    with atomic_path(out) as tmp:
        if source == "tiny":
            build_tiny(base_cfg, task_name, task_cfg, batch_size, Path(tmp), device)
            origin, data = "a tiny Llama built from config", f"pre-trained on `{task_name}`"
        else:
            model, tokenizer = from_source(source, base_cfg.dtype)
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            origin, data = source, "none (the source's own weights)"
        write_card(
            Path(tmp),
            name="base",
            method="base",
            started_from=origin,
            data=data,
            cfg={"base_model": asdict(base_cfg), "task": task_name, "task_cfg": task_cfg},
            base_model=None if source == "tiny" else source,
        )


def build_tiny(
    base_cfg: BaseModelConfig, task_name, task_cfg, batch_size: int, out: Path, device="auto"
) -> None:
    import torch
    from transformers import GenerationConfig

    from selfcorrect.device import resolve_device
    from selfcorrect.models.pretrain import pretrain
    from selfcorrect.models.tiny import build_model, build_tokenizer
    from selfcorrect.tasks import get_task

    task = get_task(task_name)
    if not hasattr(task, "sft_transcripts"):
        raise SelfCorrectError(
            f"base_model.source: tiny needs a task with pre-training transcripts; "
            f"task {task_name!r} has none (use a real model: a hub id or a local path)"
        )
    tokenizer = build_tokenizer()
    torch.manual_seed(base_cfg.pretrain.seed)  # the initialisation is part of the seed
    # initialised on the CPU (the same weights for a seed on any machine), trained on `device`
    model = build_model(tokenizer, base_cfg.tiny).to(resolve_device(device))
    log.info("pre-training on %s", model.device)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("tiny Llama: %d parameters", n_params)
    evaluate = held_out_monitor(model, tokenizer, task, task_cfg, base_cfg, batch_size)
    curve = pretrain(model, tokenizer, task.sft_transcripts(task_cfg), base_cfg.pretrain, evaluate)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    curve.to_parquet(out / PRETRAIN_LOG, index=False)
    tail = curve.dropna(subset=["acc@t1"]).tail(3)
    log.info("held-out acc@t1 over the last evaluations: %s", tail["acc@t1"].round(3).tolist())


def held_out_monitor(model, tokenizer, task, task_cfg, base_cfg: BaseModelConfig, batch_size):
    """Greedy two-attempt accuracy on held-out problems, for the pre-training curve.

    The problems come from the held-out pool with their own seed: this curve is for watching
    the plateau, never for choosing a checkpoint.
    """
    from selfcorrect.rewards import get_verifier
    from selfcorrect.rollout.backend import Sampling
    from selfcorrect.rollout.hf import HFBackend
    from selfcorrect.rollout.multiturn import collect_rollouts

    pre = base_cfg.pretrain
    monitor_cfg = {**task_cfg, "seed": pre.seed + 1, "n_test": pre.eval_problems}
    problems = task.problems("test", monitor_cfg)
    prompts = [task.first_prompt(q, task_cfg) for q in problems["question"]]
    verifier = get_verifier(task.reward)
    backend = HFBackend(model, tokenizer, batch_size=batch_size, progress=False)
    sampling = Sampling(max_new_tokens=pre.eval_max_new_tokens)

    def evaluate() -> dict:
        df = collect_rollouts(
            backend,
            tokenizer,
            problems,
            prompts,
            task.instruction(task_cfg),
            turns=2,
            samples=1,
            sampling=sampling,
            model_name="base",
        )
        answers = dict(zip(problems["problem_id"], task.references(problems)))
        df["reward"] = [
            verifier(c, answers[p]).reward for c, p in zip(df["completion"], df["problem_id"])
        ]
        by_turn = df.pivot(index="problem_id", columns="turn", values="reward")
        return {
            "acc@t1": float(by_turn[1].mean()),
            "acc@t2": float(by_turn[2].mean()),
            "truncation": float((df["finish_reason"] == "length").mean()),
        }

    return evaluate
