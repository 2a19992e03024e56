"""The real-model presets, planned as a cluster user plans them: `make slurm-profile` once, then
`snakemake -n --profile slurm --configfile <preset>`. Nothing is downloaded (a dry run records
no model and reads no data), so this runs offline."""

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.workflow

BIN = Path(sys.executable).parent
COPY = ["Snakefile", "rules", "config", "envs", "workflow/schemas", "workflow/report"]
PRESETS = {
    "score-math-qwen2.5-math-1.5b.yaml": {
        "prepare_task": 2,
        "rollout": 4,
        "label": 4,
        "score_run": 2,
        "evaluate_model": 3,
        "base_model": 1,
        "build_report": 1,
        "all": 1,
    },
    "score-mbpp-qwen2.5-coder-1.5b.yaml": {
        "prepare_task": 3,
        "rollout": 7,
        "label": 7,
        "score_run": 2,
        "evaluate_model": 6,
        "base_model": 1,
        "build_report": 1,
        "all": 1,
    },
    "rise-gsm8k-qwen2.5-1.5b.yaml": {
        "prepare_task": 2,
        "rollout": 2,
        "label": 2,
        "rise_collect": 2,
        "rise_label": 2,
        "rise_improve": 2,
        "rise_train": 2,
        "rise_eval_rollout": 6,
        "rise_eval_label": 6,
        "rise_evaluate": 3,
        "evaluate_model": 1,
        "base_model": 1,
        "build_report": 1,
        "all": 1,
    },
}
FAMILY = {
    "rollout": "generate",
    "rise_collect": "generate",
    "rise_improve": "generate",
    "rise_eval_rollout": "generate",
    "score_run": "train",
    "rise_train": "train",
    "label": "label",
    "rise_label": "label",
    "rise_eval_label": "label",
}


@pytest.fixture(scope="module")
def user_env(root, tmp_path_factory):
    """A user's environment after the one-time `make slurm-profile` (in a private config dir)."""
    xdg = tmp_path_factory.mktemp("xdg")
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(xdg),
        "HF_HUB_OFFLINE": "1",
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    subprocess.run(
        ["make", "-s", "-C", str(root), "slurm-profile"], env=env, check=True, capture_output=True
    )
    assert (xdg / "snakemake/slurm/config.yaml").exists()
    return env


@pytest.fixture(scope="module")
def workdir(root, tmp_path_factory):
    d = tmp_path_factory.mktemp("presets")
    for name in COPY:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if (root / name).is_dir() else shutil.copy)(root / name, d / name)
    return d


def planned(text: str) -> list[tuple[str, dict]]:
    """(rule, resources) of every job a dry run prints."""
    jobs = []
    for rule, body in re.findall(r"(?m)^(?:local)?rule (\w+):\n((?:    .*\n)+)", text):
        res = re.search(r"(?m)^    resources: (.*)$", body)
        pairs = [kv.split("=", 1) for kv in res.group(1).split(", ")] if res else []
        jobs.append((rule, dict(pairs)))
    return jobs


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_dry_run_shows_jobs_and_resources(preset, root, workdir, user_env):
    proc = subprocess.run(
        [
            str(BIN / "snakemake"),
            "-n",
            "--profile",
            "slurm",
            "--configfile",
            f"config/presets/{preset}",
        ],
        cwd=workdir,
        env=user_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "Using profile slurm" in proc.stderr
    jobs = planned(proc.stdout)
    assert Counter(rule for rule, _ in jobs) == Counter(PRESETS[preset])
    needs = yaml.safe_load((root / "config/presets" / preset).read_text())["resources"]
    for rule, res in jobs:
        if rule not in FAMILY:
            continue
        want = needs[FAMILY[rule]]
        assert int(res["gpu"]) == want["gpu"], (rule, res)
        assert int(res["mem_mb"]) == want["mem_mb"] and int(res["runtime"]) == want["runtime"]
        if want["gpu"]:
            # the cluster's side comes from the profile
            assert res["slurm_partition"] == "gpu" and res["gpu_model"] == "a100", (rule, res)
            assert int(res["cpus_per_gpu"]) == 8
        else:
            assert "slurm_partition" not in res and "gpu_model" not in res, (rule, res)
    assert not (workdir / "results").exists()
