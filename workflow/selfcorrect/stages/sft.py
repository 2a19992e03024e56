"""`selfcorrect sft`: supervised fine-tuning on a baseline's SFT set -> results/models/{model}/.

The baselines (STaR, Pair-SFT; `selfcorrect baseline-data`) train with the `sft` loss in the
same loop RISE uses (train/rise.py): plain PyTorch on one process, DeepSpeed ZeRO on several.
"""

from __future__ import annotations

import logging

from selfcorrect.stages import json_object, stage_cfg

log = logging.getLogger(__name__)
LOADS_MODEL = True


def add_arguments(parser) -> None:
    parser.add_argument("--init", required=True, help="the model fine-tuned (the base)")
    parser.add_argument("--data", required=True, help="the baseline-data parquet")
    parser.add_argument(
        "--cfg", type=json_object, required=True, help="the baselines.train config (JSON)"
    )
    parser.add_argument("--out", required=True, help="the model directory written")


def run(args) -> None:
    from dataclasses import asdict

    from selfcorrect.artifacts import read_parquet
    from selfcorrect.models.card import trained_model_files
    from selfcorrect.models.load import load_model
    from selfcorrect.train import distributed
    from selfcorrect.train.losses import LossConfig
    from selfcorrect.train.rise import train_rise

    cfg = stage_cfg(args, "sft")
    data = read_parquet(args.data, "rise_data")
    with distributed.partitioned(args.distributed):  # ZeRO-3: built partitioned across ranks
        policy, tokenizer = load_model(args.init, device=args.device)
    trainer = distributed.setup(policy, cfg, args.distributed)
    telemetry = train_rise(trainer, tokenizer, data, cfg, "sft", LossConfig(k=1))
    trainer.save_pretrained(
        tokenizer,
        args.out,
        trained_model_files(
            telemetry,
            out=args.out,
            method="sft",
            cfg={"baselines_train": asdict(cfg)},
            init=args.init,
            data=f"`{args.data}`",
        ),
    )
    if trainer.is_main:
        log.info("fine-tuned on %d examples -> %s", len(data), args.out)
    trainer.close()
