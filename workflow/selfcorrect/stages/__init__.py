"""One module per `selfcorrect` command, in the order the workflow runs them.

Each module declares `add_arguments(parser)` and `run(args)`, as bench/ does; its docstring's
first line is the command's help, the rest its description. A module that loads a model sets
`LOADS_MODEL = True`: the CLI then resolves `--device` and sets torch's threads before `run`.

The CLI imports every module here to build its parser, so a module imports what its work needs
(pandas, torch, the model code) inside its functions: `selfcorrect keep-log`, the first command
of every rule, then starts without loading any of them.
"""

from __future__ import annotations

import importlib
from types import ModuleType

COMMANDS = (
    "prepare",
    "base-model",
    "rollout",
    "label",
    "evaluate",
    "score",
    "rise-improve",
    "rise-train",
    "rise-evaluate",
    "baseline-data",
    "sft",
    "scaling",
    "report",
    "keep-log",
)


def load(command: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{command.replace('-', '_')}")


def json_object(text: str) -> dict:
    """The argparse type of `--cfg` and `--distributed`: a JSON object."""
    import argparse
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("not a JSON object")
    return value


def stage_cfg(args, stage: str):
    """`--cfg` checked against the config schema's section of `stage`, as the workflow's config
    is (unknown keys and wrong types are one-line errors, left-out keys take their defaults),
    as the stage's typed settings (selfcorrect/settings.py)."""
    from selfcorrect.settings import parse

    return parse(stage, args.cfg)
