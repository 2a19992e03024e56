"""Inference-time scaling (docs/methods.md): majority over B parallel first attempts versus B/2
attempts each corrected once, per model — a table in summary.md and scaling.png."""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.lines import Line2D

from selfcorrect.artifacts import write_text
from selfcorrect.errors import SelfCorrectError
from selfcorrect.report.build import _colors, _model_legend, _panels, _save
from selfcorrect.report.format import pct


def load_curves(files: list[str | Path]) -> dict[str, dict[str, list[dict]]]:
    """{benchmark: {model: [{budget, parallel, sequential}, …]}} from `selfcorrect scaling` files."""
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
    lines = ["| model | " + " | ".join(f"B={b}" for b in budgets) + " |",
             "|---|" + "---:|" * len(budgets)]
    for m in _names(curves, models):
        cells = [f"{pct(p['parallel'])} / {pct(p['sequential'])}" for p in curves[m]]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return lines


def scaling_section(curves: dict[str, list[dict]], models: list[str], benchmark: str) -> str:
    return "\n".join([
        f"## Inference-time scaling on {benchmark}",
        "",
        "Each cell: majority vote over B parallel first attempts / over the corrections of B/2 "
        "parallel attempts, each corrected once (the same budget of B samples; sampled).",
        "",
        *scaling_table(curves, models),
        "",
    ])


def scaling_figure(by_benchmark: dict[str, dict[str, list[dict]]], models: list[str]):
    fig, axes = _panels(len(by_benchmark))
    names = [m for curves in by_benchmark.values() for m in _names(curves, models)]
    colors = _colors(list(dict.fromkeys(names)))  # one colour per model across benchmarks
    for ax, (bench, curves) in zip(axes, by_benchmark.items()):
        for m in _names(curves, models):
            b = [p["budget"] for p in curves[m]]
            ax.plot(b, [100 * p["parallel"] for p in curves[m]], "o--", color=colors[m], alpha=0.6)
            ax.plot(b, [100 * p["sequential"] for p in curves[m]], "o-", color=colors[m])
        budgets = sorted({p["budget"] for points in curves.values() for p in points})
        ax.set_xscale("log", base=2)
        ax.set_xticks(budgets, [str(b) for b in budgets])
        ax.set(title=f"Inference-time scaling ({bench})", xlabel="samples B", ylabel="% correct")
        ax.grid(alpha=0.3)
    styles = [Line2D([], [], color="black", ls="-", label="B/2 attempts + 1 correction each"),
              Line2D([], [], color="black", ls="--", alpha=0.6, label="B parallel attempts")]
    _model_legend(fig, colors, styles, fontsize=8)
    return fig


def append_scaling(files: list[str | Path], out_dir: str | Path, models: list[str]) -> None:
    """Add the scaling tables to summary.md and write scaling.png."""
    out = Path(out_dir)
    by_benchmark = load_curves(files)
    summary = (out / "summary.md").read_text()
    sections = [scaling_section(c, models, b) for b, c in by_benchmark.items()]
    write_text(summary.rstrip() + "\n\n" + "\n".join(sections), out / "summary.md")
    _save(scaling_figure(by_benchmark, models), out / "scaling.png")
