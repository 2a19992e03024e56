"""Statistics over seeds for the evidence report (report/evidence.py writes it): each metric's
mean, standard error and 95% Student-t interval over seeds, the papers' findings as signed
quantities with a verdict each, and every arm's training health.

Input: seed directories, each a whole run's working directory (results/, as `snakemake` leaves
it). Differences between arms are paired by seed (the same base model and data), so the base
model's seed-to-seed spread cancels out of them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from selfcorrect.errors import SelfCorrectError
from selfcorrect.report.build import load_result
from selfcorrect.report.format import MISSING, pct, signed_pct
from selfcorrect.report.training import read_logs, run_health

# Two-sided 95% quantiles of Student's t (df 1..30); beyond 30 the normal 1.96 is used.
# fmt: off
_T975 = [
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
]
# fmt: on


@dataclass(frozen=True)
class Stat:
    """A statistic over seeds: mean, standard error, 95% interval and the values themselves."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def se(self) -> float:
        return float(np.std(self.values, ddof=1) / math.sqrt(self.n)) if self.n > 1 else math.nan

    @property
    def interval(self) -> tuple[float, float]:
        if self.n < 2:
            return (math.nan, math.nan)
        half = (_T975[self.n - 2] if self.n - 1 <= len(_T975) else 1.96) * self.se
        return (self.mean - half, self.mean + half)

    def side(self) -> int:
        """+1 when the 95% interval lies above 0, −1 below, 0 when it holds 0 (or n < 2)."""
        lo, hi = self.interval
        if math.isnan(lo):
            return 0
        return 1 if lo > 0 else -1 if hi < 0 else 0

    def text(self) -> str:
        """ "+4.4 ± 1.2 [+1.1, +7.7]" in percent."""
        if not self.values:
            return MISSING
        if self.n < 2:
            return signed_pct(self.mean)
        lo, hi = self.interval
        return f"{signed_pct(self.mean)} ± {pct(self.se)} [{signed_pct(lo)}, {signed_pct(hi)}]"


Term = tuple[str, str]  # (model, metrics column); RISE models are "rise:<model>"


@dataclass(frozen=True)
class Finding:
    """A paper's claim as a quantity, `a` or the paired difference `a − b`, and the side of 0
    the paper puts it on (+1 above, −1 below)."""

    claim: str
    paper: str
    a: Term
    b: Term | None
    sign: int


# The SCoRe paper's MATH table and ablations (Kumar et al., 2024, Tables 2 and 4) and RISE's
# iterations (Qu et al., 2024), as claims that a sign over seeds can confirm or refute.
FINDINGS = [
    Finding(
        "the base model does not correct itself: Δ < 0", "base Δ −11.2", ("base", "delta"), None, -1
    ),
    Finding(
        "prompted Self-Refine does not help: Δ < 0",
        "Self-Refine Δ −1.0",
        ("self_refine", "delta"),
        None,
        -1,
    ),
    Finding(
        "SCoRe corrects itself: Δ > 0", "SCoRe Δ +4.4 (Δc→i 1.4)", ("score", "delta"), None, +1
    ),
    Finding("SCoRe's Δ above STaR's", "+4.4 vs +0.4", ("score", "delta"), ("star_1", "delta"), +1),
    Finding(
        "SCoRe's Δ above Pair-SFT's", "+4.4 vs +1.8", ("score", "delta"), ("pair_sft", "delta"), +1
    ),
    Finding(
        "multi-turn training matters: Δ above single-turn RL's",
        "+4.4 vs −2.4",
        ("score", "delta"),
        ("score_single_turn", "delta"),
        +1,
    ),
    Finding(
        "Stage I matters: Δ above no-Stage-I's",
        "+4.4 vs +2.2",
        ("score", "delta"),
        ("score_no_stage1", "delta"),
        +1,
    ),
    Finding(
        "reward shaping matters: Δ above no-shaping's",
        "+4.4 vs +2.6",
        ("score", "delta"),
        ("score_no_shaping", "delta"),
        +1,
    ),
    Finding(
        "REINFORCE in Stage II: Δ above STaR-in-Stage-II's",
        "+4.4 vs +2.2",
        ("score", "delta"),
        ("score_star_stage2", "delta"),
        +1,
    ),
    Finding(
        "RISE iteration 1: m1@t5 above m1@t1",
        "m1@t5 > m1@t1",
        ("rise:rise_1", "m1@t5"),
        ("rise:rise_1", "m1@t1"),
        +1,
    ),
    Finding(
        "RISE iteration 2: m1@t5 above m1@t1",
        "m1@t5 > m1@t1",
        ("rise:rise_2", "m1@t5"),
        ("rise:rise_2", "m1@t1"),
        +1,
    ),
    Finding(
        "RISE improves with iterations: m1@t5 of iteration 2 above iteration 1's",
        "rising with iterations",
        ("rise:rise_2", "m1@t5"),
        ("rise:rise_1", "m1@t5"),
        +1,
    ),
]


def seed_dirs(root: Path) -> list[Path]:
    dirs = sorted((p for p in Path(root).glob("seed-*") if p.is_dir()), key=seed_of)
    if not dirs:
        raise SelfCorrectError(f"{root}: no seed-* directories (run `selfcorrect evidence run`)")
    return dirs


def seed_of(path: Path) -> int:
    return int(path.name.removeprefix("seed-"))


def read_metrics(dirs: list[Path], benchmark: str) -> pd.DataFrame:
    """One row per (seed, model): the report's metrics.csv of every seed directory, plus each
    RISE model's sequential metrics (m1@t1, m1@tT, p1@tT) from results/rise_eval/."""
    frames = []
    for d in dirs:
        path = d / "results" / "report" / "metrics.csv"
        if not path.exists():
            raise SelfCorrectError(f"{path}: missing (did this seed's run finish?)")
        frame = pd.read_csv(path)
        frame = frame[frame["benchmark"] == benchmark].assign(seed=seed_of(d))
        rise = []
        for path in sorted((d / "results" / "rise_eval").glob(f"*/{benchmark}.json")):
            result = load_result(path)
            rise.append(
                {
                    "model": f"rise:{result.model}",
                    "seed": seed_of(d),
                    **{
                        k: v
                        for k, v in result.metrics.items()
                        if k.startswith(("m1@", "p1@", "acc@"))
                    },
                }
            )
        frames += [frame, pd.DataFrame(rise)]
    out = pd.concat([f for f in frames if len(f)], ignore_index=True)
    if out.empty:
        raise SelfCorrectError(f"no metrics for benchmark {benchmark!r} in {dirs[0].parent}")
    return out


def read_curves(dirs: list[Path]) -> pd.DataFrame:
    """Every RL arm's training log, one row per (seed, model, step)."""
    frames = []
    for d in dirs:
        paths = {
            p.parent.name: p for p in sorted((d / "results" / "models").glob("*/train_log.parquet"))
        }
        for model, frame in read_logs(paths).items():
            if "kl_t1" in frame:  # the RL arms; SFT logs carry no KL
                frames.append(frame.assign(seed=seed_of(d), model=model))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def stat(metrics: pd.DataFrame, model: str, column: str) -> Stat:
    return Stat(tuple(values(metrics, (model, column))))


def values(metrics: pd.DataFrame, term: Term) -> pd.Series:
    """A term's value per seed (indexed by seed)."""
    model, column = term
    rows = metrics[metrics["model"] == model]
    if column not in rows:
        return pd.Series(dtype=float)
    return rows.set_index("seed")[column].dropna().astype(float).sort_index()


def difference(metrics: pd.DataFrame, a: Term, b: Term | None = None) -> Stat:
    """`a` over seeds, or `a − b` paired by seed (the seeds both have)."""
    value = values(metrics, a)
    if b is not None:
        value = (value - values(metrics, b)).dropna()
    return Stat(tuple(value))


def measure(metrics: pd.DataFrame, finding: Finding) -> Stat:
    """A finding's quantity over seeds."""
    return difference(metrics, finding.a, finding.b)


def arms(metrics: pd.DataFrame) -> list[str]:
    """The models of the self-correction tables, in report order (RISE's are apart)."""
    return [m for m in dict.fromkeys(metrics["model"]) if not m.startswith("rise:")]


def verdict(value: Stat, sign: int) -> str:
    if value.n < 2:
        return "inconclusive (fewer than 2 seeds)"
    side = value.side()
    if side == sign:
        return "reproduced"
    if side == -sign or (value.se == 0 and value.mean == 0):  # every seed exactly 0
        return "not reproduced"
    return "inconclusive"


def health(curves: pd.DataFrame, metrics: pd.DataFrame, models: list[str]) -> pd.DataFrame:
    """Per arm: the largest KL of any seed, training and evaluation truncation, the evaluation
    edit rate, and how many seeds diverged (report/training.py: run_health)."""
    rows = []
    for model in models:
        log = curves[curves["model"] == model] if len(curves) else curves
        row = {
            "model": model,
            "seeds": int((metrics["model"] == model).sum()),
            "eval_truncation": stat(metrics, model, "truncation").mean,
            "edit_rate": stat(metrics, model, "edit_rate").mean,
        }
        if len(log):
            runs = [run_health(part) for _, part in log.groupby("seed")]
            row.update(
                max_kl=max(r["max_kl"] for r in runs),
                train_truncation=float(np.mean([r["train_truncation"] for r in runs])),
                diverged=sum(r["diverged"] for r in runs),
            )
        rows.append(row)
    return pd.DataFrame(rows)
