"""`selfcorrect bench <name>`: performance benchmarks that measure us against the alternative in
the same run and print both figures and their ratio (never a timed assertion in a test).

Each module here is one benchmark with `add_arguments(parser)` and `run(args)`; the CLI finds
them by module name, so adding a benchmark is adding a module.
"""

from __future__ import annotations

import importlib
import pkgutil


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load(name: str):
    return importlib.import_module(f"{__name__}.{name}")
