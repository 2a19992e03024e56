"""`selfcorrect score`: one SCoRe training stage (or ablation) -> results/models/{model}/.

The policy starts from `--init` (the base model, or Stage I's result for Stage II), the frozen
reference is always the base model. Checkpoints live outside the output directory
(`--checkpoints`), so a killed job rerun by Snakemake resumes instead of starting over, as long
as it was trained from the same models, data and settings (train/fingerprint.py).
"""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from selfcorrect.artifacts import problems_task, read_parquet
from selfcorrect.errors import SelfCorrectError
from selfcorrect.models.card import trained_model_files
from selfcorrect.models.load import load_model
from selfcorrect.tasks import get_task
from selfcorrect.train.distributed import partitioned
from selfcorrect.train.fingerprint import input_digests
from selfcorrect.train.losses import LOSSES
from selfcorrect.train.score import ScoreRecipe

log = logging.getLogger(__name__)


def offline_starts(rollouts_path: str | None, labels_path: str | None) -> pd.DataFrame | None:
    """Base-model first attempts with their rewards (problem_id, sample, completion, reward)."""
    if not rollouts_path:
        return None
    rollouts = read_parquet(rollouts_path, "rollouts")
    labels = read_parquet(labels_path, "labels")
    keys = ["problem_id", "sample", "turn"]
    first = rollouts[rollouts["turn"] == 1][keys + ["completion"]]
    return first.merge(labels[keys + ["reward"]], on=keys, validate="one_to_one")


def run(method: str, init_dir: str, ref_dir: str, problems_path: str, task_cfg: dict, cfg: dict,
        checkpoints: str, out: str, offline_rollouts: str | None = None,
        offline_labels: str | None = None, distributed: dict | None = None,
        device="auto") -> None:
    """Train the policy from `init_dir` against the reference `ref_dir`, both on `device`
    (selfcorrect/device.py: under torchrun, each rank's GPU)."""
    if method not in LOSSES:
        raise SelfCorrectError(f"--method {method!r}: unknown (known: {', '.join(LOSSES)})")
    problems = read_parquet(problems_path, "problems")
    task = get_task(problems_task(problems, problems_path))
    # under ZeRO-3 on N processes both are built partitioned: no rank holds either whole
    with partitioned(distributed):
        policy, tokenizer = load_model(init_dir, device=device)
        reference, _ = load_model(ref_dir, device=device)

    def inputs() -> dict[str, str]:
        """What a checkpoint must have been trained from to be resumed, besides the config."""
        return input_digests({"init": init_dir, "reference": ref_dir},
                             {"problems": problems_path, "offline_rollouts": offline_rollouts,
                              "offline_labels": offline_labels})

    recipe = ScoreRecipe(cfg, method, policy, reference, tokenizer, problems, task, task_cfg,
                         Path(checkpoints), offline_starts(offline_rollouts, offline_labels),
                         distributed, inputs)
    telemetry = recipe.train()
    # on N processes: rank 0 writes the whole model, gathered from every rank's partition
    data = f"`{problems_path}`" + (f", offline starts `{offline_rollouts}`"
                                   if offline_rollouts else "")
    recipe.trainer.save_pretrained(tokenizer, out, trained_model_files(
        telemetry, out=out, method=method, cfg={"task_cfg": task_cfg, "score": cfg},
        init=init_dir, data=data))
    if recipe.trainer.is_main:
        last = telemetry.iloc[-1].to_dict()
        log.info("%s done: %s", method, {k: round(v, 3) for k, v in last.items()
                                         if isinstance(v, float)})
    recipe.trainer.close()
