"""Where a task's rows come from: local .jsonl/.json/.parquet files or directories, or a hub id.

A task config names its data per split; keys an entry does not set come from the task config,
then (only when the task's default source is used) from the task's default:

    source: openai/gsm8k           # a hub id, a file, or a directory holding one file per split
    hub_config: main               # the `datasets` config name (hub ids; a sub-folder locally)
    split_names: {train: train, test: test}   # our split -> the source's split name
    limit: 100                     # keep the first N rows (deterministic)
    sources:                       # per-split overrides of the above
      train: data/math_train.jsonl
      test: {source: HuggingFaceH4/MATH-500, split: test}

A directory is searched for `{split}.jsonl|.jsonl.gz|.json|.json.gz|.parquet` and HF-style
shards (`{split}-00000-of-00001.parquet`) in itself, `{hub_config}/` and `data/`. A single file
is the split itself, unless the task says it holds every split (MBPP's mbpp.jsonl), in which case
the task's `split_filter` picks the split's rows.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from selfcorrect.artifacts import PROBLEMS
from selfcorrect.errors import SelfCorrectError

# Checked in this order; within a directory the first format with a match wins, so a folder
# holding both test.jsonl and test.parquet is not read twice.
FORMATS = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet")

Field = str | tuple[str, ...]  # a required field, or alternatives of which one must be present


@dataclass(frozen=True)
class Source:
    """One split's data, resolved from the task config."""

    location: str  # local path or hub id
    split: str  # the split's name in the source
    hub_config: str | None = None
    limit: int | None = None

    def describe(self) -> str:
        config = f", config {self.hub_config!r}" if self.hub_config else ""
        return f"{self.location} (split {self.split!r}{config})"


class Records(list):
    """Rows of one split (plain dicts) and where they came from, for error messages."""

    def __init__(self, rows: Iterable[dict], origin: str):
        super().__init__(rows)
        self.origin = origin


def resolve_source(
    cfg: dict | str, split: str, *, task: str, default: dict | None = None
) -> Source:
    """The source of `split`: `sources[split]`, else `source`, else the task's default."""
    cfg = {"source": cfg} if isinstance(cfg, str) else dict(cfg or {})
    layers = [cfg] + ([default] if default else [])
    for layer in layers:
        entry = _mapping(layer, "sources", task).get(split) or layer.get("source")
        if entry:
            break
    else:
        raise SelfCorrectError(
            f"task {task!r}: no source for split {split!r} "
            f"(set `source` or `sources: {{{split}: ...}}` in the task config)"
        )
    if not isinstance(entry, (str, dict)):
        raise SelfCorrectError(
            f"task {task!r}: the source of split {split!r} must be a string or mapping"
        )
    entry = {"source": entry} if isinstance(entry, str) else dict(entry)
    fallbacks = [entry, cfg] + ([default] if layer is not cfg else [])

    def pick(key: str):
        return next((f[key] for f in fallbacks if f.get(key) is not None), None)

    split_names = _mapping({"split_names": pick("split_names")}, "split_names", task)
    if not entry.get("source"):
        raise SelfCorrectError(f"task {task!r}: sources.{split} has no `source`")
    return Source(
        location=str(entry["source"]),
        split=str(entry.get("split") or split_names.get(split) or split),
        hub_config=pick("hub_config"),
        limit=_limit(pick("limit"), task),
    )


def _mapping(cfg: dict, key: str, task: str) -> dict:
    value = cfg.get(key) or {}
    if not isinstance(value, dict):
        raise SelfCorrectError(
            f"task {task!r}: `{key}` must be a mapping of split names, got {value!r}"
        )
    return value


def _limit(value, task: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SelfCorrectError(
            f"task {task!r}: `limit` must be a non-negative integer, got {value!r}"
        )
    return value


def load_records(
    source: str | dict,
    split: str,
    *,
    task: str,
    default: dict | None = None,
    required: Sequence[Field] = (),
    split_filter: Callable[[dict], bool] | None = None,
) -> Records:
    """Rows of `split` as dicts, every one holding the `required` fields.

    `source` is a task config (see the module docstring) or a bare path / hub id.
    `split_filter` marks a dataset shipped as one file with every split: when the source is a
    single file, only the rows it accepts are kept (directories and hub splits are already split).
    """
    spec = resolve_source(source, split, task=task, default=default)
    rows, origin, whole_file = _read_source(spec, task)
    keep = split_filter if whole_file else None
    out = []
    for index, row in enumerate(rows):
        if spec.limit is not None and len(out) >= spec.limit:
            break
        _check_row(row, index, required, origin)
        if keep is None or _kept(keep, row, index, origin):
            out.append(row)
    return Records(out, origin)


def _kept(keep: Callable[[dict], bool], row: dict, index: int, origin: str) -> bool:
    try:
        return keep(row)
    except (KeyError, TypeError, ValueError) as exc:  # a malformed field the filter reads
        raise SelfCorrectError(f"{origin}: row {index}: {type(exc).__name__}: {exc}") from None


def _check_row(row, index: int, required: Sequence[Field], origin: str) -> None:
    if not isinstance(row, dict):
        raise SelfCorrectError(f"{origin}: row {index} is not an object")
    for field in required:
        names = (field,) if isinstance(field, str) else field
        if all(row.get(name) is None for name in names):
            alternatives = "".join(f" (or {n!r})" for n in names[1:])
            raise SelfCorrectError(
                f"{origin}: row {index} is missing field {names[0]!r}{alternatives}"
            )


def problems_frame(rows: list[dict], origin: str) -> pd.DataFrame:
    """The PROBLEMS columns of a task's rows; duplicate problem ids would merge rollouts."""
    seen: set[str] = set()
    for row in rows:
        if row["problem_id"] in seen:
            raise SelfCorrectError(f"{origin}: duplicate problem id {row['problem_id']!r}")
        seen.add(row["problem_id"])
    return pd.DataFrame(rows, columns=PROBLEMS.names)


def _read_source(spec: Source, task: str) -> tuple[list, str, bool]:
    """(rows, origin for messages, whether the rows come from one local file)."""
    path = Path(spec.location).expanduser()
    if path.is_file():
        return read_file(path, spec.split), str(path), True
    if path.is_dir():
        files = split_files(path, spec.split, spec.hub_config)
        rows = [row for f in files for row in read_file(f, spec.split)]
        return rows, str(files[0]) if len(files) == 1 else str(path), False
    if _looks_local(spec.location):
        raise SelfCorrectError(
            f"{spec.location}: file not found (task {task!r}, split {spec.split!r})"
        )
    return _read_hub(spec, task), spec.describe(), False


def _looks_local(location: str) -> bool:
    """Hub ids are `name` or `owner/name`; anything else that does not exist is a missing file."""
    return (
        location.startswith(("/", ".", "~"))
        or location.count("/") > 1
        or location.endswith(FORMATS)
    )


def split_files(root: Path, split: str, hub_config: str | None = None) -> list[Path]:
    """The files of `split` in a dataset directory (shards in name order)."""
    folders = [root] + ([root / hub_config] if hub_config else []) + [root / "data"]
    if hub_config:
        folders.append(root / hub_config / "data")
    for folder in (f for f in folders if f.is_dir()):
        for suffix in FORMATS:
            found = sorted(
                p for p in folder.iterdir() if p.is_file() and _is_split_file(p, split, suffix)
            )
            if found:
                return found
    names = ", ".join(f"{split}{s}" for s in FORMATS)
    raise SelfCorrectError(
        f"{root}: no file for split {split!r} (looked for {names} or {split}-*.parquet shards "
        f"in the folder{f', {hub_config}/' if hub_config else ''} and data/)"
    )


def _is_split_file(path: Path, split: str, suffix: str) -> bool:
    name = path.name
    if not name.endswith(suffix):
        return False
    stem = name[: -len(suffix)]
    # `test-00000-of-00001` and `test_0` are shards of `test`; `testing` is another split.
    return stem == split or (stem.startswith(split) and stem[len(split)] in "-_.")


def read_file(path: str | os.PathLike, split: str | None = None) -> list:
    """Rows of one .jsonl/.json (optionally gzipped) or .parquet file.

    A .json file may hold a list of rows, JSON lines (what `Dataset.to_json` writes), or an
    object mapping split names to lists of rows.
    """
    path = Path(path)
    name = path.name
    try:
        if name.endswith(".parquet"):
            return pq.read_table(path).to_pylist()
        if name.endswith((".jsonl", ".jsonl.gz")):
            return _json_lines(_read_text(path), path)
        if name.endswith((".json", ".json.gz")):
            return _json_document(_read_text(path), path, split)
    except (OSError, UnicodeDecodeError, EOFError, pa.ArrowException) as exc:
        raise SelfCorrectError(f"{path}: not a readable data file ({_first_line(exc)})") from None
    raise SelfCorrectError(f"{path}: unsupported file type (expected one of {', '.join(FORMATS)})")


def _read_text(path: Path) -> str:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return fh.read()
    return path.read_text(encoding="utf-8")


def _json_lines(text: str, path: Path) -> list:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise SelfCorrectError(
                    f"{path}: line {number} is not valid JSON ({exc.msg})"
                ) from None
    return rows


def _json_document(text: str, path: Path, split: str | None) -> list:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data":
            raise SelfCorrectError(f"{path}: not valid JSON ({exc})") from None
        return _json_lines(text, path)
    if isinstance(data, list):
        return data
    if isinstance(data, dict) and split in data and isinstance(data[split], list):
        return data[split]
    raise SelfCorrectError(f"{path}: expected a list of rows or an object with key {split!r}")


def _read_hub(spec: Source, task: str) -> list:
    """A split of a `datasets` hub id (imported here: it is slow to import and often unused)."""
    try:
        import datasets

        data = datasets.load_dataset(spec.location, spec.hub_config, split=spec.split)
        if spec.limit is not None:
            data = data.select(range(min(spec.limit, len(data))))
        return list(data)
    except Exception as exc:  # noqa: BLE001 - datasets raises many unrelated types
        raise SelfCorrectError(
            f"{spec.describe()}: not a local file or directory, and loading it with `datasets` "
            f"failed for task {task!r}: {type(exc).__name__}: {_first_line(exc)}"
        ) from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
