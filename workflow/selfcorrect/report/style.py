"""The report's figure style: colours by method family, panels, one shared legend, error bars.

Related arms keep one hue family so a reader groups them at a glance: the base model and the
prompting baseline in greys, the SFT baselines (STaR, Pair-SFT) in blues, SCoRe and its
ablations in reds to oranges, RISE in greens. Within a family each model gets its own shade and marker.
Models of no known family get distinct categorical colours.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from selfcorrect.artifacts import atomic_path

# family -> (name pattern, sequential colormap); the model names are the DAG's (rules/common.smk)
FAMILIES = {
    "reference": (r"base|self_refine", "Greys"),
    "sft": (r"star_\d+|pair_sft\w*", "Blues"),
    "score": (r"score\w*", "YlOrRd"),
    "rise": (r"rise_\d+", "Greens"),
}
FAMILY_LABELS = {
    "reference": "base and prompting",
    "sft": "SFT baselines",
    "score": "SCoRe",
    "rise": "RISE",
    "other": "other",
}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "<", ">", "*"]


def family(model: str) -> str:
    """The method family of a model name: reference, sft, score, rise or other."""
    for name, (pattern, _) in FAMILIES.items():
        if re.fullmatch(pattern, model):
            return name
    return "other"


def _shades(n: int) -> list[float]:
    """Colormap positions for n members of one family: dark to light, never near white."""
    return [0.8] if n == 1 else list(np.linspace(0.95, 0.4, n))


def colors(models: list[str]) -> dict[str, tuple]:
    """One colour per model, the same in every panel and figure: a shade of its family's hue, in
    the order the models are given (the first is the darkest)."""
    members: dict[str, list[str]] = {}
    for m in dict.fromkeys(models):
        members.setdefault(family(m), []).append(m)
    out: dict[str, tuple] = {}
    for fam, names in members.items():
        if fam == "other":
            cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
            out.update({m: cmap(i % cmap.N) for i, m in enumerate(names)})
            continue
        cmap = matplotlib.colormaps[FAMILIES[fam][1]]
        out.update({m: cmap(x) for m, x in zip(names, _shades(len(names)))})
    return {m: out[m] for m in dict.fromkeys(models)}


def markers(models: list[str]) -> dict[str, str]:
    """A marker per model, distinct within its family (shades alone are hard to tell apart)."""
    seen: dict[str, int] = {}
    out = {}
    for m in dict.fromkeys(models):
        i = seen.get(family(m), 0)
        seen[family(m)] = i + 1
        out[m] = MARKERS[i % len(MARKERS)]
    return out


def binomial_se(p: float, n: int) -> float:
    """Standard error of a share p of n independent attempts: sqrt(p(1 − p) / n); NaN if n < 2.

    Samples of one problem are treated as independent, as the tables' paired SE of Δ does.
    """
    if n < 2 or p is None or math.isnan(p):
        return math.nan
    return math.sqrt(p * (1 - p) / n)


def percent_axis(ax, min_span: float = 5.0) -> None:
    """Keep a percent y axis inside [0, 100] and at least `min_span` points tall (autoscaling a
    flat line at 0 would otherwise show negative accuracies)."""
    low, high = ax.get_ylim()
    low, high = max(low, 0.0), min(high, 100.0)
    if high - low < min_span:
        high = min(100.0, low + min_span)
        low = max(0.0, high - min_span)
    ax.set_ylim(low, high)


def panels(
    n: int, ncols: int = 3, width: float = 4.6, height: float = 3.6, **kw
) -> tuple[Figure, list]:
    """A figure with n panels, at most `ncols` per row; spare panels hidden."""
    ncols = max(1, min(n, ncols))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(width * ncols + 1.8, height * nrows), layout="constrained")
    FigureCanvasAgg(fig)  # render with Agg whatever the process-wide backend is
    axes = list(fig.subplots(nrows, ncols, squeeze=False, **kw).flat)
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


def save(fig: Figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


def model_handles(models: list[str]) -> list[Line2D]:
    c, mk = colors(models), markers(models)
    return [Line2D([], [], color=c[m], marker=mk[m], label=m) for m in dict.fromkeys(models)]


def model_legend(fig: Figure, models: list[str], extra: list | None = None, **kw) -> None:
    """One legend for the whole figure, outside the axes: `extra` entries, then a model each."""
    fig.legend(handles=(extra or []) + model_handles(models), loc="outside right upper", **kw)


def color_ticklabels(labels, models: list[str]) -> None:
    """Colour model-name tick labels by family (the darkest shade of the family)."""
    c = colors(models)
    for label in labels:
        if label.get_text() in c:
            label.set_color(dark(c[label.get_text()]))


def dark(rgba: tuple) -> tuple:
    """A colour dark enough to read as text: the shade scaled towards black."""
    r, g, b, a = rgba
    scale = min(1.0, 0.45 / max(r, g, b, 1e-9))
    return (r * scale, g * scale, b * scale, a)
