"""The CLI is a loop over the command modules: each command's `--help` describes every option,
and building the parser loads none of the heavy libraries a command may need."""

import argparse
import re
import subprocess
import sys

import pytest

from selfcorrect import stages
from selfcorrect.cli import _parser, commands


def subcommands(parser: argparse.ArgumentParser, prefix: str = ""):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield f"{prefix}{name}", sub
                yield from subcommands(sub, f"{prefix}{name} ")


def test_every_option_of_every_command_has_help():
    parser = _parser()
    found = dict(subcommands(parser))
    assert set(stages.COMMANDS) | {"bench"} <= found.keys()
    for name, sub in [("selfcorrect", parser), *found.items()]:
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{name}: {action.option_strings or action.dest} has no help"


def test_every_command_module_declares_its_arguments_and_entry_point():
    for name, module in commands().items():
        assert callable(module.add_arguments) and callable(module.run), name
        assert module.__doc__.strip(), name


def test_building_the_parser_imports_no_heavy_library():
    code = (
        "import sys; from selfcorrect.cli import _parser; _parser(); "
        "print(' '.join(m for m in ('torch', 'pandas', 'transformers', 'matplotlib') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == ""


def test_help_of_a_command_shows_its_description(capsys):
    with pytest.raises(SystemExit) as done:
        _parser().parse_args(["score", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--offline-labels" in out and "Checkpoints live outside" in out


def test_the_report_reads_the_benchmarks_of_its_own_run():
    """Beside the results/ that holds the report, under a module's prefix too."""
    from selfcorrect.stages.report import benchmarks_dir

    assert benchmarks_dir("results/report", None) == "logs/benchmarks"
    assert benchmarks_dir("sub/results/report", None) == "sub/logs/benchmarks"
    assert benchmarks_dir("results/report", "elsewhere") == "elsewhere"


def run_python(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *argv], capture_output=True, text=True, timeout=300, check=False
    )


def test_leave_runs_the_exit_handlers_flushes_and_keeps_the_code(tmp_path):
    """The quick exit skips only the interpreter's teardown: what a command registered to run at
    exit runs, buffered output reaches the pipe, and the exit code is the command's."""
    mark = tmp_path / "handler"
    proc = run_python(
        "-c",
        "import atexit, sys; from selfcorrect.cli import leave\n"
        f"atexit.register(lambda: open({str(mark)!r}, 'w').write('ran'))\n"
        "print('out', end=''); sys.stderr.write('err'); leave(3)\n",
    )
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "out", "err")
    assert mark.read_text() == "ran"


def test_leave_waits_for_a_running_non_daemon_thread(tmp_path):
    mark = tmp_path / "thread"
    proc = run_python(
        "-c",
        "import threading, time; from selfcorrect.cli import leave\n"
        "def late():\n    time.sleep(0.3)\n"
        f"    open({str(mark)!r}, 'w').write('done')\n"
        "threading.Thread(target=late).start(); leave(0)\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert mark.read_text() == "done"


def test_bench_startup_prints_each_variant_the_ratio_and_a_frozen_collector(tmp_path):
    """One fresh interpreter per variant: the printed ratio is the printed times', and after our
    start-up the collector runs with the libraries' objects frozen out of its sight."""
    proc = run_python("-m", "selfcorrect.cli", "bench", "startup", "--repeats", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    plain, _paused, ours = (float(x) for x in re.findall(r": +([\d.]+) s$", out, re.MULTILINE))
    ratio = float(re.search(r"ratio \(plain / selfcorrect\): ([\d.]+)x", out).group(1))
    assert ratio == pytest.approx(plain / ours, rel=0.01)  # within the printed rounding
    frozen = int(re.search(r"collector on, ([\d,]+) objects frozen", out).group(1).replace(",", ""))
    assert frozen > 100_000  # torch's and transformers' objects, not a handful


def test_after_the_paused_imports_a_usual_exit_frees_them_as_usual():
    """Frozen objects are never collected: without unfreezing them at exit, the last collection
    skips them and native extensions (triton's, beside vLLM) report them as leaked."""
    proc = run_python(
        "-c",
        "import sys; from selfcorrect.cli import import_model_libraries\n"
        "import_model_libraries(); sys.exit(0)\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert "leaked" not in proc.stderr
