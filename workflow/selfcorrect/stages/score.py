"""`selfcorrect score`: one SCoRe training stage (or ablation) -> results/models/{model}/.

The policy starts from `--init` (the base model, or Stage I's result for Stage II), the frozen
reference is always the base model. Checkpoints live outside the output directory
(`--checkpoints`), so a killed job rerun by Snakemake resumes instead of starting over, as long
as it was trained from the same models, data and settings (train/fingerprint.py).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from selfcorrect.errors import SelfCorrectError
from selfcorrect.stages import json_object, stage_cfg

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)
LOADS_MODEL = True


def add_arguments(parser) -> None:
    parser.add_argument(
        "--method",
        required=True,
        help="score_stage1 | score_stage2 | single_turn | … (a loss in train/losses.py)",
    )
    parser.add_argument("--init", required=True, help="model directory the policy starts from")
    parser.add_argument("--ref", required=True, help="the frozen reference (the base model)")
    parser.add_argument("--problems", required=True, help="training problems parquet")
    parser.add_argument(
        "--offline-rollouts", help="base rollouts: Stage II's extra starting states"
    )
    parser.add_argument("--offline-labels", help="labels of --offline-rollouts")
    parser.add_argument(
        "--cfg",
        type=json_object,
        required=True,
        help='JSON {"task_cfg": …, "score": …}: the task\'s and the run\'s '
        "SCoRe settings, `steps` for this stage",
    )
    parser.add_argument(
        "--checkpoints", required=True, help="checkpoint directory, outside --out (for resume)"
    )
    parser.add_argument("--out", required=True, help="the model directory written")


def offline_starts(rollouts_path: str | None, labels_path: str | None) -> pd.DataFrame | None:
    """Base-model first attempts with their rewards (problem_id, sample, completion, reward)."""
    from selfcorrect.artifacts import read_parquet

    if not rollouts_path:
        return None
    rollouts = read_parquet(rollouts_path, "rollouts")
    labels = read_parquet(labels_path, "labels")
    keys = ["problem_id", "sample", "turn"]
    first = rollouts[rollouts["turn"] == 1][keys + ["completion"]]
    return first.merge(labels[keys + ["reward"]], on=keys, validate="one_to_one")


def run(args) -> None:
    """Train the policy from `--init` against the reference `--ref`, both on `args.device`
    (selfcorrect/device.py: under torchrun, each rank's GPU)."""
    from dataclasses import asdict
    from pathlib import Path

    from selfcorrect.artifacts import problems_task, read_parquet
    from selfcorrect.models.card import trained_model_files
    from selfcorrect.models.load import load_model
    from selfcorrect.tasks import get_task
    from selfcorrect.train.distributed import partitioned
    from selfcorrect.train.fingerprint import input_digests
    from selfcorrect.train.losses import LOSSES
    from selfcorrect.train.score import ScoreRecipe

    given = stage_cfg(args, "score")
    method, init_dir, ref_dir, problems_path = args.method, args.init, args.ref, args.problems
    task_cfg, cfg = given.task_cfg, given.score
    offline_rollouts, offline_labels, out = args.offline_rollouts, args.offline_labels, args.out
    device = args.device
    if method not in LOSSES:
        raise SelfCorrectError(f"--method {method!r}: unknown (known: {', '.join(LOSSES)})")
    problems = read_parquet(problems_path, "problems")
    task = get_task(problems_task(problems, problems_path))
    # under ZeRO-3 on N processes both are built partitioned: no rank holds either whole
    with partitioned(args.distributed):
        policy, tokenizer = load_model(init_dir, device=device)
        reference, _ = load_model(ref_dir, device=device)

    def inputs() -> dict[str, str]:
        """What a checkpoint must have been trained from to be resumed, besides the config."""
        return input_digests(
            {"init": init_dir, "reference": ref_dir},
            {
                "problems": problems_path,
                "offline_rollouts": offline_rollouts,
                "offline_labels": offline_labels,
            },
        )

    recipe = ScoreRecipe(
        cfg,
        method,
        policy,
        reference,
        tokenizer,
        problems,
        task,
        task_cfg,
        Path(args.checkpoints),
        offline_starts(offline_rollouts, offline_labels),
        args.distributed,
        inputs,
    )
    telemetry = recipe.train()
    # on N processes: rank 0 writes the whole model, gathered from every rank's partition
    data = f"`{problems_path}`" + (
        f", offline starts `{offline_rollouts}`" if offline_rollouts else ""
    )
    recipe.trainer.save_pretrained(
        tokenizer,
        out,
        trained_model_files(
            telemetry,
            out=out,
            method=method,
            cfg=asdict(given),
            init=init_dir,
            data=data,
        ),
    )
    if recipe.trainer.is_main:
        last = telemetry.iloc[-1].to_dict()
        log.info(
            "%s done: %s", method, {k: round(v, 3) for k, v in last.items() if isinstance(v, float)}
        )
    recipe.trainer.close()
