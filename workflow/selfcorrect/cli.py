"""`selfcorrect <command> …`: the command every Snakemake rule calls through a thin `shell:`.

Each stage receives only its own config subtree (`--cfg` as JSON), so Snakemake reruns a stage
when, and only when, its own settings change. The commands are the modules of stages/ (and
bench/): each declares its own arguments and entry point, and this module loops over them.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import logging
import os
import sys
import threading

from selfcorrect.errors import SelfCorrectError
from selfcorrect.stages import json_object

log = logging.getLogger("selfcorrect")
DISTRIBUTED_HELP = (
    'JSON {"zero_stage": 2|3, "offload": bool}: DeepSpeed settings of the '
    "trainers (score, rise-train, sft) when launched on several processes "
    "(torchrun/deepspeed); one process ignores them"
)


# What every model-loading command imports before its first step: about half a million objects
# that live as long as the process. The cyclic garbage collector, walking them again and again
# while they are created, costs about 0.4 s of a tiny-model job's 3.5-s start-up and exit
# (`selfcorrect bench startup`).
MODEL_LIBRARIES = (
    "torch",
    "transformers.modeling_utils",
    "transformers.activations",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto",
)


def import_model_libraries() -> None:
    """Import MODEL_LIBRARIES with the collector paused, then freeze what they made (gc.freeze):
    later collections skip it. At exit it is unfrozen, so that the last collection frees it as
    usual (native extensions report objects still alive then as leaks)."""
    gc.disable()
    try:
        for name in MODEL_LIBRARIES:
            importlib.import_module(name)
    finally:
        gc.enable()
    gc.freeze()
    atexit.register(gc.unfreeze)


def commands() -> dict:
    """Every command's module, by name, in the order `--help` lists them."""
    from selfcorrect import bench, evidence, stages

    return {
        **{name: stages.load(name) for name in stages.COMMANDS},
        "bench": bench,
        "evidence": evidence,
    }


def _summary(module) -> str:
    """A module docstring's first line without its "`selfcorrect …`: " prefix."""
    return module.__doc__.splitlines()[0].split("`: ", 1)[-1].rstrip(".")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="selfcorrect", description=__doc__.splitlines()[0])
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads, and the grading workers of label and rise-improve "
        "(default: all cores for torch, 1 worker)",
    )
    p.add_argument("--log-level", default="INFO", help="DEBUG | INFO | WARNING | ERROR")
    p.add_argument("--distributed", type=json_object, default=None, help=DISTRIBUTED_HELP)
    p.add_argument(
        "--tensorboard",
        metavar="DIR",
        default=None,
        help="also write the trainers' per-step telemetry to TensorBoard under DIR",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto | cpu | cuda | cuda:N: where models train and generate (auto: CUDA "
        "when present; under torchrun each rank's GPU, cuda:LOCAL_RANK)",
    )
    sub = p.add_subparsers(dest="stage", required=True, metavar="<command>")
    for name, module in commands().items():
        module.add_arguments(
            sub.add_parser(
                name,
                help=_summary(module),
                description=module.__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter,
            )
        )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    module = commands()[args.stage]
    try:
        if args.distributed is not None:
            from selfcorrect.settings import parse

            args.distributed = parse("distributed", args.distributed, "--distributed")
        chosen = module.target(args) if hasattr(module, "target") else module  # bench's own
        if getattr(chosen, "LOADS_MODEL", False):
            import_model_libraries()
            import torch

            from selfcorrect.device import resolve_device

            # Oversubscribing the cores made tiny-model steps 5-100x slower on a 2-core CPU.
            torch.set_num_threads(args.threads or os.cpu_count() or 1)
            args.device = resolve_device(args.device)  # once: every model of the stage goes there
            if args.device.type == "cuda":
                torch.cuda.set_device(args.device)  # this rank's GPU for collectives too
        from selfcorrect.tracking import tracking

        with tracking(args.tensorboard):
            module.run(args)
    except SelfCorrectError as exc:
        print(f"selfcorrect {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    return 0


def command() -> None:
    """The `selfcorrect` command (and `python -m selfcorrect.cli`): `main`, then `leave`."""
    leave(main())


def leave(code: int) -> None:
    """Exit without the interpreter's teardown of every module, about 1 s once torch and
    transformers are imported (`selfcorrect bench startup`). The exit handlers run first (log
    files, the code sandbox, worker pools and trackers close there) and both streams are
    flushed; with a non-daemon thread still running, this is the usual exit, which waits for it."""
    main_thread = threading.main_thread()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not main_thread):
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(code)


if __name__ == "__main__":
    command()
