"""The CLI is a loop over the command modules: each command's `--help` describes every option,
and building the parser loads none of the heavy libraries a command may need."""

import argparse
import subprocess
import sys

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
    import pytest

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
