"""`selfcorrect bench <name>`: performance benchmarks that measure us against the alternative in
the same run and print both figures and their ratio (never a timed assertion in a test).

Each module here is one benchmark with `add_arguments(parser)` and `run(args)`, found by
module name, so adding a benchmark is adding a module; one that runs a model sets
`LOADS_MODEL = True`, as a stage does, so that `--threads` and `--device` reach it. The package
itself is the `bench` command, with the same two functions as every command in stages/, and
`target(args)`, the benchmark chosen.
"""

from __future__ import annotations

import importlib
import pkgutil


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def add_arguments(parser) -> None:
    kinds = parser.add_subparsers(dest="bench", required=True, metavar="<benchmark>")
    for name in names():
        module = load(name)
        module.add_arguments(
            kinds.add_parser(name, help=module.__doc__.splitlines()[0], description=module.__doc__)
        )


def target(args):
    """The chosen benchmark's module: the CLI reads its LOADS_MODEL."""
    return load(args.bench)


def run(args) -> None:
    target(args).run(args)
