"""The RISE table (one row per model: base, rise_1, …) and accuracy per sequential turn."""

from __future__ import annotations

from pathlib import Path

from matplotlib.ticker import MaxNLocator

from selfcorrect.report import style
from selfcorrect.report.build import append_to_summary, load_result
from selfcorrect.report.format import pct


def rise_table(results) -> list[str]:
    first = results[0].metrics
    t, k = first["turns"], first["parallel_samples"]
    columns = ["m1@t1", f"m1@t{t}", f"p1@t{t}", f"m{k}@t1"]
    lines = [
        "| model | " + " | ".join(columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    for r in results:
        lines.append(f"| {r.model} | " + " | ".join(pct(r.metrics.get(c)) for c in columns) + " |")
    return lines


def rise_section(results, benchmark: str) -> str:
    t = results[0].metrics["turns"]
    return "\n".join(
        [
            f"## RISE on {benchmark}",
            "",
            (
                f"Sequential: {t} greedy turns with the fixed feedback between them, continuing after "
                f"a correct answer. m1@t1: the first turn; m1@t{t}: majority over the {t} answers "
                f"(without oracle); p1@t{t}: any turn correct (with oracle); "
                f"m{results[0].metrics['parallel_samples']}@t1: majority over parallel first "
                "attempts (sampled)."
            ),
            "",
            *rise_table(results),
            "",
        ]
    )


def rise_figure(by_benchmark: dict, models: list[str] | None = None):
    """Accuracy per sequential turn ± 1 SE, a panel per benchmark. Colours come from the report's
    model order (`models`) followed by the RISE models, so the base model looks the same in
    every figure."""
    names = list(
        dict.fromkeys([*(models or []), *(r.model for rs in by_benchmark.values() for r in rs)])
    )
    colors, markers = style.colors(names), style.markers(names)
    fig, axes = style.panels(len(by_benchmark))
    shown = []
    for ax, (bench, results) in zip(axes, by_benchmark.items()):
        for r in results:
            turns = range(1, len(r.accuracy_by_turn) + 1)
            n = int(r.metrics["n_problems"]) * r.samples
            ax.errorbar(
                turns,
                [100 * a for a in r.accuracy_by_turn],
                capsize=3,
                ms=5,
                yerr=[100 * style.binomial_se(a, n) for a in r.accuracy_by_turn],
                marker=markers[r.model],
                color=colors[r.model],
            )
            shown.append(r.model)
        style.percent_axis(ax)
        ax.set(title=f"RISE: accuracy per turn ({bench})", xlabel="turn", ylabel="accuracy (%)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    style.model_legend(fig, list(dict.fromkeys(shown)), title="error bars: ±1 SE", fontsize=8)
    return fig


def append_rise(
    rise_files: list[str | Path], out_dir: str | Path, models: list[str] | None = None
) -> None:
    """Add the RISE tables to summary.md and write rise_accuracy_per_turn.png."""
    out = Path(out_dir)
    by_benchmark: dict[str, list] = {}
    for path in rise_files:
        result = load_result(path)
        by_benchmark.setdefault(result.benchmark, []).append(result)
    sections = [rise_section(results, bench) for bench, results in by_benchmark.items()]
    append_to_summary(out, "\n".join(sections))
    style.save(rise_figure(by_benchmark, models), out / "rise_accuracy_per_turn.png")
