"""`selfcorrect bench train`: the FLOP accounting, the peak measurement and the rates as pure
functions, the one-line error without TRL, and the command itself on a small batch (when TRL,
the bench extra, is installed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.markers import needs

from selfcorrect.bench import model as bench_model
from selfcorrect.bench import train as bench
from selfcorrect.errors import SelfCorrectError

ROOT = Path(__file__).parents[2]


def test_update_flops_counts_forward_backward_and_the_reference_forward():
    # policy forward 2PT + backward 4PT + reference forward 2PT
    assert bench.update_flops(1_000, 10) == 8 * 1_000 * 10
    assert bench.update_flops(0, 10) == 0


def test_matmul_params_count_a_tied_embedding_once_and_skip_an_untied_one(tiny_llama):
    tied, untied = tiny_llama(tie=True), tiny_llama(tie=False)
    embed = 32 * 16  # vocab x hidden
    assert bench.matmul_params(tied) == sum(p.numel() for p in tied.parameters())
    assert bench.matmul_params(untied) == sum(p.numel() for p in untied.parameters()) - embed
    # the untied head is the tied model's shared matrix: both do the same matmuls per token
    assert bench.matmul_params(untied) == bench.matmul_params(tied)


def test_matmul_peak_is_two_n_cubed_over_the_best_time(monkeypatch):
    clock = iter([0.0, 2.0, 10.0, 11.0, 20.0, 24.0])  # 3 timed matmuls: 2 s, 1 s, 4 s
    monkeypatch.setattr(bench_model.time, "perf_counter", lambda: next(clock))
    assert bench_model.matmul_peak(8, torch.float32, repeats=3) == pytest.approx(2 * 8**3 / 1e9)


def test_best_rates_take_each_figure_from_its_best_step():
    steps = [
        {"tokens": 100, "step_s": 4.0, "generate_s": 1.0},  # 25, 100, 33.3 tokens/s
        {"tokens": 120, "step_s": 4.0, "generate_s": 2.0},
    ]  # 30, 60, 60 tokens/s
    rates = bench.best_rates(steps)
    assert rates == pytest.approx({"step": 30.0, "generation": 100.0, "update": 60.0})


def test_without_trl_the_bench_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "trl", None)  # import trl -> ImportError
    with pytest.raises(SelfCorrectError, match=r"pip install -e '\.\[bench\]'"):
        bench.run_trl(None, Path("."), None, None)


@pytest.mark.slow
@needs("trl", "TRL is not installed (the bench extra: pip install -e '.[bench]')")
def test_bench_train_prints_the_trl_ratios_and_the_peak_share():
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "selfcorrect.cli",
            "--threads",
            "1",
            "bench",
            "train",
            "--prompts",
            "2",
            "--samples",
            "2",
            "--micro-batch-problems",
            "1",
            "--max-new-tokens",
            "4",
            "--repeats",
            "1",
            "--peak-size",
            "256",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
        # --threads, not the environment, sets the threads both trainers and the peak use
        env={"PYTHONPATH": str(ROOT / "workflow"), "OMP_NUM_THREADS": "2", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "torch threads 1 " in out
    assert re.search(r"matmul peak \(256², 1 threads\)", out)
    for key in ("step", "generation", "update"):
        line = rf"^  {key} +(\d+) +(\d+) +([\d.]+)x$"
        ours, theirs, ratio = map(float, re.search(line, out, re.MULTILINE).groups())
        # the rates are printed to the unit and the ratio to 0.01: equal within that rounding
        low, high = (ours - 0.5) / (theirs + 0.5), (ours + 0.5) / max(theirs - 0.5, 1e-9)
        assert low - 0.005 <= ratio <= high + 0.005, (key, ours, theirs, ratio)
    share = re.search(r"our update ([\d.]+) GFLOP/s .* = ([\d.]+)% of the bf16 peak", out)
    peak = float(re.search(r"bf16 (\d+) GFLOP/s", out).group(1))
    # printed to 0.1 GFLOP/s, 1 GFLOP/s and 0.1 %
    share_of = 100 * float(share.group(1)) / peak
    assert float(share.group(2)) == pytest.approx(share_of, rel=0.05, abs=0.05 + share_of / peak)
