"""`selfcorrect bench <name>`: performance benchmarks that measure us against the alternative in
the same run and print both figures and their ratio (never a timed assertion in a test).

Each module here is one benchmark with `add_arguments(parser)` and `run(args)`, found by
module name, so adding a benchmark is adding a module. The package itself is the `bench`
command, with the same two functions as every command in stages/.
"""

from __future__ import annotations

import importlib
import pkgutil

# The benchmarks run models: `--threads` sets their torch threads (and `--device` resolves)
# as for every stage that loads one (cli.py).
LOADS_MODEL = True


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


def run(args) -> None:
    load(args.bench).run(args)
