"""`selfcorrect bench startup`: a model-loading job's start-up and exit, ours against plain Python.

Every job that loads a model (rollout, score, rise-train, sft, …) is a fresh process that
imports torch and transformers before its first step and tears them down after its last: on a
small model, most of the job. The CLI imports them with the cyclic garbage collector paused and
then freezes what they made (cli.py, `import_model_libraries`), and leaves without the
interpreter's teardown of every module (`leave`). The alternative is plain Python: the same
imports, then the usual exit. Each variant is a fresh interpreter that imports the libraries,
loads a model with `from_pretrained` (the embedded default's tiny model by default; `--model` as
for `bench train`) and exits; they run in the same run, taking turns. Prints the best of
`--repeats` of each (also ours with the usual exit, to show each part), the ratio, and the
collector's state after our start-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selfcorrect.bench.train import add_model_arguments, model_directory

PROGRAM = """
import gc, importlib, json
from selfcorrect.cli import MODEL_LIBRARIES, import_model_libraries, leave
{imports}
from transformers import AutoModelForCausalLM, AutoTokenizer
AutoModelForCausalLM.from_pretrained({model!r})
AutoTokenizer.from_pretrained({model!r})
print(json.dumps({{"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}}), flush=True)
{exit}
"""
PLAIN_IMPORTS = "for name in MODEL_LIBRARIES:\n    importlib.import_module(name)"
VARIANTS = {  # name: (imports, exit)
    "plain": (PLAIN_IMPORTS, ""),
    "paused": ("import_model_libraries()", ""),
    "ours": ("import_model_libraries()", "leave(0)"),
}


def add_arguments(parser) -> None:
    add_model_arguments(parser)
    parser.add_argument("--repeats", type=int, default=5, help="start-ups of each, best kept")


def run(args) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        model = str(model_directory(args, Path(scratch)))
        programs = {
            name: PROGRAM.format(model=model, imports=imports, exit=exit_)
            for name, (imports, exit_) in VARIANTS.items()
        }
        best = {name: float("inf") for name in programs}
        state = {}
        for _ in range(args.repeats):
            for name, program in programs.items():
                seconds, state[name] = _start(program)
                best[name] = min(best[name], seconds)
    print(f"start-up and exit of a model-loading job ({args.model} model): best of {args.repeats}")
    print(f"  plain imports, usual exit:                   {best['plain']:.2f} s")
    print(f"  collector paused then frozen, usual exit:    {best['paused']:.2f} s")
    print(f"  collector paused then frozen, quick exit (selfcorrect): {best['ours']:.2f} s")
    print(f"  ratio (plain / selfcorrect): {best['plain'] / best['ours']:.2f}x")
    ours = state["ours"]
    print(
        f"  after our start-up: collector {'on' if ours['enabled'] else 'OFF'}, "
        f"{ours['frozen']:,} objects frozen"
    )


def _start(program: str) -> tuple[float, dict]:
    """Wall time of a fresh interpreter running `program`, and the JSON it printed last."""
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"selfcorrect bench startup: error: a start-up failed:\n{proc.stderr}")
    return seconds, json.loads(proc.stdout.strip().splitlines()[-1])
