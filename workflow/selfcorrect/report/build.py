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
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from selfcorrect.artifacts import atomic_path, write_text
from selfcorrect.errors import SelfCorrectError
from selfcorrect.report import style
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
    "runs the embedded default over six seeds; `selfcorrect evidence` any config)."
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


# --- figures ---------------------------------------------------------------------------------


def accuracy_figure(table, models: list[str], benchmarks: list[str]) -> Figure:
    """Accuracy per attempt, one panel per benchmark, ±1 standard error (n = problems × samples)."""
    fig, axes = style.panels(len(benchmarks))
    colors, markers = style.colors(models), style.markers(models)
    for ax, bench in zip(axes, benchmarks):
        for m in models:
            if (m, bench) in table:
                r = table[(m, bench)]
                n = int(r.metrics["n_problems"]) * r.samples
                curve = r.accuracy_by_turn
                se = [100 * style.binomial_se(a, n) for a in curve]
                ax.errorbar(
                    range(1, len(curve) + 1),
                    [100 * a for a in curve],
                    yerr=se,
                    marker=markers[m],
                    color=colors[m],
                    capsize=3,
                    ms=5,
                )
        style.percent_axis(ax)
        ax.set_title(bench)
        ax.set_xlabel("attempt (turn)")
        ax.set_ylabel("accuracy (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    style.model_legend(fig, models, title="error bars: ±1 SE", fontsize=8)
    return fig


def _bar_labels(ax, bars, values: list[float], side: int) -> None:
    """Each bar's value just past its end (`side` +1: right, −1: left); none for a 0.0 bar."""
    for bar, v in zip(bars, values):
        if abs(v) >= 0.05:
            y = bar.get_y() + bar.get_height() / 2
            ax.annotate(
                f"{abs(v):.1f}",
                (side * abs(v), y),
                xytext=(3 * side, 0),
                textcoords="offset points",
                va="center",
                ha="left" if side > 0 else "right",
                fontsize=7,
            )


def transitions_figure(table, models: list[str], benchmarks: list[str]) -> Figure:
    """Per benchmark, two panels sharing the model axis: the attempts that flip (Δi→c to the
    right, Δc→i to the left, in % of attempts) and the net Δ(t1,t2) ± its paired SE."""
    fig = Figure(
        figsize=(11, 0.9 + 0.32 * max(3, len(models)) * len(benchmarks) + 0.6), layout="constrained"
    )
    FigureCanvasAgg(fig)
    grid = fig.subplots(len(benchmarks), 2, squeeze=False, width_ratios=[1.6, 1])
    for (flips, net), bench in zip(grid, benchmarks):
        rows = [
            table[(m, bench)]
            for m in models
            if (m, bench) in table and table[(m, bench)].turns >= 2
        ]
        flips.set_title(f"{bench}: answers that change between attempts 1 and 2", fontsize=10)
        net.set_title(f"{bench}: Δ(t1,t2) = Acc@t2 − Acc@t1", fontsize=10)
        if not rows:
            for ax in (flips, net):
                ax.text(
                    0.5,
                    0.5,
                    "no multi-turn results",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                )
                ax.set_xticks([])
                ax.set_yticks([])
            continue
        y = list(range(len(rows)))
        i2c = [100 * (r.get("delta_i2c") or 0.0) for r in rows]
        c2i = [100 * (r.get("delta_c2i") or 0.0) for r in rows]
        right = flips.barh(y, i2c, 0.7, color="tab:green")
        left = flips.barh(y, [-v for v in c2i], 0.7, color="tab:red")
        _bar_labels(flips, right, i2c, +1)
        _bar_labels(flips, left, c2i, -1)
        names = [r.model for r in rows]
        for ax in (flips, net):
            ax.set_yticks(y, names)
            ax.set_ylim(len(rows) - 0.5, -0.5)  # first model on top, as in the tables
            ax.axvline(0, color="black", lw=0.8)
            ax.grid(axis="x", alpha=0.3)
            style.color_ticklabels(ax.get_yticklabels(), models)
        extent = max(i2c + c2i + [1.0])
        flips.set_xlim(-1.25 * max(c2i + [1.0]) - 0.08 * extent, 1.2 * extent)
        flips.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):g}"))
        flips.set_xlabel("% of attempts (Δc→i left, Δi→c right)")

        colors = style.colors(models)
        for i, r in enumerate(rows):
            d, se = r.get("delta"), r.get("delta_se")
            if d is None or math.isnan(d):
                continue
            err = None if se is None or math.isnan(se) else [[100 * se], [100 * se]]
            net.errorbar([100 * d], [i], xerr=err, fmt="D", color=colors[r.model], capsize=3, ms=5)
        net.tick_params(labelleft=False)
        net.set_xlabel("percentage points (± 1 paired SE)")
    fig.legend(
        handles=[
            Patch(color="tab:green", label="Δi→c (wrong → right)"),
            Patch(color="tab:red", label="Δc→i (right → wrong)"),
            Line2D([], [], color="black", marker="D", label="Δ(t1,t2) ± SE"),
        ],
        loc="outside lower center",
        ncols=3,
        fontsize=8,
    )
    return fig


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
