"""Digests of a training run's inputs (train/fingerprint.py), on hand-made files."""

import hashlib

import pytest

from selfcorrect.errors import SelfCorrectError
from selfcorrect.train.fingerprint import (
    differences,
    directory_digest,
    file_digest,
    input_digests,
    model_digest,
)


def test_file_digest_is_the_sha256_of_the_contents(tmp_path):
    (tmp_path / "f").write_bytes(b"abc")
    assert file_digest(tmp_path / "f") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


def test_directory_digest_covers_names_and_contents_but_not_hidden_files(tmp_path):
    d = tmp_path / "model"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (d / "model.safetensors").write_bytes(b"\x00" * 10)
    h = directory_digest(d)
    expected = hashlib.sha256()
    for name, content in [("config.json", b"{}"), ("model.safetensors", b"\x00" * 10)]:
        expected.update(f"{name}\0{hashlib.sha256(content).hexdigest()}\0".encode())
    assert h == expected.hexdigest()
    (d / ".cache").write_text("anything")
    assert directory_digest(d) == h
    (d / "model.safetensors").write_bytes(b"\x00" * 9 + b"\x01")  # same size, other weights
    assert directory_digest(d) != h
    (d / "model.safetensors").write_bytes(b"\x00" * 10)
    (d / "model.safetensors").rename(d / "other.safetensors")
    assert directory_digest(d) != h


def test_a_model_digest_is_its_directory_and_a_missing_one_is_an_error(tmp_path):
    d = tmp_path / "base"
    d.mkdir()
    (d / "config.json").write_text("{}")
    assert model_digest(d) == directory_digest(d)
    with pytest.raises(SelfCorrectError, match="model directory not found"):
        model_digest(tmp_path / "nowhere")


def test_input_digests_hash_a_shared_directory_once_and_skip_unused_inputs(tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    (d / "config.json").write_text("{}")
    (tmp_path / "p.parquet").write_bytes(b"rows")
    out = input_digests(
        {"init": d, "reference": d}, {"problems": tmp_path / "p.parquet", "offline_rollouts": None}
    )
    assert out == {
        "init": directory_digest(d),
        "reference": directory_digest(d),
        "problems": file_digest(tmp_path / "p.parquet"),
    }
    with pytest.raises(SelfCorrectError, match="missing.parquet: file not found"):
        input_digests({}, {"problems": tmp_path / "missing.parquet"})


def test_differences_name_the_changed_inputs():
    now = {"init": "a", "config": "c"}
    assert differences({"init": "a", "config": "c"}, now) == []
    assert differences({"init": "b", "config": "c"}, now) == ["init"]
    assert differences({"init": "a", "config": "c", "problems": "p"}, now) == ["problems"]
    assert differences(None, now) == ["no fingerprint recorded"]
