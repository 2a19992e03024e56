"""`selfcorrect baseline-data` / `sft` / `scaling`: the paper's baselines and the inference-time
scaling study (docs/methods.md, "Baselines" and "Inference-time scaling").

STaR and Pair-SFT build their training sets from a model's own training-split rollouts and
labels (train/baseline_data.py), then fine-tune the base model on them with the `sft` loss in the
same loop RISE uses (train/rise.py).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from selfcorrect.artifacts import atomic_path, read_parquet, write_parquet
from selfcorrect.errors import SelfCorrectError
from selfcorrect.metrics import scaling_curve
from selfcorrect.train.baseline_data import pair_sft_data, star_data, traces

log = logging.getLogger(__name__)
BUILDERS = {
    "star": lambda t, i: star_data(t, iteration=i),
    "pair_sft": lambda t, i: pair_sft_data(t, plus=False, iteration=i),
    "pair_sft_plus": lambda t, i: pair_sft_data(t, plus=True, iteration=i),
}


def run_data(kind: str, rollouts_path: str, labels_path: str, iteration: int, out: str) -> None:
    if kind not in BUILDERS:
        raise SelfCorrectError(f"--kind {kind!r}: unknown (known: {', '.join(BUILDERS)})")
    rollouts = read_parquet(rollouts_path, "rollouts")
    if rollouts["turn"].max() < 2:
        raise SelfCorrectError(f"{rollouts_path}: baselines need two-attempt rollouts")
    t = traces(rollouts, read_parquet(labels_path, "labels"))
    data = BUILDERS[kind](t, iteration)
    write_parquet(data, out, "rise_data")
    log.info("%s: %d training examples from %d traces -> %s", kind, len(data), len(t), out)


def run_sft(init_dir: str, data_path: str, cfg: dict, out: str,
            distributed_cfg: dict | None = None, device="auto") -> None:
    from selfcorrect.models.card import trained_model_files
    from selfcorrect.models.load import load_model
    from selfcorrect.train import distributed
    from selfcorrect.train.rise import train_rise

    data = read_parquet(data_path, "rise_data")
    with distributed.partitioned(distributed_cfg):  # ZeRO-3: built partitioned across ranks
        policy, tokenizer = load_model(init_dir, device=device)
    # plain PyTorch on one process, DeepSpeed ZeRO when launched on several
    trainer = distributed.setup(policy, cfg, distributed_cfg)
    telemetry = train_rise(trainer, tokenizer, data, cfg, loss="sft")
    trainer.save_pretrained(tokenizer, out, trained_model_files(
        telemetry, out=out, method="sft", cfg={"baselines_train": cfg}, init=init_dir,
        data=f"`{data_path}`"))
    if trainer.is_main:
        log.info("fine-tuned on %d examples -> %s", len(data), out)
    trainer.close()


def run_scaling(labels_path: str, budgets: list[int], name: str, benchmark: str, out: str) -> None:
    from selfcorrect.stages.evaluate import equivalence

    labels = read_parquet(labels_path, "labels")
    curve = scaling_curve(labels, budgets, equivalence(labels))
    result = {"model": name, "benchmark": benchmark, "curve": curve.to_dict(orient="records")}
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=1))
    log.info("%s on %s: %s", name, benchmark, result["curve"])
