"""Inference-time scaling (docs/methods.md): majority over B parallel first attempts versus B/2
attempts each corrected once, per model — a table in summary.md and scaling.png."""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.lines import Line2D

from selfcorrect.errors import SelfCorrectError
from selfcorrect.report import style
from selfcorrect.report.build import append_to_summary
from selfcorrect.report.format import pct

# each curve's line: parallel sampling dashed with hollow markers, sequential correction solid
LINES = {
    "parallel": {"linestyle": "--", "mfc": "white", "alpha": 0.8},
    "sequential": {"linestyle": "-"},
}


def load_curves(files: list[str | Path]) -> dict[str, dict[str, list[dict]]]:
    """{benchmark: {model: [{budget, parallel, sequential, problems}, …]}} from `selfcorrect
    scaling` files (`problems` is absent from files written before curves recorded it)."""
    out: dict[str, dict[str, list[dict]]] = {}
    for path in files:
        try:
            data = json.loads(Path(path).read_text())
            out.setdefault(data["benchmark"], {})[data["model"]] = data["curve"]
        except (OSError, ValueError, KeyError) as exc:
            raise SelfCorrectError(f"{path}: not a scaling file ({exc})") from None
    return out


def _names(curves: dict, models: list[str]) -> list[str]:
    """Models in report order, then any others in file order."""
    return [m for m in models if m in curves] + [m for m in curves if m not in models]


def scaling_table(curves: dict[str, list[dict]], models: list[str]) -> list[str]:
    budgets = [p["budget"] for p in next(iter(curves.values()))]
    lines = [
        "| model | " + " | ".join(f"B={b}" for b in budgets) + " |",
        "|---|" + "---:|" * len(budgets),
    ]
    for m in _names(curves, models):
        cells = [f"{pct(p['parallel'])} / {pct(p['sequential'])}" for p in curves[m]]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def scaling_section(curves: dict[str, list[dict]], models: list[str], benchmark: str) -> str:
    return "\n".join(
        [
            f"## Inference-time scaling on {benchmark}",
            "",
            (
                "Each cell: majority vote over B parallel first attempts / over the corrections of B/2 "
                "parallel attempts, each corrected once (the same budget of B samples; sampled)."
            ),
            "",
            *scaling_table(curves, models),
            "",
        ]
    )


def _se(point: dict, key: str) -> float:
    """The standard error of one point's accuracy over its problems; NaN (no bar) in a file
    written before curves recorded their problem count."""
    return style.binomial_se(point[key], point.get("problems", 0))


def scaling_figure(by_benchmark: dict[str, dict[str, list[dict]]], models: list[str]):
    """Small multiples: one panel per model (and benchmark), B parallel first attempts against
    B/2 attempts each corrected once, at equal sample budgets B; one y scale for all panels;
    error bars of ±1 standard error over the problems."""
    pairs = [(bench, m) for bench, curves in by_benchmark.items() for m in _names(curves, models)]
    names = list(dict.fromkeys(m for _, m in pairs))
    colors, markers = style.colors(names), style.markers(names)
    fig, axes = style.panels(len(pairs), ncols=4, width=2.9, height=2.4, sharex=True, sharey=True)
    budgets = sorted(
        {
            p["budget"]
            for curves in by_benchmark.values()
            for points in curves.values()
            for p in points
        }
    )
    for ax, (bench, m) in zip(axes, pairs):
        points = by_benchmark[bench][m]
        b = [p["budget"] for p in points]
        for key, line in LINES.items():
            ax.errorbar(
                b,
                [100 * p[key] for p in points],
                yerr=[100 * _se(p, key) for p in points],
                marker=markers[m],
                ms=4,
                color=colors[m],
                capsize=2,
                elinewidth=0.8,
                **line,
            )
        ax.set_title(
            m if len(by_benchmark) == 1 else f"{m} ({bench})",
            fontsize=9,
            color=style.dark(colors[m]),
        )
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [str(x) for x in budgets])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    style.percent_axis(axes[0])  # one y scale: the panels share it
    for ax in axes:
        if ax.get_subplotspec().is_last_row() or not _below(ax, axes):
            ax.set_xlabel("samples B")
            ax.tick_params(labelbottom=True)
        if ax.get_subplotspec().is_first_col():
            ax.set_ylabel("% correct (majority)")
    bench = next(iter(by_benchmark)) if len(by_benchmark) == 1 else "all benchmarks"
    fig.suptitle(
        f"Inference-time scaling ({bench}): sequential self-correction against "
        "parallel sampling at equal budget",
        fontsize=10,
    )
    fig.legend(
        handles=[
            Line2D(
                [], [], color="black", ls="-", marker="o", label="B/2 attempts + 1 correction each"
            ),
            Line2D(
                [], [], color="black", ls="--", marker="o", mfc="white", label="B parallel attempts"
            ),
        ],
        loc="outside lower center",
        ncols=2,
        fontsize=8,
    )
    return fig


def _below(ax, axes) -> bool:
    """Whether a visible panel sits directly below `ax` (else ax shows its own x labels)."""
    spec = ax.get_subplotspec()
    return any(
        o.get_subplotspec().rowspan.start == spec.rowspan.stop
        and o.get_subplotspec().colspan.start == spec.colspan.start
        for o in axes
    )


def append_scaling(files: list[str | Path], out_dir: str | Path, models: list[str]) -> None:
    """Add the scaling tables to summary.md and write scaling.png."""
    out = Path(out_dir)
    by_benchmark = load_curves(files)
    sections = [scaling_section(c, models, b) for b, c in by_benchmark.items()]
    append_to_summary(out, "\n".join(sections))
    style.save(scaling_figure(by_benchmark, models), out / "scaling.png")
