"""`selfcorrect rollout`: a model on a task split -> results/rollouts/{model}/{task}-{split}.parquet.

Training splits are sampled (K samples per problem, `rollout.train`), test splits decoded as
the paper evaluates (greedy by default, `rollout.eval`).
"""

from __future__ import annotations

import logging

from selfcorrect.stages import json_object, stage_cfg

log = logging.getLogger(__name__)
LOADS_MODEL = True


def add_arguments(parser) -> None:
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--name", required=True, help="model name recorded in the rows")
    parser.add_argument("--problems", required=True, help="the task split's problems parquet")
    parser.add_argument(
        "--cfg",
        type=json_object,
        required=True,
        help='JSON {"task_cfg": …, "rollout": engine settings, "sampling": …}: '
        "`sampling` is rollout.train for a training split, rollout.eval "
        "for a test split",
    )
    parser.add_argument("--out", required=True, help="the rollouts parquet written")


def run(args) -> None:
    """The hf engine generates on `args.device` (selfcorrect/device.py)."""
    from selfcorrect.artifacts import problems_task, read_parquet, write_parquet
    from selfcorrect.models.load import load_model
    from selfcorrect.rollout import get_backend, resolve_backend
    from selfcorrect.rollout.backend import Sampling
    from selfcorrect.rollout.multiturn import collect_rollouts
    from selfcorrect.tasks import get_task

    cfg = stage_cfg(args, "rollout")
    task_cfg, engine, samples = cfg.task_cfg, cfg.rollout, cfg.sampling.samples
    problems = read_parquet(args.problems, "problems")
    if engine.limit is not None:
        problems = problems.head(engine.limit)
    task = get_task(problems_task(problems, args.problems))
    # vLLM loads the weights itself: the transformers copy then stays off the GPU
    hf = resolve_backend(engine.backend) == "hf"
    model, tokenizer = load_model(args.model, device=args.device if hf else "cpu")
    backend = get_backend(engine.backend, model, tokenizer, engine.batch_size)
    log.info("%s engine%s", backend.name, f" on {model.device}" if hf else "")
    sampling = Sampling.from_config(cfg.sampling)
    prompts = [task.first_prompt(q, task_cfg) for q in problems["question"]]
    rollouts = collect_rollouts(
        backend,
        tokenizer,
        problems,
        prompts,
        task.instruction(task_cfg),
        turns=engine.turns,
        samples=samples,
        sampling=sampling,
        model_name=args.name,
        window=engine.window,
        critique=task.critique(task_cfg),
    )
    write_parquet(rollouts, args.out, "rollouts")
    truncated = (rollouts["finish_reason"] == "length").mean()
    log.info(
        "%d rows (%d problems x %d samples x %d turns), truncated %.1f%% -> %s",
        len(rollouts),
        len(problems),
        samples,
        engine.turns,
        100 * truncated,
        args.out,
    )
