"""The report's figures as a paper would print them: family colours, error bars, one legend per
figure, labelled axes, integer turns; and the resolved config next to summary.md."""

from __future__ import annotations

import math

import matplotlib.colors
import pandas as pd
import pytest
import yaml

from selfcorrect.errors import SelfCorrectError
from selfcorrect.report import style
from selfcorrect.report.build import Result
from selfcorrect.report.figures import accuracy_figure, transitions_figure
from selfcorrect.report.provenance import append_provenance, config_hash
from selfcorrect.report.rise import rise_figure
from selfcorrect.report.training import PANELS, training_figure

MODELS = [
    "base",
    "self_refine",
    "star_1",
    "star_2",
    "pair_sft",
    "pair_sft_plus",
    "score_stage1",
    "score",
    "score_single_turn",
    "rise_1",
    "rise_2",
    "mystery",
]


def _hue(rgba) -> float:
    return matplotlib.colors.rgb_to_hsv(rgba[:3])[0]


def test_families_follow_the_dag_names():
    assert [style.family(m) for m in MODELS] == [
        "reference",
        "reference",
        "sft",
        "sft",
        "sft",
        "sft",
        "score",
        "score",
        "score",
        "rise",
        "rise",
        "other",
    ]
    assert style.family("basement") == "other"  # whole-name match, not a prefix


def test_colours_keep_a_family_in_one_hue_and_every_model_distinct():
    colors = style.colors(MODELS)
    assert len(set(colors.values())) == len(MODELS)
    for m in ("base", "self_refine"):  # greys: no saturation
        assert matplotlib.colors.rgb_to_hsv(colors[m][:3])[1] == pytest.approx(0, abs=1e-6)
    # each family in its own band of hue: blues, greens, reds to oranges (wrapping at 0)
    bands = {"sft": (0.5, 0.7), "rise": (0.25, 0.45), "score": (-0.1, 0.12)}
    for m in MODELS:
        if style.family(m) in bands:
            low, high = bands[style.family(m)]
            hue = _hue(colors[m])
            assert low <= (hue - 1 if hue > 0.8 else hue) <= high, m
    # the first of a family is its darkest shade; colours do not depend on other families
    assert sum(colors["score_stage1"][:3]) < sum(colors["score_single_turn"][:3])
    assert style.colors(["score", "rise_1"])["score"] == style.colors(["score"])["score"]


def test_markers_differ_within_a_family():
    markers = style.markers(MODELS)
    assert markers["star_1"] != markers["star_2"] != markers["pair_sft"]
    assert markers["base"] == markers["star_1"] == markers["score_stage1"] == "o"


def test_binomial_standard_error():
    assert style.binomial_se(0.5, 100) == pytest.approx(0.05)  # sqrt(0.25 / 100)
    assert style.binomial_se(0.2, 400) == pytest.approx(0.02)  # sqrt(0.16 / 400)
    assert style.binomial_se(1.0, 10) == 0.0
    assert math.isnan(style.binomial_se(0.5, 1))


@pytest.mark.parametrize(
    "limits, expected",
    [
        ((-0.05, 0.05), (0.0, 5.0)),  # a flat line at 0: no negative accuracies
        ((38.0, 82.0), (38.0, 82.0)),  # a normal range is left alone
        ((96.0, 104.0), (95.0, 100.0)),  # never above 100, still 5 points tall
    ],
)
def test_percent_axis_stays_in_range(limits, expected):
    _, (ax,) = style.panels(1)
    ax.set_ylim(*limits)
    style.percent_axis(ax)
    assert ax.get_ylim() == pytest.approx(expected)


def _result(model, acc, se, i2c, c2i, n=100, benchmark="arith"):
    metrics = {
        "n_problems": n,
        "n_samples": 1,
        "turns": 2,
        "acc@t1": acc[0],
        "acc@t2": acc[1],
        "delta": acc[1] - acc[0],
        "delta_se": se,
        "delta_i2c": i2c,
        "delta_c2i": c2i,
    }
    return Result(model, benchmark, metrics, list(acc), None)


TABLE = {
    ("base", "arith"): _result("base", (0.5, 0.4), 0.03, 0.05, 0.15),
    ("score", "arith"): _result("score", (0.6, 0.8), 0.02, 0.22, 0.02),
}


def test_accuracy_figure_has_error_bars_of_one_standard_error():
    fig = accuracy_figure(TABLE, ["base", "score"], ["arith"])
    ax = fig.axes[0]
    # errorbar containers: (data line, caps, bar lines); base at t1: 50 ± 100·sqrt(.25/100) = 5
    segments = ax.containers[0].lines[2][0].get_segments()
    (_, low), (_, high) = segments[0]
    assert (low, high) == pytest.approx((45.0, 55.0))
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["base", "score"]
    assert ax.get_ylabel() == "accuracy (%)"


def test_transitions_figure_splits_flips_and_shows_delta_with_its_se():
    fig = transitions_figure(TABLE, ["base", "score"], ["arith"])
    flips, net = fig.axes
    widths = sorted(round(p.get_width(), 6) for p in flips.patches)
    assert widths == [-15.0, -2.0, 5.0, 22.0]  # Δc→i to the left, Δi→c to the right
    labels = sorted(t.get_text() for t in flips.texts)
    assert labels == ["15.0", "2.0", "22.0", "5.0"]
    # Δ = −10 ± 3 for base, +20 ± 2 for score, one row per model, first model on top
    bars = [c for c in net.containers]
    centre = [c.lines[0].get_xdata()[0] for c in bars]
    assert centre == pytest.approx([-10.0, 20.0])
    (lo, _), (hi, _) = bars[0].lines[2][0].get_segments()[0]
    assert (lo, hi) == pytest.approx((-13.0, -7.0))
    assert [t.get_text() for t in flips.get_yticklabels()] == ["base", "score"]
    assert flips.get_ylim()[0] > flips.get_ylim()[1]
    assert flips.get_xlabel() and net.get_xlabel()


def test_value_labels_do_not_overlap():
    rows = {
        (m, "arith"): _result(m, (0.4, 0.5), 0.02, 0.1 + i / 100, 0.0004)
        for i, m in enumerate(MODELS)
    }
    fig = transitions_figure(rows, MODELS, ["arith"])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in fig.axes[0].texts]
    assert len(boxes) == len(MODELS)  # 0.04 % rounds to 0.0: no label for those bars
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def test_training_figure_labels_every_panel_and_has_one_legend():
    log = pd.DataFrame(
        {
            "step": [1, 2, 3],
            "reward_t1": [0.1, 0.2, 0.3],
            "reward_t2": [0.2, 0.3, 0.4],
            "kl_t1": [0.0, 0.1, 0.2],
            "kl_t2": [0.0, 0.1, 0.3],
            "edit_rate": [0.5, 0.4, 0.3],
            "delta_i2c": [0.1, 0.1, 0.2],
            "delta_c2i": [0.0, 0.1, 0.0],
            "truncation_t1": [0.0] * 3,
            "truncation_t2": [0.0] * 3,
            "tokens_per_s": [100.0, 110.0, 120.0],
        }
    )
    fig = training_figure({"score_stage1": log, "score": log})
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert len(axes) == len(PANELS)
    assert all(ax.get_ylabel() and ax.get_xlabel() and ax.get_title() for ax in axes)
    assert all(ax.get_legend() is None for ax in axes)
    assert len(fig.legends) == 1
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[-2:] == ["score_stage1", "score"]


def test_rise_figure_has_integer_turns_and_the_report_colours():
    results = [
        Result(m, "arith", {"n_problems": 64, "n_samples": 1, "turns": 5}, acc, None)
        for m, acc in (("base", [0.4] * 5), ("rise_1", [0.4, 0.45, 0.5, 0.5, 0.5]))
    ]
    fig = rise_figure({"arith": results}, ["base", "score"])
    ax = fig.axes[0]
    fig.canvas.draw()
    ticks = [t for t in ax.get_xticks() if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    assert ticks and all(float(t).is_integer() for t in ticks)
    line = ax.containers[0].lines[0]
    assert line.get_color() == style.colors(["base", "score", "rise_1"])["base"]
    assert ax.get_ylabel() == "accuracy (%)" and fig.legends


def test_resolved_config_is_written_and_linked(tmp_path):
    cfg = {
        "models": ["base", "score"],
        "score": {"alpha": 10.0},
        "tracking": {"tensorboard": False},
    }
    (tmp_path / "summary.md").write_text("# Summary\n")
    append_provenance(tmp_path, "", tmp_path / "no-benchmarks", cfg)
    written = tmp_path / "config.yaml"
    assert yaml.safe_load(written.read_text()) == cfg
    text = (tmp_path / "summary.md").read_text()
    assert (
        f"Config hash: `{config_hash(cfg)}` (the resolved config: [config.yaml](config.yaml))"
        in text
    )
    # the hash is rules/report.smk's: sha256 of the sorted compact JSON
    # sha256(b'{"a":[1.5],"b":1}')[:12]
    assert config_hash({"b": 1, "a": [1.5]}) == "be0f99d229ad"
    with pytest.raises(SelfCorrectError, match="not the --config-hash abc"):
        append_provenance(tmp_path, "abc", tmp_path / "no-benchmarks", cfg)


@pytest.mark.parametrize("loss, scale", [([4.6, 4.0, 3.5], "linear"), ([4.6, 0.5, 0.03], "log")])
def test_pretraining_loss_is_log_only_over_a_decade(loss, scale):
    from selfcorrect.report.training import pretraining_figure

    curve = pd.DataFrame(
        {"step": [1, 2, 3], "loss": loss, "acc@t1": [None, 0.2, 0.4], "acc@t2": [None, 0.2, 0.5]}
    )
    loss_ax, acc_ax = pretraining_figure(curve).axes
    assert loss_ax.get_yscale() == scale
    assert loss_ax.get_ylabel() and acc_ax.get_ylabel() == "accuracy (%)"
