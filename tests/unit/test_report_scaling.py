"""The report's scaling section and provenance block, from fixture files."""

from __future__ import annotations

import json

import pytest

from selfcorrect.errors import SelfCorrectError
from selfcorrect.report.provenance import append_provenance, stage_times
from selfcorrect.report.scaling import append_scaling, scaling_figure, scaling_table

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CURVES = {
    "base": [
        {"budget": 2, "parallel": 0.5, "sequential": 0.5, "problems": 64},
        {"budget": 4, "parallel": 0.5625, "sequential": 0.5, "problems": 64},
    ],
    "score": [
        {"budget": 2, "parallel": 0.6, "sequential": 0.7},
        {"budget": 4, "parallel": 0.65, "sequential": 0.7444},
    ],
}


def _files(tmp_path):
    paths = []
    for model, curve in CURVES.items():
        path = tmp_path / f"{model}.json"
        path.write_text(json.dumps({"model": model, "benchmark": "MATH500", "curve": curve}))
        paths.append(path)
    return paths


def test_scaling_table_in_percent_with_one_decimal():
    lines = scaling_table(CURVES, ["score", "base"])
    assert lines[0] == "| model | B=2 | B=4 |"
    assert lines[2] == "| score | 60.0 / 70.0 | 65.0 / 74.4 |"
    assert lines[3] == "| base | 50.0 / 50.0 | 56.2 / 50.0 |"


def test_append_scaling_writes_section_and_plot(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "summary.md").write_text("# Summary\n")
    append_scaling(_files(tmp_path), out, ["base", "score"])
    text = (out / "summary.md").read_text()
    assert "## Inference-time scaling on MATH500" in text
    assert "| base | 50.0 / 50.0 | 56.2 / 50.0 |" in text
    assert (out / "scaling.png").read_bytes()[:8] == PNG_MAGIC


def test_scaling_figure_plots_a_model_missing_from_the_model_list():
    point = [{"budget": 2, "parallel": 0.4, "sequential": 0.5}]
    fig = scaling_figure({"arith": {"base": point, "other": point}}, ["base"])
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["base", "other"]


def test_scaling_is_one_panel_per_model_with_a_shared_y_scale():
    fig = scaling_figure({"MATH500": CURVES}, ["score", "base"])
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["score", "base"]
    assert panels[0].get_ylim() == panels[1].get_ylim()
    # each panel: parallel (dashed, open markers) and sequential (solid) at the budgets, with
    # ±1 SE bars over the problems: base at 50% of 64 problems, sqrt(.5 × .5 / 64) = 6.25 points
    parallel, sequential = (bars.lines[0] for bars in panels[1].containers)
    assert parallel.get_linestyle() == "--" and sequential.get_linestyle() == "-"
    assert list(sequential.get_xdata()) == [2, 4]
    assert list(sequential.get_ydata()) == pytest.approx([50.0, 50.0])
    assert list(parallel.get_ydata()) == pytest.approx([50.0, 56.25])
    (bar,) = panels[1].containers[1].lines[2]
    assert [y1 - y0 for (_, y0), (_, y1) in bar.get_segments()] == pytest.approx([12.5, 12.5])
    # score (no problem count): no bar
    assert all(not len(seg) for seg in panels[0].containers[0].lines[2][0].get_segments())
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["B/2 attempts + 1 correction each", "B parallel attempts"]


def test_bad_scaling_file_names_it(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(SelfCorrectError, match="bad.json"):
        append_scaling([bad], tmp_path, [])


def test_provenance_lists_hash_versions_and_stage_times(tmp_path):
    bench = tmp_path / "benchmarks" / "score"
    bench.mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\n"
    (bench / "score_stage1.tsv").write_text(header + "100.4\t0:01:40\t500\n")
    (tmp_path / "benchmarks" / "base_model.tsv").write_text(header + "59.6\t0:00:59\t400\n")
    times = stage_times(tmp_path / "benchmarks")
    assert list(times["job"]) == ["base_model", "score/score_stage1"]
    (tmp_path / "summary.md").write_text("# Summary\n")
    append_provenance(tmp_path, "abc123", tmp_path / "benchmarks")
    text = (tmp_path / "summary.md").read_text()
    assert "Config hash: `abc123`" in text and "torch " in text
    assert "2.7 min in all" in text  # (100.4 + 59.6) / 60
    assert "| score | 1 | 100 |" in text and "| base_model | 1 | 60 |" in text
