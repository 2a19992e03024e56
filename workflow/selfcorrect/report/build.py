"""Assemble the report from the evaluate stage's metrics files.

Each metrics file is JSON for one (model, benchmark):
    {"model": str, "benchmark": str, "metrics": {...}, "accuracy_by_turn": [...]}
with `metrics` as produced by `selfcorrect.metrics.compute_metrics` (fractions). The report
writes, atomically, into `out_dir`:
    summary.md             per benchmark: the SCoRe table (Acc@t1, Acc@t2, Δ, Δi→c, Δc→i) and a
                           RISE / health table (p1@tT, m1@tT, mK@t1, edit rate, truncation, n)
    metrics.csv            one row per model × benchmark, every metric, as fractions
    accuracy_per_turn.png  accuracy against turn ± 1 SE, one line per model, a panel per benchmark
    transitions.png        per benchmark: Δi→c and Δc→i bars per model, and Δ ± its paired SE
The two figures are drawn in report/figures.py.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from selfcorrect.artifacts import atomic_path, write_text
from selfcorrect.errors import SelfCorrectError
from selfcorrect.report import style
from selfcorrect.report.figures import accuracy_figure, transitions_figure
from selfcorrect.report.format import MISSING, pct, pct_se

_REQUIRED_METRICS = ("n_problems", "n_samples", "turns", "acc@t1")
# Metrics that are shares of attempts or problems: a value above 1 means someone wrote percent.
_RATE = re.compile(r"(acc|p\d+|m\d+)@t\d+|delta_i2c|delta_c2i|edit_rate|truncation")
# metrics.csv column order: the order of compute_metrics, turn-indexed keys by number.
_COLUMN_ORDER = [
    "n_problems",
    "n_samples",
    "turns",
    r"acc@t(\d+)",
    "delta",
    "delta_se",
    "delta_i2c",
    "delta_c2i",
    "edit_rate",
    r"p1@t(\d+)",
    r"m1@t(\d+)",
    r"m(\d+)@t1",
    "truncation",
    "mean_completion_tokens",
]

ONE_SEED = (
    "One run, one training seed: each ± below is a standard error over test problems, not over "
    "seeds. Findings that hold across seeds are in docs/evidence/evidence.md (`make evidence` "
    "runs the embedded default over five seeds; `selfcorrect evidence` any config)."
)
LEGEND = (
    "Numbers are percent. Δ(t1,t2) = Acc@t2 − Acc@t1 ± its paired standard error; "
    "Δi→c: attempts wrong at turn 1 and right at turn 2; Δc→i: right at turn 1, wrong at "
    "turn 2. p1@tT: any of the T turns correct (with oracle); m1@tT: majority over the T "
    "sequential answers (without oracle); mK@t1: majority over K parallel first attempts; "
    "edit rate: turn-2 answer differs from turn 1's; truncation: attempts cut at the token "
    "limit; n: problems × samples."
)


@dataclass(frozen=True)
class Result:
    """One metrics file: a model's numbers on one benchmark."""

    model: str
    benchmark: str
    metrics: dict
    accuracy_by_turn: list[float]
    source: Path

    @property
    def turns(self) -> int:
        return int(self.metrics["turns"])

    @property
    def samples(self) -> int:
        return int(self.metrics["n_samples"])

    def get(self, key: str) -> float | None:
        return self.metrics.get(key)


# --- loading ---------------------------------------------------------------------------------


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def append_to_summary(out_dir: str | Path, text: str) -> None:
    """Add `text` to the end of out_dir/summary.md (written by `build_report`), atomically."""
    path = Path(out_dir) / "summary.md"
    write_text(path.read_text().rstrip() + "\n\n" + text, path)


def load_result(path: str | Path) -> Result:
    """Read and check one metrics file; any problem is a SelfCorrectError naming the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SelfCorrectError(f"{path}: metrics file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SelfCorrectError(f"{path}: cannot read metrics file ({exc})") from None
    except json.JSONDecodeError as exc:
        raise SelfCorrectError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise SelfCorrectError(f"{path}: expected a JSON object")
    for key, kind in (
        ("model", str),
        ("benchmark", str),
        ("metrics", dict),
        ("accuracy_by_turn", list),
    ):
        if key not in data:
            raise SelfCorrectError(f"{path}: missing key {key!r}")
        if not isinstance(data[key], kind) or (kind is str and not data[key]):
            raise SelfCorrectError(f"{path}: {key!r} must be a non-empty {kind.__name__}")

    metrics = data["metrics"]
    for key in _REQUIRED_METRICS:
        if key not in metrics:
            raise SelfCorrectError(f"{path}: metrics is missing {key!r}")
    for key, value in metrics.items():
        if value is None:
            continue
        if not _is_number(value):
            raise SelfCorrectError(f"{path}: metric {key!r} is not a number: {value!r}")
        if _RATE.fullmatch(key) and not math.isnan(value) and not 0 <= value <= 1:
            raise SelfCorrectError(f"{path}: metric {key!r} = {value} is not a fraction in [0, 1]")
    turns = metrics["turns"]
    if not isinstance(turns, int) or isinstance(turns, bool) or turns < 1:
        raise SelfCorrectError(f"{path}: metric 'turns' must be a positive integer")

    curve = data["accuracy_by_turn"]
    if len(curve) != turns or not all(_is_number(a) and 0 <= a <= 1 for a in curve):
        raise SelfCorrectError(
            f"{path}: 'accuracy_by_turn' must be {turns} fraction(s), one per turn"
        )
    return Result(data["model"], data["benchmark"], metrics, [float(a) for a in curve], path)


def _index(results: list[Result]) -> dict[tuple[str, str], Result]:
    """(model, benchmark) -> result; two files for the same pair are an error."""
    table: dict[tuple[str, str], Result] = {}
    for r in results:
        key = (r.model, r.benchmark)
        if key in table:
            raise SelfCorrectError(
                f"{r.source}: model {r.model!r} on {r.benchmark!r} is also in {table[key].source}"
            )
        table[key] = r
    return table


def order_models(results: list[Result], models_order: list[str] | None = None) -> list[str]:
    """Models in `models_order` first (those present), then the rest in order of appearance."""
    seen = list(dict.fromkeys(r.model for r in results))
    first = [m for m in dict.fromkeys(models_order or []) if m in seen]
    return first + [m for m in seen if m not in first]


# --- summary.md ------------------------------------------------------------------------------


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _header(names: list[str]) -> list[str]:
    return [_row(names), "|" + "---|" + "---:|" * (len(names) - 1)]


def transitions_table(rows: list[Result]) -> list[str]:
    """The SCoRe paper's table: | model | Acc@t1 | Acc@t2 | Δ(t1,t2) | Δi→c | Δc→i |."""
    lines = _header(["model", "Acc@t1", "Acc@t2", "Δ(t1,t2)", "Δi→c", "Δc→i"])
    for r in rows:
        lines.append(
            _row(
                [
                    r.model,
                    pct(r.get("acc@t1")),
                    pct(r.get("acc@t2")),
                    pct_se(r.get("delta"), r.get("delta_se")),
                    pct(r.get("delta_i2c")),
                    pct(r.get("delta_c2i")),
                ]
            )
        )
    return lines


def _problems(r: Result) -> str:
    n = int(r.metrics["n_problems"])
    return str(n) if r.samples == 1 else f"{n}×{r.samples}"


def oracle_table(rows: list[Result]) -> list[str]:
    """RISE metrics and generation health: | model | p1@tT | m1@tT | mK@t1 | edit rate | … |.

    T and K go into the header when every row shares them, otherwise next to each value.
    """
    turns = {r.turns for r in rows}
    ks = {r.samples for r in rows if r.samples > 1}
    t_label = f"t{next(iter(turns))}" if len(turns) == 1 else "tT"
    k_label = f"m{next(iter(ks))}@t1" if len(ks) == 1 else "mK@t1"

    def tag(value: str, note: str, shared: bool) -> str:
        return value if shared or value == MISSING else f"{value} ({note})"

    lines = _header(
        ["model", f"p1@{t_label}", f"m1@{t_label}", k_label, "edit rate", "truncation", "n"]
    )
    for r in rows:
        t_note, k_note = f"T={r.turns}", f"K={r.samples}"
        mk = pct(r.get(f"m{r.samples}@t1")) if r.samples > 1 else MISSING
        lines.append(
            _row(
                [
                    r.model,
                    tag(pct(r.get(f"p1@t{r.turns}")), t_note, len(turns) == 1),
                    tag(pct(r.get(f"m1@t{r.turns}")), t_note, len(turns) == 1),
                    tag(mk, k_note, len(ks) <= 1),
                    pct(r.get("edit_rate")),
                    pct(r.get("truncation")),
                    _problems(r),
                ]
            )
        )
    return lines


def summary_markdown(
    table: dict[tuple[str, str], Result], models: list[str], benchmarks: list[str]
) -> str:
    parts = ["# Self-correction results", "", ONE_SEED, "", LEGEND]
    for bench in benchmarks:
        rows = [table[(m, bench)] for m in models if (m, bench) in table]
        parts += ["", f"## {bench}", "", *transitions_table(rows), "", *oracle_table(rows)]
    return "\n".join(parts) + "\n"


# --- metrics.csv -----------------------------------------------------------------------------


def _column_key(name: str) -> tuple[int, int, str]:
    for rank, pattern in enumerate(_COLUMN_ORDER):
        match = re.fullmatch(pattern, name)
        if match:
            return rank, int(match.group(1)) if match.groups() else 0, name
    return len(_COLUMN_ORDER), 0, name


def metrics_frame(
    table: dict[tuple[str, str], Result], models: list[str], benchmarks: list[str]
) -> pd.DataFrame:
    """One row per model × benchmark present, every metric any file has (blank if absent)."""
    rows = [
        {"model": m, "benchmark": b, **table[(m, b)].metrics}
        for b in benchmarks
        for m in models
        if (m, b) in table
    ]
    keys = sorted({k for row in rows for k in row} - {"model", "benchmark"}, key=_column_key)
    return pd.DataFrame(rows, columns=["model", "benchmark", *keys])


# --- entry point -----------------------------------------------------------------------------


def build_report(
    metrics_files: list[str | Path], out_dir: str | Path, models_order: list[str] | None = None
) -> dict[str, Path]:
    """Write summary.md, metrics.csv, accuracy_per_turn.png, transitions.png; return their paths.

    Models follow `models_order` (then any others in file order); benchmarks follow file order.
    """
    if not metrics_files:
        raise SelfCorrectError("report: no metrics files given")
    results = [load_result(p) for p in metrics_files]
    table = _index(results)
    models = order_models(results, models_order)
    benchmarks = list(dict.fromkeys(r.benchmark for r in results))

    out = Path(out_dir)
    paths = {
        name: out / name
        for name in ("summary.md", "metrics.csv", "accuracy_per_turn.png", "transitions.png")
    }
    write_text(summary_markdown(table, models, benchmarks), paths["summary.md"])
    with atomic_path(paths["metrics.csv"]) as tmp:
        metrics_frame(table, models, benchmarks).to_csv(tmp, index=False)
    style.save(accuracy_figure(table, models, benchmarks), paths["accuracy_per_turn.png"])
    style.save(transitions_figure(table, models, benchmarks), paths["transitions.png"])
    return paths
