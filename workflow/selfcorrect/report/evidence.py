"""The evidence report: one config run over several seeds, written as seed means ± standard
errors, SCoRe's Δ against every arm paired by seed, the papers' findings with a verdict each,
training health, and two figures (the statistics: report/seed_stats.py).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from selfcorrect.report.format import MISSING, pct, pct_se, signed_pct
from selfcorrect.report.seed_stats import (
    FINDINGS,
    Stat,
    arms,
    difference,
    health,
    measure,
    read_curves,
    read_metrics,
    seed_dirs,
    seed_of,
    stat,
    values,
    verdict,
)
from selfcorrect.report.training import HEALTH_LEGEND


def _table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(align) + "|",
        *["| " + " | ".join(r) + " |" for r in rows],
    ]


def _level(s: Stat) -> str:
    """An accuracy (unsigned) ± SE."""
    return MISSING if not s.values else (pct(s.mean) if s.n < 2 else f"{pct(s.mean)} ± {pct(s.se)}")


def tables(metrics: pd.DataFrame, curves: pd.DataFrame) -> list[str]:
    models = arms(metrics)
    score_rows = []
    for m in models:
        delta = stat(metrics, m, "delta")
        per_seed = ", ".join(signed_pct(v) for v in delta.values)
        score_rows.append(
            [
                m,
                _level(stat(metrics, m, "acc@t1")),
                _level(stat(metrics, m, "acc@t2")),
                pct_se(delta.mean, delta.se),
                _level(stat(metrics, m, "delta_i2c")),
                _level(stat(metrics, m, "delta_c2i")),
                per_seed,
            ]
        )
    out = [
        "## Self-correction, mean ± SE over seeds",
        "",
        *_table(
            ["model", "Acc@t1", "Acc@t2", "Δ(t1,t2)", "Δi→c", "Δc→i", "Δ of each seed"],
            score_rows,
            ["---", "---:", "---:", "---:", "---:", "---:", "---"],
        ),
        "",
    ]
    if "score" in models:
        diff_rows = [
            [m, difference(metrics, ("score", "delta"), (m, "delta")).text()]
            for m in models
            if m != "score"
        ]
        out += [
            "## SCoRe's Δ minus each arm's (paired by seed), mean ± SE [95% interval]",
            "",
            *_table(["arm", "Δ(score) − Δ(arm)"], diff_rows, ["---", "---:"]),
            "",
        ]
    rise = [m for m in dict.fromkeys(metrics["model"]) if m.startswith("rise:")]
    if rise:
        cols = [
            c
            for c in metrics.columns
            if c.startswith(("m1@t", "p1@t"))
            and metrics.loc[metrics["model"].isin(rise), c].notna().any()
        ]
        rise_rows = [
            [m.removeprefix("rise:"), *[_level(stat(metrics, m, c)) for c in cols]] for m in rise
        ]
        out += [
            "## RISE, sequential turns, mean ± SE over seeds",
            "",
            *_table(["model", *cols], rise_rows, ["---"] + ["---:"] * len(cols)),
            "",
        ]
    found = [
        [
            f.claim,
            f.paper,
            m.text(),
            f"{sum(v * f.sign > 0 for v in m.values)}/{m.n}",
            verdict(m, f.sign),
        ]
        for f in FINDINGS
        if values(metrics, f.a).size
        for m in [measure(metrics, f)]
    ]
    out += [
        "## Findings",
        "",
        (
            "Each claim holds (reproduced) when its quantity's 95% interval over seeds lies on "
            "the paper's side of 0, fails (not reproduced) when it lies on the other side, and "
            "is inconclusive when it holds 0. Seeds: how many seeds, one by one, fall on the "
            "paper's side."
        ),
        "",
        *_table(
            ["claim", "paper", "here: mean ± SE [95%]", "seeds", "verdict"],
            found,
            ["---", "---", "---:", "---:", "---"],
        ),
        "",
    ]
    h = health(curves, metrics, models)
    health_rows = [
        [
            r["model"],
            str(r["seeds"]),
            _num(r.get("max_kl")),
            pct(r.get("train_truncation")),
            pct(r["eval_truncation"]),
            pct(r["edit_rate"]),
            MISSING if pd.isna(r.get("diverged")) else f"{int(r['diverged'])}/{r['seeds']}",
        ]
        for r in h.to_dict("records")
    ]
    out += [
        "## Training health",
        "",
        HEALTH_LEGEND + " Counted over seeds: the max KL of any "
        "seed, the mean truncation, and how many seeds diverged; evaluation truncation and "
        "edit rate are the greedy test attempts'.",
        "",
        *_table(
            ["arm", "seeds", "max KL", "train trunc.", "eval trunc.", "edit rate", "diverged"],
            health_rows,
            ["---", "---:", "---:", "---:", "---:", "---:", "---:"],
        ),
        "",
    ]
    return out


def _num(value) -> str:
    return MISSING if value is None or pd.isna(value) else f"{value:.1f}"


def delta_figure(metrics: pd.DataFrame):
    """Δ(t1,t2) per arm: the mean over seeds ± 1 SE, every seed as a dot."""
    from selfcorrect.report import style

    models = arms(metrics)
    fig, (ax,) = style.panels(1, width=7.0, height=0.45 * len(models) + 1.2)
    colors = style.colors(models)
    for y, m in enumerate(models):
        s = stat(metrics, m, "delta")
        ax.barh(
            y,
            100 * s.mean,
            xerr=100 * s.se if s.n > 1 else None,
            color=colors[m],
            capsize=3,
            height=0.6,
        )
        ax.plot([100 * v for v in s.values], [y] * s.n, "k.", ms=4)
    ax.axvline(0, color="0.3", lw=0.8)
    ax.set_yticks(range(len(models)), models)
    ax.invert_yaxis()
    style.color_ticklabels(ax.get_yticklabels(), models)
    ax.set_xlabel("Δ(t1,t2), percent (bar: mean ± SE over seeds; dots: seeds)")
    return fig


def curves_figure(curves: pd.DataFrame):
    """Each RL arm's training curves, every seed: attempt-2 reward (top) and KL (bottom)."""
    from selfcorrect.report import style

    arms = list(dict.fromkeys(curves["model"]))
    fig = style.panels(2 * len(arms), ncols=len(arms), width=3.2, height=2.6)[0]
    axes = fig.axes
    for i, arm in enumerate(arms):
        log = curves[curves["model"] == arm]
        top, bottom = axes[i], axes[len(arms) + i]
        for seed, part in log.groupby("seed"):
            part = part.sort_values("step")
            reward = (
                part["reward_t2"]
                if "reward_t2" in part and part["reward_t2"].notna().any()
                else part["reward_t1"]
            )
            top.plot(part["step"], 100 * reward, lw=1, label=f"seed {seed}")
            for col, ls in (("kl_t1", ":"), ("kl_t2", "-")):
                if col in part:
                    bottom.plot(part["step"], part[col], ls, lw=1, color=f"C{seed % 10}")
        top.set_title(arm, fontsize=9)
        top.set_ylabel("training reward, last attempt (%)", fontsize=8)
        bottom.set_ylabel("KL to reference (nats; -: t2, ··: t1)", fontsize=8)
        bottom.set_xlabel("step")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right upper")
    return fig


def write(root: Path, out_dir: Path, benchmark: str, header: list[str]) -> Path:
    """The evidence report of every seed under `root`: evidence.md, metrics.csv, curves.csv,
    delta.png and curves.png in `out_dir`, each written whole or not at all."""
    from selfcorrect.artifacts import write_text
    from selfcorrect.report import style

    dirs = seed_dirs(root)
    metrics, curves = read_metrics(dirs, benchmark), read_curves(dirs)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(metrics.to_csv(index=False), out_dir / "metrics.csv")
    keep = [
        c
        for c in (
            "seed",
            "model",
            "step",
            "method",
            "reward_t1",
            "reward_t2",
            "kl_t1",
            "kl_t2",
            "truncation_t1",
            "truncation_t2",
            "edit_rate",
            "grad_norm",
        )
        if c in curves
    ]
    if len(curves):
        write_text(curves[keep].to_csv(index=False, float_format="%.4g"), out_dir / "curves.csv")
        style.save(curves_figure(curves), out_dir / "curves.png")
    style.save(delta_figure(metrics), out_dir / "delta.png")
    seeds = ", ".join(str(seed_of(d)) for d in dirs)
    text = [
        *header,
        "",
        f"Seeds: {seeds} ({len(dirs)}). Benchmark: {benchmark}. Percent throughout.",
        "",
        "![Δ per arm](delta.png)",
        "",
        *tables(metrics, curves),
    ]
    if len(curves):
        text += ["## Training curves, every seed", "", "![curves](curves.png)", ""]
    write_text("\n".join(text), out_dir / "evidence.md")
    return out_dir / "evidence.md"
