"""Training curves: the base model's pre-training and every RL run's per-step telemetry.

Collapse must be visible: the edit rate between attempts falling to zero while reward still
rises is the paper's "never edit" failure mode, so it gets its own panel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from selfcorrect.errors import SelfCorrectError
from selfcorrect.report import style
from selfcorrect.report.build import append_to_summary
from selfcorrect.report.format import pct

# A training run diverged when the KL of an attempt to the reference, averaged over its last
# KL_WINDOW steps, is above KL_BOUND nats and still rising (above the KL_WINDOW steps before),
# or when its loss or KL is not finite. 10 nats over a ~25-token answer is 0.4 nats a token.
KL_BOUND = 10.0
KL_WINDOW = 5
HEALTH_LEGEND = (
    f"Max KL: the largest per-attempt KL to the reference (nats) of any step. Diverged: the KL, "
    f"averaged over the last {KL_WINDOW} steps, ended above {KL_BOUND:g} nats and still rising, "
    "or became non-finite. Training truncation: the share of sampled attempts cut at the token "
    "limit, over every step and attempt (percent)."
)

# (title, y-axis label, [(telemetry column, line style)]): dashed is attempt 1, solid attempt 2
PANELS = [
    ("reward per attempt", "mean reward", [("reward_t1", "--"), ("reward_t2", "-")]),
    ("KL to the base model", "nats per attempt", [("kl_t1", "--"), ("kl_t2", "-")]),
    ("edit rate (answer 2 ≠ answer 1)", "share of samples", [("edit_rate", "-")]),
    (
        "Δi→c (solid) and Δc→i (dashed) on the batch",
        "share of samples",
        [("delta_i2c", "-"), ("delta_c2i", "--")],
    ),
    (
        "truncation at max_new_tokens",
        "share of attempts",
        [("truncation_t1", "--"), ("truncation_t2", "-")],
    ),
    ("throughput", "tokens per second", [("tokens_per_s", "-")]),
]


def read_logs(train_logs: dict[str, str | Path]) -> dict[str, pd.DataFrame]:
    logs = {}
    for model, path in train_logs.items():
        try:
            logs[model] = pd.read_parquet(path)
        except (OSError, ValueError) as exc:
            raise SelfCorrectError(f"{path}: cannot read training log ({exc})") from None
    return logs


def _kl_columns(log: pd.DataFrame) -> pd.DataFrame:
    """The run's per-attempt KL columns, by step. A column the run never logged (single-turn RL
    has no attempt 2) is left out: it is empty where the logs of several runs were stacked."""
    kls = [c for c in ("kl_t1", "kl_t2") if c in log and log[c].notna().any()]
    return log.sort_values("step")[kls]


def diverged(log: pd.DataFrame) -> bool:
    """One run's verdict (KL_BOUND, KL_WINDOW): its KL ended high and still rising, or broke."""
    kls = _kl_columns(log)
    if not np.isfinite(kls.to_numpy()).all() or not np.isfinite(log["loss"]).all():
        return True
    kl = kls.max(axis=1)
    last, before = kl.iloc[-KL_WINDOW:].mean(), kl.iloc[-2 * KL_WINDOW : -KL_WINDOW].mean()
    return bool(last > KL_BOUND and last > before)


def run_health(log: pd.DataFrame) -> dict:
    """One RL run's health: its largest KL, its training truncation, whether it diverged."""
    trunc = log[[c for c in ("truncation_t1", "truncation_t2") if c in log]]
    return {
        "max_kl": float(_kl_columns(log).max(axis=1).max()),
        "train_truncation": float(trunc.mean().mean()),
        "diverged": diverged(log),
    }


def health_section(logs: dict[str, pd.DataFrame]) -> str:
    """summary.md's training-health table: one row per RL run."""
    rows = [
        f"| {m} | {h['max_kl']:.1f} | {pct(h['train_truncation'])} | "
        f"{'yes' if h['diverged'] else 'no'} |"
        for m, h in ((m, run_health(log)) for m, log in logs.items() if "kl_t1" in log)
    ]
    if not rows:
        return ""
    return "\n".join(
        [
            "## Training health",
            "",
            HEALTH_LEGEND,
            "",
            "| run | max KL | training truncation | diverged |",
            "|---|---:|---:|---|",
            *rows,
            "",
        ]
    )


def smooth(series: pd.Series) -> pd.Series:
    return series.rolling(5, min_periods=1).mean()


def training_figure(logs: dict[str, pd.DataFrame]) -> Figure:
    """Six panels of per-step telemetry, every model in each, one legend for the figure."""
    fig, axes = style.panels(len(PANELS))
    colors, markers = style.colors(list(logs)), style.markers(list(logs))
    for ax, (title, ylabel, columns) in zip(axes, PANELS):
        for model, log in logs.items():
            for column, ls in columns:
                if column in log:  # a marker every ~10 steps tells shades of one family apart
                    ax.plot(
                        log["step"],
                        smooth(log[column]),
                        ls,
                        color=colors[model],
                        lw=1.3,
                        marker=markers[model],
                        ms=4,
                        markevery=max(1, len(log) // 8),
                    )
        ax.set_title(title, fontsize=10)
        ax.set(xlabel="training step", ylabel=ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if not logs:
        axes[0].text(
            0.5, 0.5, "no RL-trained model in this run", ha="center", transform=axes[0].transAxes
        )
    styles = [
        Line2D([], [], color="black", ls="--", label="attempt 1 (Δc→i)"),
        Line2D([], [], color="black", ls="-", label="attempt 2 (Δi→c)"),
    ]
    fig.legend(
        handles=styles + style.model_handles(list(logs)), loc="outside right upper", fontsize=8
    )
    fig.suptitle("RL training (5-step moving average)")
    return fig


def pretraining_figure(curve: pd.DataFrame | None) -> Figure:
    fig, (loss_ax, acc_ax) = style.panels(2)
    if curve is None:
        loss_ax.text(
            0.5,
            0.5,
            "the base model was not pre-trained by this pipeline",
            ha="center",
            transform=loss_ax.transAxes,
        )
        return fig
    loss_ax.plot(curve["step"], curve["loss"], color="tab:gray")
    # a log axis only when the loss spans a decade or more; plain numbers on it either way
    loss = curve["loss"]
    wide = loss.min() > 0 and loss.max() / loss.min() >= 10
    loss_ax.set(
        title="pre-training loss (assistant tokens)",
        xlabel="step",
        ylabel="cross-entropy (nats per token)",
        yscale="log" if wide else "linear",
    )
    if wide:
        loss_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        loss_ax.yaxis.set_minor_formatter(NullFormatter())
    evals = curve.dropna(subset=["acc@t1"])
    acc_ax.plot(evals["step"], 100 * evals["acc@t1"], "o-", label="Acc@t1")
    acc_ax.plot(evals["step"], 100 * evals["acc@t2"], "s--", label="Acc@t2")
    acc_ax.set(title="held-out greedy accuracy", xlabel="step", ylabel="accuracy (%)")
    style.percent_axis(acc_ax)
    acc_ax.legend()
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
    return fig


def write_training_plots(
    train_logs: dict[str, str | Path], pretrain_log: str | Path | None, out_dir: str | Path
) -> None:
    out = Path(out_dir)
    logs = read_logs(train_logs)
    style.save(training_figure(logs), out / "training_curves.png")
    health = health_section(logs)
    if health and (out / "summary.md").exists():
        append_to_summary(out, health)
    curve = read_logs({"base": pretrain_log})["base"] if pretrain_log else None
    style.save(pretraining_figure(curve), out / "pretraining.png")
