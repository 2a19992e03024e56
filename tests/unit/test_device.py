"""The one rule that picks the device (selfcorrect/device.py) and the autocast it implies."""

import pytest
import torch

from selfcorrect import device
from selfcorrect.config import validate_config
from selfcorrect.errors import SelfCorrectError


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def four_gpus(monkeypatch):
    """A machine with 4 GPUs, as far as the rule can tell (it never touches one)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    monkeypatch.delenv("DS_ACCELERATOR", raising=False)


def test_auto_without_cuda_is_the_cpu(no_cuda, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "1")  # a torchrun rank on a CPU machine: still the CPU
    assert device.resolve_device("auto") == torch.device("cpu")
    assert device.resolve_device(None) == torch.device("cpu")
    assert device.resolve_device("cpu") == torch.device("cpu")


def test_asking_for_cuda_without_it_is_one_clear_error(no_cuda):
    with pytest.raises(SelfCorrectError, match="device: cuda: CUDA is not available"):
        device.resolve_device("cuda")


def test_auto_with_cuda_is_gpu_0_on_one_process(four_gpus):
    assert device.resolve_device("auto") == torch.device("cuda", 0)
    assert device.resolve_device("cuda") == torch.device("cuda", 0)
    assert device.resolve_device("cuda:2") == torch.device("cuda", 2)
    assert device.resolve_device(" CUDA:3 ") == torch.device("cuda", 3)


def test_each_torchrun_rank_takes_its_local_rank(four_gpus, monkeypatch):
    monkeypatch.setenv("LOCAL_RANK", "3")
    assert device.resolve_device("auto") == torch.device("cuda", 3)
    assert device.resolve_device("cuda") == torch.device("cuda", 3)
    # an explicit index wins over the rank
    assert device.resolve_device("cuda:1") == torch.device("cuda", 1)
    # a CPU DeepSpeed run (DS_ACCELERATOR=cpu) trains on the CPU even where GPUs are
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    assert device.resolve_device("auto") == torch.device("cpu")


def test_a_gpu_that_is_not_there_is_an_error(four_gpus, monkeypatch):
    with pytest.raises(SelfCorrectError, match="cuda:4: no such GPU"):
        device.resolve_device("cuda:4")
    monkeypatch.setenv("LOCAL_RANK", "7")
    with pytest.raises(SelfCorrectError, match="LOCAL_RANK 7, 4 visible"):
        device.resolve_device("auto")


def test_unknown_settings_are_rejected():
    with pytest.raises(SelfCorrectError, match="device: 'gpu': unknown"):
        device.resolve_device("gpu")
    assert device.resolve_device(torch.device("meta")) == torch.device("meta")


def test_the_config_key_defaults_to_auto_and_is_checked():
    assert validate_config({})["device"] == "auto"
    assert validate_config({"device": "cuda:1"})["device"] == "cuda:1"
    with pytest.raises(SelfCorrectError, match="device"):
        validate_config({"device": "tpu"})


def test_autocast_follows_the_device_type():
    with device.autocast(torch.device("cpu"), cpu_bf16=True):
        assert torch.is_autocast_enabled("cpu")
        assert torch.get_autocast_dtype("cpu") == torch.bfloat16
        assert torch.nn.Linear(4, 4)(torch.ones(2, 4)).dtype == torch.bfloat16
    with device.autocast("cpu", cpu_bf16=False):
        assert not torch.is_autocast_enabled("cpu")
        assert torch.nn.Linear(4, 4)(torch.ones(2, 4)).dtype == torch.float32
    with device.autocast("meta", cpu_bf16=True):  # no autocast for meta: nothing changes
        assert not torch.is_autocast_enabled("cpu")
    # CUDA (bf16 whatever `bf16` says) is checked on a GPU: tests/gpu


def test_model_device_reads_the_parameters():
    model = torch.nn.Linear(2, 2).to("meta")
    assert device.model_device(model) == torch.device("meta")
