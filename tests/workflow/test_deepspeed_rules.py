"""Training rules on 2 "GPUs": `resources.gpu` = 2 turns their command into
`torchrun --nproc-per-node 2 -m selfcorrect.cli …`, which trains under DeepSpeed (CPU here), and
moving the run back to 1 GPU does not rerun it."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("deepspeed")
pytestmark = [pytest.mark.workflow, pytest.mark.deepspeed, pytest.mark.slow]

BIN = Path(sys.executable).parent
ENV = {
    **os.environ,
    "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    "DS_ACCELERATOR": "cpu",
    "OMP_NUM_THREADS": "1",
}
COPY = ["Snakefile", "rules", "config", "envs", "workflow/schemas", "workflow/report"]
TARGETS = ["results/models/score_stage1", "results/models/rise_1", "results/models/pair_sft"]


def snakemake(cwd, *args):
    proc = subprocess.run(
        [str(BIN / "snakemake"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=ENV,
        check=False,
    )
    assert proc.returncode == 0, f"snakemake {' '.join(args)}:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_training_rules_run_one_process_per_gpu(root, tmp_path):
    for name in COPY:
        src, dst = root / name, tmp_path / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    (tmp_path / "zero3.yaml").write_text("distributed: {zero_stage: 3}\n")
    two = ["--set-resources", "score_run:gpu=2", "rise_train:gpu=2", "baseline_sft:gpu=2"]
    config = ["--configfile", "config/test.yaml", "zero3.yaml"]
    run = snakemake(tmp_path, "--cores", "2", *config, *two, "-p", "--", *TARGETS)
    prefix = "torchrun --standalone --nproc-per-node 2 -m selfcorrect.cli --threads 1"
    launched = [
        line for line in run.stdout.splitlines() + run.stderr.splitlines() if prefix in line
    ]
    assert any(" score " in line for line in launched)
    assert any(" rise-train " in line for line in launched)
    assert any(" sft " in line for line in launched)
    # both trainers really ran on 2 processes under ZeRO-3: the sharded checkpoint says so
    meta = json.loads((tmp_path / "results/checkpoints/score_stage1/deepspeed.json").read_text())
    assert (meta["world_size"], meta["zero_stage"]) == (2, 3)
    from transformers import AutoModelForCausalLM

    for target in TARGETS:  # whole models, gathered from the partitions by rank 0
        model = AutoModelForCausalLM.from_pretrained(tmp_path / target)
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    # the launcher is a function of resources: a different GPU count (or ZeRO stage) is the
    # same experiment and reruns nothing
    dry = snakemake(
        tmp_path, "-n", "--cores", "2", "--configfile", "config/test.yaml", "--", *TARGETS
    )
    assert "Nothing to be done" in dry.stdout + dry.stderr
