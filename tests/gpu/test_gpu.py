"""The GPU path, proved on a machine with CUDA (`make test-gpu`; docs/devices.md); skipped
where torch sees no GPU.

One SCoRe update in process with the policy and reference on the GPU, then the tiny DAG
(config/test.yaml) end to end with `device: cuda`: every stage that loads a model logs the
device it put the model on, and the logs must say cuda.
"""

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (make test-gpu)"),
]

BIN = Path(sys.executable).parent
COPY = ["Snakefile", "rules", "config", "envs", "workflow/schemas", "workflow/report"]
TINY = {"hidden_size": 32, "intermediate_size": 64, "layers": 1, "heads": 2, "max_positions": 64}
# log file -> the line its stage writes about where the model is
DEVICE_LINES = {
    "base_model.log": "pre-training on {device}",
    "rollout/base/arith-test.log": "hf engine on {device}",
    "rollout/score/arith-test.log": "hf engine on {device}",
    "score/score_stage1.log": "training on {device}",
    "score/score.log": "training on {device}",
    "rise/iter_1/collect.log": "hf engine on {device}",
    "rise/iter_1/train.log": "training on {device}",
    "baselines/pair_sft/sft.log": "training on {device}",
}


def test_the_rule_picks_the_gpu_and_autocasts_to_bf16(monkeypatch):
    from selfcorrect.device import autocast, resolve_device

    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)
    assert resolve_device("auto") == torch.device("cuda", 0)
    layer = torch.nn.Linear(8, 8).cuda()
    with autocast(torch.device("cuda", 0), cpu_bf16=False):  # the CPU setting does not apply
        assert layer(torch.ones(2, 8, device="cuda")).dtype == torch.bfloat16


def test_a_score_update_on_the_gpu(tmp_path):
    from selfcorrect.models.tiny import build_model, build_tokenizer
    from selfcorrect.settings import TinyConfig, parse
    from selfcorrect.tasks import get_task
    from selfcorrect.train.score import ScoreRecipe

    tok = build_tokenizer()
    torch.manual_seed(0)
    policy = build_model(tok, TinyConfig(**TINY)).cuda()
    given = {
        "steps": 1,
        "problems_per_step": 2,
        "samples": 2,
        "max_new_tokens": 8,
        "backend": "hf",
        "offline_starts": 0.0,
        "keep": "last",
    }
    cfg = parse("score", {"score": given}).score
    problems = get_task("arith").problems("train", {"n_train": 4})
    recipe = ScoreRecipe(
        cfg,
        "score_stage1",
        policy,
        copy.deepcopy(policy),
        tok,
        problems,
        get_task("arith"),
        {},
        tmp_path,
        None,
    )
    log = recipe.train()  # generation, labels, the update, a checkpoint
    assert recipe.trainer.device == torch.device("cuda", 0)
    assert all(p.is_cuda for p in policy.parameters())
    assert log["grad_norm"].notna().all() and (tmp_path / "checkpoint.pt").exists()


def run_dag(root: Path, workdir: Path, device: str, *targets: str) -> None:
    """config/test.yaml with `device` (and the hf engine, whose inputs the test checks)."""
    for name in COPY:
        src, dst = root / name, workdir / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dst)
    (workdir / "device.yaml").write_text(f"device: {device}\nrollout: {{backend: hf}}\n")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    cores = str(min(8, os.cpu_count() or 1))
    proc = subprocess.run(
        [
            str(BIN / "snakemake"),
            "--cores",
            cores,
            "--configfile",
            "config/test.yaml",
            "device.yaml",
            "--",
            *targets,
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, f"snakemake failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"


def check_device_lines(workdir: Path, device: str) -> None:
    for log, line in DEVICE_LINES.items():
        text = (workdir / "logs" / log).read_text()
        assert line.format(device=device) in text, f"logs/{log} does not say {line!r}"


@pytest.mark.slow
@pytest.mark.workflow
def test_the_tiny_dag_trains_on_the_gpu(root, tmp_path):
    run_dag(root, tmp_path, "cuda")
    check_device_lines(tmp_path, "cuda:0")
    summary = (tmp_path / "results/report/summary.md").read_text()
    for model in ("base", "score_stage1", "score", "pair_sft", "rise_1"):
        assert f"| {model} |" in summary
