"""What a training checkpoint was trained from, so a run resumes only its own checkpoint.

A checkpoint records one digest per input: the starting model's files, the reference model's
files, every training data file, and the resolved configuration. A rerun whose digests differ
(the base model was rebuilt, the problems were regenerated, a setting changed) starts fresh
instead of resuming weights trained from something else (docs/data-integrity.md).

Files are hashed in full (SHA-256, streamed), on the main process only: 0.45-0.95 GiB/s on
one core of the 2-core development machine, so a 15 GB model adds 16-33 s to the start of a
training run. Every model directory holds its own weights (the base model's too: a hub id or
local path is saved into results/models/base), so a model's digest is its directory's.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from selfcorrect.errors import SelfCorrectError

CHUNK = 1 << 20


def file_digest(path: str | Path) -> str:
    """SHA-256 of a file's contents (symlinks followed)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def directory_digest(path: str | Path) -> str:
    """SHA-256 over every file under `path`: relative names and contents, in sorted order.

    Hidden files (leading dot, e.g. a cache) are skipped; symlinks (the hub cache's snapshot
    files) are followed."""
    root = Path(path)
    h = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = file.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        h.update(f"{rel.as_posix()}\0{file_digest(file)}\0".encode())
    return h.hexdigest()


def model_digest(model_dir: str | Path) -> str:
    """The digest of the weights, config and tokenizer a model directory holds."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise SelfCorrectError(f"{model_dir}: model directory not found")
    return directory_digest(model_dir)


def config_digest(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()


def input_digests(
    models: dict[str, str | Path | None], files: dict[str, str | Path | None]
) -> dict[str, str]:
    """{input name: digest} for the named model directories and data files; inputs given as
    None (an optional file not used) are left out. A directory named twice (Stage I's policy
    and reference are both the base) is hashed once."""
    seen: dict[Path, str] = {}
    out: dict[str, str] = {}
    for name, path in models.items():
        if path is not None:
            key = Path(path).resolve()
            out[name] = seen[key] if key in seen else seen.setdefault(key, model_digest(path))
    for name, path in files.items():
        if path is not None:
            if not Path(path).is_file():
                raise SelfCorrectError(f"{path}: file not found")
            out[name] = file_digest(path)
    return out


def differences(recorded: dict | None, current: dict[str, str]) -> list[str]:
    """The inputs whose digests differ (all of them when nothing was recorded)."""
    if not isinstance(recorded, dict):
        return ["no fingerprint recorded"]
    return [k for k in sorted(set(recorded) | set(current)) if recorded.get(k) != current.get(k)]
