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


def test_zero_config_sizes_buckets_to_the_model_and_offloads_on_request():
    from selfcorrect.train.distributed import zero_config

    assert zero_config(2, False, None) == {"stage": 2}
    zero = zero_config(3, False, 64)
    assert zero["stage"] == 3 and zero["reduce_bucket_size"] == 64 * 64
    assert zero["stage3_max_live_parameters"] == 4 * 64 * 64
    # the optimizer steps ZeRO-3's partition in sub-groups (AdamW's temporaries are one's size)
    assert zero["sub_group_size"] == 4 * 64 * 64 and "sub_group_size" not in zero_config(
        2, False, 64
    )
    assert "offload_optimizer" not in zero and "offload_param" not in zero
    assert zero_config(3, True, None) == {
        "stage": 3,
        "offload_optimizer": {"device": "cpu"},
        "offload_param": {"device": "cpu"},
    }
    assert "offload_param" not in zero_config(2, True, None)  # stage 2 has no parameters to move


def test_partitioned_changes_nothing_on_one_process(tiny_llama, monkeypatch):
    from selfcorrect.settings import parse
    from selfcorrect.train.distributed import partitioned, setup

    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with partitioned(parse("distributed", {"zero_stage": 3}, "distributed")):
        model = tiny_llama()
    assert all(not hasattr(p, "ds_id") and p.numel() > 0 for p in model.parameters())
    trainer = setup(model, parse("sft", {"lr": 1e-3, "warmup_steps": 1}))
    ref = trainer.frozen(tiny_llama())
    assert not ref.training and not any(p.requires_grad for p in ref.parameters())


def test_share_fp32_partitions_makes_each_master_the_parameters_partition():
    from types import SimpleNamespace

    from selfcorrect.train.distributed import share_fp32_partitions

    low = [torch.arange(4.0), torch.arange(2, dtype=torch.bfloat16)]
    master = [low[0].clone(), low[1].float()]
    held = master[0]
    optimizer = SimpleNamespace(
        fp16_partitioned_groups_flat=low, fp32_partitioned_groups_flat=master
    )
    assert share_fp32_partitions(optimizer) == 1
    # the same tensor object the optimizer holds, now on the parameters' storage
    assert master[0] is held and held.data_ptr() == low[0].data_ptr()
    held.add_(1)
    assert torch.equal(low[0], torch.arange(4.0) + 1)
    # bf16 parameters keep their fp32 master copy
    assert master[1].dtype == torch.float32 and master[1].data_ptr() != low[1].data_ptr()
    assert share_fp32_partitions(SimpleNamespace()) == 0  # stage 0-2: nothing to share
