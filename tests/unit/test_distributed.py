"""Data-parallel bookkeeping (train/distributed.py, train/rise.py) on hand-computed values, and
the one-process path that never imports deepspeed."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from selfcorrect.train.distributed import global_weight, shard
from selfcorrect.train.rise import rank_share


def test_shard_splits_contiguously_and_evenly():
    items = list("abcde")
    assert [shard(items, r, 2) for r in range(2)] == [list("abc"), list("de")]
    assert [shard(items, r, 3) for r in range(3)] == [list("ab"), list("cd"), list("e")]
    assert [shard(items, r, 1) for r in range(1)] == [items]
    assert shard(list("ab"), 2, 3) == []  # more ranks than items: the last gets none


def test_global_weight_makes_the_averaged_gradient_the_global_mean():
    # 2 ranks with 3 and 1 of 4 rows: each rank's mean loss is scaled so that the average of
    # the two gradients is the mean over all 4 rows: (2*3/4 * g_a + 2*1/4 * g_b) / 2
    assert global_weight(3, 4, 2) == pytest.approx(1.5)
    assert global_weight(1, 4, 2) == pytest.approx(0.5)
    assert global_weight(5, 5, 1) == 1.0  # one process: the loss is unchanged
    losses = {"a": [1.0, 2.0, 3.0], "b": [10.0]}
    per_rank = [global_weight(len(v), 4, 2) * np.mean(v) for v in losses.values()]
    assert np.mean(per_rank) == pytest.approx(16.0 / 4)


def test_rank_share_takes_whole_problems_or_a_zero_weight_stand_in():
    group = torch.tensor([0, 0, 1, 2, 2, 2])  # problem of each row
    idx = np.array([3, 4, 5, 0, 1, 2])  # a batch: problems 2, 0, 1 in this order
    rows0, w0 = rank_share(idx, group, 0, 2)
    rows1, w1 = rank_share(idx, group, 1, 2)
    assert rows0.tolist() == [3, 4, 5, 0, 1] and w0 == 1.0  # problems 2 and 0
    assert rows1.tolist() == [2] and w1 == 1.0  # problem 1
    one = np.array([0, 1])  # one problem, two ranks: rank 1 repeats it with weight 0
    assert rank_share(one, group, 0, 2)[0].tolist() == [0, 1]
    rows, weight = rank_share(one, group, 1, 2)
    assert rows.tolist() == [0, 1] and weight == 0.0


def test_one_process_stays_plain_pytorch(root):
    code = (
        "import sys, torch\n"
        "from selfcorrect.train.distributed import setup, Plain\n"
        "from selfcorrect.settings import parse\n"
        "cfg = parse('sft', {'lr': 1e-3, 'warmup_steps': 1})\n"
        "t = setup(torch.nn.Linear(2, 2), cfg, parse('distributed', {'zero_stage': 3}))\n"
        "assert type(t) is Plain and t.world == 1 and t.is_main\n"
        "assert 'deepspeed' not in sys.modules\n"
    )
    # no WORLD_SIZE: what a plain `selfcorrect …` sees
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root / "workflow"), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)
