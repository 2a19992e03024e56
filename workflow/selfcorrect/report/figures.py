"""The report's two main figures (report/build.py writes them): accuracy per attempt, and the
answers that flip between attempts 1 and 2 with the net Δ(t1,t2). Each takes the report's
table, {(model, benchmark): Result}, and returns a Figure for `style.save`.
"""

from __future__ import annotations

import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from selfcorrect.report import style


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
