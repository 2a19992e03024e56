"""The RISE table (one row per model: base, rise_1, …) and accuracy per sequential turn."""

from __future__ import annotations

from pathlib import Path

from selfcorrect.artifacts import write_text
from selfcorrect.report.build import _colors, _panels, _save, load_result
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
            f"Sequential: {t} greedy turns with the fixed feedback between them, continuing after "
            f"a correct answer. m1@t1: the first turn; m1@t{t}: majority over the {t} answers "
            f"(without oracle); p1@t{t}: any turn correct (with oracle); "
            f"m{results[0].metrics['parallel_samples']}@t1: majority over parallel first "
            "attempts (sampled).",
            "",
            *rise_table(results),
            "",
        ]
    )


def rise_figure(by_benchmark: dict):
    fig, axes = _panels(len(by_benchmark))
    for ax, (bench, results) in zip(axes, by_benchmark.items()):
        colors = _colors([r.model for r in results])
        for r in results:
            turns = range(1, len(r.accuracy_by_turn) + 1)
            ax.plot(turns, [100 * a for a in r.accuracy_by_turn], "o-", color=colors[r.model],
                    label=r.model)
        ax.set(title=f"RISE: accuracy per turn ({bench})", xlabel="turn", ylabel="%")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def append_rise(rise_files: list[str | Path], out_dir: str | Path) -> None:
    """Add the RISE tables to summary.md and write rise_accuracy_per_turn.png."""
    out = Path(out_dir)
    by_benchmark: dict[str, list] = {}
    for path in rise_files:
        result = load_result(path)
        by_benchmark.setdefault(result.benchmark, []).append(result)
    summary = (out / "summary.md").read_text()
    sections = [rise_section(results, bench) for bench, results in by_benchmark.items()]
    write_text(summary.rstrip() + "\n\n" + "\n".join(sections), out / "summary.md")
    _save(rise_figure(by_benchmark), out / "rise_accuracy_per_turn.png")
