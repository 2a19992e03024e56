"""selfcorrect.report: tables, CSV and figures built from fixture metrics files."""

from __future__ import annotations

import json
import math

import matplotlib.image
import pandas as pd
import pytest

from selfcorrect.errors import SelfCorrectError
from selfcorrect.report import build_report
from selfcorrect.report.format import MINUS, MISSING, pct, pct_se, signed_pct

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def two_turn(acc1, acc2, se, i2c, c2i, **extra):
    return {
        "n_problems": 500,
        "n_samples": 1,
        "turns": 2,
        "acc@t1": acc1,
        "acc@t2": acc2,
        "delta": acc2 - acc1,
        "delta_se": se,
        "delta_i2c": i2c,
        "delta_c2i": c2i,
        "edit_rate": 0.3,
        "p1@t2": max(acc1, acc2) + 0.05,
        "m1@t2": acc2,
        "truncation": 0.012,
        "mean_completion_tokens": 412.5,
        **extra,
    }


# The SCoRe paper's MATH500 rows for the base model and SCoRe, a 5-turn RISE model with K = 5
# on HumanEval next to a 2-turn model (mixed T and K in one table).
FIXTURES = {
    "base-math.json": ("base", "MATH500", two_turn(0.526, 0.414, 0.022, 0.046, 0.158)),
    "score-math.json": ("score", "MATH500", two_turn(0.600, 0.644, 0.015, 0.058, 0.014)),
    "base-he.json": (
        "base",
        "HumanEval",
        {**two_turn(0.537, 0.567, 0.03, 0.079, 0.049), "n_problems": 164},
    ),
    "rise-he.json": (
        "rise",
        "HumanEval",
        {
            "n_problems": 164,
            "n_samples": 5,
            "turns": 5,
            **{f"acc@t{t}": a for t, a in enumerate([0.5, 0.55, 0.6, 0.6, 0.62], start=1)},
            "delta": 0.05,
            "delta_se": 0.02,
            "delta_i2c": 0.1,
            "delta_c2i": 0.05,
            "edit_rate": 0.4,
            "p1@t5": 0.7,
            "m1@t5": 0.58,
            "m5@t1": 0.55,
            "truncation": 0.0,
            "mean_completion_tokens": 300.0,
        },
    ),
}


def write_metrics(directory, name, model, benchmark, metrics):
    turns = metrics["turns"]
    curve = [metrics[f"acc@t{t}"] for t in range(1, turns + 1)]
    path = directory / name
    path.write_text(
        json.dumps(
            {"model": model, "benchmark": benchmark, "metrics": metrics, "accuracy_by_turn": curve}
        )
    )
    return path


@pytest.fixture
def metrics_files(tmp_path):
    src = tmp_path / "metrics"
    src.mkdir()
    return [write_metrics(src, name, *spec) for name, spec in FIXTURES.items()]


@pytest.fixture
def report(metrics_files, tmp_path):
    out = tmp_path / "report"
    paths = build_report(metrics_files, out, models_order=["score", "base"])
    return out, paths


def test_percent_formatting():
    assert pct(0.526) == "52.6"
    assert pct(1.0) == "100.0"
    assert signed_pct(-0.112) == f"{MINUS}11.2" == "\u221211.2"
    assert signed_pct(0.044) == "+4.4"
    assert signed_pct(-0.00001) == "0.0" and signed_pct(0.0) == "0.0"
    assert pct(-0.05) == f"{MINUS}5.0"
    assert pct_se(-0.112, 0.022) == "\u221211.2 ± 2.2"
    assert pct_se(0.044, math.nan) == "+4.4"
    assert pct(None) == MISSING and pct(math.nan) == MISSING


def test_summary_has_the_paper_table_in_model_order(report):
    out, paths = report
    assert paths["summary.md"] == out / "summary.md"
    lines = (out / "summary.md").read_text().splitlines()
    math_at = lines.index("## MATH500")
    assert lines[math_at + 2] == "| model | Acc@t1 | Acc@t2 | Δ(t1,t2) | Δi→c | Δc→i |"
    # models_order puts score first; the paper's numbers come back out.
    assert lines[math_at + 4] == "| score | 60.0 | 64.4 | +4.4 ± 1.5 | 5.8 | 1.4 |"
    assert lines[math_at + 5] == "| base | 52.6 | 41.4 | \u221211.2 ± 2.2 | 4.6 | 15.8 |"
    # second table: one shared T, no parallel samples
    assert lines[math_at + 7] == "| model | p1@t2 | m1@t2 | mK@t1 | edit rate | truncation | n |"
    assert lines[math_at + 9] == f"| score | 69.4 | 64.4 | {MISSING} | 30.0 | 1.2 | 500 |"


def test_summary_notes_t_and_k_when_rows_differ(report):
    out, _ = report
    lines = (out / "summary.md").read_text().splitlines()
    he_at = lines.index("## HumanEval")
    assert lines.index("## MATH500") < he_at  # benchmarks in file order
    assert lines[he_at + 4] == "| base | 53.7 | 56.7 | +3.0 ± 3.0 | 7.9 | 4.9 |"
    assert lines[he_at + 5] == "| rise | 50.0 | 55.0 | +5.0 ± 2.0 | 10.0 | 5.0 |"
    assert lines[he_at + 7] == "| model | p1@tT | m1@tT | m5@t1 | edit rate | truncation | n |"
    assert lines[he_at + 9] == f"| base | 61.7 (T=2) | 56.7 (T=2) | {MISSING} | 30.0 | 1.2 | 164 |"
    assert lines[he_at + 10] == "| rise | 70.0 (T=5) | 58.0 (T=5) | 55.0 | 40.0 | 0.0 | 164×5 |"


def test_metrics_csv_has_every_metric_as_fractions(report):
    out, _ = report
    df = pd.read_csv(out / "metrics.csv")
    assert list(df.columns[:6]) == [
        "model",
        "benchmark",
        "n_problems",
        "n_samples",
        "turns",
        "acc@t1",
    ]
    assert {"acc@t5", "p1@t2", "p1@t5", "m5@t1", "truncation"} <= set(df.columns)
    assert list(zip(df["model"], df["benchmark"])) == [
        ("score", "MATH500"),
        ("base", "MATH500"),
        ("base", "HumanEval"),
        ("rise", "HumanEval"),
    ]
    base = df[(df["model"] == "base") & (df["benchmark"] == "MATH500")].iloc[0]
    assert base["delta"] == pytest.approx(-0.112)
    assert base["acc@t1"] == pytest.approx(0.526)
    assert pd.isna(base["acc@t5"])  # absent metrics are blank, not zero


def test_figures_are_valid_pngs(report):
    out, _ = report
    for name in ("accuracy_per_turn.png", "transitions.png"):
        path = out / name
        assert path.read_bytes()[:8] == PNG_MAGIC
        height, width, _ = matplotlib.image.imread(path).shape
        assert width > 200 and height > 100
    # atomic writes leave no temporary siblings behind
    assert sorted(p.name for p in out.iterdir()) == [
        "accuracy_per_turn.png",
        "metrics.csv",
        "summary.md",
        "transitions.png",
    ]


def test_every_model_gets_its_own_colour():
    from selfcorrect.report.style import colors as _colors

    for n in (3, 12, 20):
        colors = _colors([f"m{i}" for i in range(n)])
        assert len(set(colors.values())) == n


def test_single_turn_results_still_render(tmp_path):
    metrics = {
        "n_problems": 10,
        "n_samples": 1,
        "turns": 1,
        "acc@t1": 0.3,
        "p1@t1": 0.3,
        "m1@t1": 0.3,
        "truncation": 0.0,
        "mean_completion_tokens": 12.0,
    }
    path = write_metrics(tmp_path, "one.json", "tiny", "toy", metrics)
    build_report([path], tmp_path / "out")
    lines = (tmp_path / "out" / "summary.md").read_text().splitlines()
    assert f"| tiny | 30.0 | {MISSING} | {MISSING} | {MISSING} | {MISSING} |" in lines
    assert (tmp_path / "out" / "transitions.png").read_bytes()[:8] == PNG_MAGIC


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "not valid JSON"),
        ('["a list"]', "expected a JSON object"),
        ('{"model": "m", "benchmark": "b", "accuracy_by_turn": [0.5]}', "missing key 'metrics'"),
        (
            '{"model": "m", "benchmark": "b", "metrics": {"turns": 1}, "accuracy_by_turn": [0.5]}',
            "metrics is missing 'n_problems'",
        ),
        (
            (
                '{"model": "m", "benchmark": "b", "accuracy_by_turn": [52.6], "metrics": '
                '{"n_problems": 1, "n_samples": 1, "turns": 1, "acc@t1": 52.6}}'
            ),
            "not a fraction",
        ),
        (
            (
                '{"model": "m", "benchmark": "b", "accuracy_by_turn": [0.5], "metrics": '
                '{"n_problems": 1, "n_samples": 1, "turns": 2, "acc@t1": 0.5}}'
            ),
            "one per turn",
        ),
    ],
)
def test_bad_metrics_file_is_named(metrics_files, tmp_path, content, message):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with pytest.raises(SelfCorrectError, match=message) as info:
        build_report([*metrics_files, bad], tmp_path / "out")
    assert str(bad) in str(info.value)
    assert not (tmp_path / "out" / "summary.md").exists()


def test_missing_file_and_duplicates_are_errors(metrics_files, tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(SelfCorrectError, match=f"{missing}: metrics file not found"):
        build_report([missing], tmp_path / "out")
    with pytest.raises(SelfCorrectError, match="'base' on 'MATH500' is also in"):
        build_report([*metrics_files, metrics_files[0]], tmp_path / "out")
    with pytest.raises(SelfCorrectError, match="no metrics files"):
        build_report([], tmp_path / "out")
