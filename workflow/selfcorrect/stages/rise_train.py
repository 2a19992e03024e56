"""`selfcorrect rise-train`: RISE step 3 — M_k from the improved actions -> results/models/rise_{k}/.

By default (`rise.train_from: base`) each iteration fine-tunes the base model on the
aggregated data of iterations 1…k, as the RISE paper does; `previous` continues from M_{k−1}
on iteration k's data only.
"""

from __future__ import annotations

import logging

from selfcorrect.stages import json_object, stage_cfg

log = logging.getLogger(__name__)
LOADS_MODEL = True


def add_arguments(parser) -> None:
    parser.add_argument("--init", required=True, help="the model fine-tuned (base or M_{k-1})")
    parser.add_argument(
        "--data",
        nargs="+",
        required=True,
        help="improved-action parquet files (iterations 1…k, or k alone)",
    )
    parser.add_argument(
        "--cfg", type=json_object, required=True, help="the rise.train config (JSON)"
    )
    parser.add_argument("--out", required=True, help="the model directory written (M_k)")


def run(args) -> None:
    from dataclasses import asdict

    from selfcorrect.artifacts import read_parquet
    from selfcorrect.models.card import trained_model_files
    from selfcorrect.models.load import load_model
    from selfcorrect.train import distributed
    from selfcorrect.train.losses import LossConfig
    from selfcorrect.train.rise import train_rise
    from selfcorrect.train.rise_data import aggregate

    cfg = stage_cfg(args, "rise-train")
    init_dir, data_paths, out = args.init, args.data, args.out
    data = aggregate([read_parquet(p, "rise_data") for p in data_paths])
    with distributed.partitioned(args.distributed):  # ZeRO-3: built partitioned across ranks
        policy, tokenizer = load_model(init_dir, device=args.device)
    # plain PyTorch on one process, DeepSpeed ZeRO when launched on several
    trainer = distributed.setup(policy, cfg, args.distributed)
    telemetry = train_rise(
        trainer, tokenizer, data, cfg, f"rise_{cfg.loss}", LossConfig(k=1, tau=cfg.tau)
    )
    trainer.save_pretrained(
        tokenizer,
        out,
        trained_model_files(
            telemetry,
            out=out,
            method="rise",
            cfg={"rise_train": asdict(cfg)},
            init=init_dir,
            data=", ".join(f"`{p}`" for p in data_paths),
        ),
    )
    if trainer.is_main:
        log.info("trained on %d actions from %d file(s) -> %s", len(data), len(data_paths), out)
    trainer.close()
