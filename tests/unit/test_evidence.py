"""The evidence report's statistics, verdicts and divergence flag, on hand-computed numbers; and
the report itself from small seed directories in the real layout."""

import json
import math

import pandas as pd
import pytest

from selfcorrect.errors import SelfCorrectError
from selfcorrect.report import evidence
from selfcorrect.report.seed_stats import Finding, Stat, measure, verdict
from selfcorrect.report.training import diverged


def test_stat_mean_se_and_t_interval():
    s = Stat((0.1, 0.2, 0.3, 0.4, 0.5))
    assert s.mean == pytest.approx(0.3)
    assert s.se == pytest.approx(math.sqrt(0.025) / math.sqrt(5))  # sample SD 0.158 / √5
    _, hi = s.interval
    assert hi - s.mean == pytest.approx(2.776 * s.se, rel=1e-4)  # t(4), not the normal 1.96
    assert (
        s.side() == 1
        and Stat((-0.2, 0.1, 0.3)).side() == 0
        and Stat((-1.0, -1.2, -1.1)).side() == -1
    )
    assert math.isnan(Stat((0.5,)).se) and Stat((0.5,)).side() == 0


def test_verdicts_follow_the_side_of_the_interval():
    assert verdict(Stat((0.04, 0.05, 0.045)), +1) == "reproduced"
    assert verdict(Stat((-0.04, -0.05, -0.045)), +1) == "not reproduced"
    assert verdict(Stat((-0.02, 0.05, 0.01)), +1) == "inconclusive"
    assert verdict(Stat((0.0, 0.0, 0.0)), -1) == "not reproduced"  # Δ < 0 claimed; every seed 0
    assert verdict(Stat((0.3,)), +1).startswith("inconclusive")


def test_a_finding_pairs_its_two_terms_by_seed():
    metrics = pd.DataFrame(
        {
            "model": ["score", "score", "star_1", "star_1", "score"],
            "seed": [0, 1, 0, 1, 2],
            "delta": [0.3, 0.1, 0.1, 0.2, 0.9],
        }
    )
    f = Finding("c", "p", ("score", "delta"), ("star_1", "delta"), +1)
    assert measure(metrics, f).values == pytest.approx((0.2, -0.1))  # seed 2 has no partner


def _log(kl):
    return pd.DataFrame(
        {
            "step": range(1, len(kl) + 1),
            "kl_t1": kl,
            "kl_t2": [0.0] * len(kl),
            "loss": [0.0] * len(kl),
        }
    )


def test_a_run_diverged_when_its_kl_ends_high_and_rising():
    assert diverged(_log([1.0] * 5 + [8, 10, 12, 14, 16]))
    assert not diverged(_log([20.0] * 5 + [12.0] * 5))  # high but coming down
    assert not diverged(_log([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 9.5]))  # rising, below the bound
    assert diverged(_log([1.0] * 9 + [math.nan]))
    # single-turn RL has no attempt 2: its empty kl_t2 (its log stacked with others') is no NaN
    assert not diverged(_log([1.0] * 10).assign(kl_t2=math.nan))


def _seed_dir(root, seed, deltas, kl):
    d = root / f"seed-{seed}" / "results"
    (d / "report").mkdir(parents=True)
    rows = [
        {
            "model": m,
            "benchmark": "arith",
            "acc@t1": 0.4,
            "acc@t2": 0.4 + v,
            "delta": v,
            "delta_i2c": max(v, 0),
            "delta_c2i": max(-v, 0),
            "edit_rate": 0.5,
            "truncation": 0.0,
        }
        for m, v in deltas.items()
    ]
    pd.DataFrame(rows).to_csv(d / "report" / "metrics.csv", index=False)
    (d / "models" / "score").mkdir(parents=True)
    log = _log(kl).assign(reward_t1=0.3, reward_t2=0.5)
    log.to_parquet(d / "models" / "score" / "train_log.parquet")
    (d / "rise_eval" / "rise_1").mkdir(parents=True)
    (d / "rise_eval" / "rise_1" / "arith.json").write_text(
        json.dumps(  # the layout `selfcorrect rise-evaluate` writes
            {
                "model": "rise_1",
                "benchmark": "arith",
                "accuracy_by_turn": [0.4] * 5,
                "metrics": {
                    "n_problems": 10,
                    "n_samples": 1,
                    "turns": 5,
                    "acc@t1": 0.4,
                    "m1@t1": 0.4,
                    "m1@t5": 0.45 + 0.01 * seed,
                },
            }
        )
    )


def test_the_report_from_seed_directories(tmp_path):
    for seed, (score, base) in enumerate([(0.05, -0.01), (0.03, -0.02), (0.04, -0.03)]):
        _seed_dir(
            tmp_path,
            seed,
            {"base": base, "score": score},
            [1.0] * 5 + [11, 12, 13, 14, 15] if seed == 2 else [1.0] * 10,
        )
    path = evidence.write(tmp_path, tmp_path / "out", "arith", ["# header"])
    text = path.read_text()
    assert "| SCoRe corrects itself: Δ > 0 | SCoRe Δ +4.4 (Δc→i 1.4) | +4.0 ± 0.6" in text
    assert "[+1.5, +6.5] | 3/3 | reproduced |" in text
    assert "| the base model does not correct itself: Δ < 0 | base Δ −11.2 | −2.0 ± 0.6" in text
    assert text.count("reproduced") >= 3 and "| rise_1 | 40.0 ± 0.0 | 46.0 ± 0.6 |" in text
    assert "| score | 3 | 15.0 |" in text and "| 1/3 |" in text  # seed 2's KL ran away
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "evidence.md",
        "metrics.csv",
        "curves.csv",
        "delta.png",
        "curves.png",
    }


def test_no_seed_directories_is_one_clear_error(tmp_path):
    with pytest.raises(SelfCorrectError, match="no seed-\\* directories"):
        evidence.write(tmp_path, tmp_path / "out", "arith", [])


def test_a_run_report_gets_a_health_row_per_rl_run(tmp_path):
    from selfcorrect.report.training import write_training_plots

    ok, broken = _log([1.0] * 10), _log([1.0] * 5 + [11, 12, 13, 14, 15])
    for name, log in (("score", ok), ("score_no_stage1", broken)):
        log.assign(reward_t1=0.3, reward_t2=0.5, truncation_t1=0.1, truncation_t2=0.3).to_parquet(
            tmp_path / f"{name}.parquet"
        )
    (tmp_path / "summary.md").write_text("# Self-correction results\n")
    write_training_plots(
        {m: tmp_path / f"{m}.parquet" for m in ("score", "score_no_stage1")}, None, tmp_path
    )
    summary = (tmp_path / "summary.md").read_text()
    assert "| score | 1.0 | 20.0 | no |" in summary
    assert "| score_no_stage1 | 15.0 | 20.0 | yes |" in summary


def test_each_seed_is_a_whole_snakemake_run_in_its_own_directory(tmp_path):
    import argparse

    from selfcorrect import evidence as runner

    parser = argparse.ArgumentParser()
    runner.add_arguments(parser)
    args = parser.parse_args(
        ["run", "--seeds", "3", "--config", "scaling={enabled: false}", "--out", str(tmp_path)]
    )
    args.cores_each = 1
    cmd = runner.snakemake_command(3, tmp_path, args)
    assert cmd[cmd.index("-d") + 1] == str(tmp_path / "seed-3")
    assert cmd[cmd.index("--config") + 1 :] == ["seed=3", "scaling={enabled: false}"]
    assert cmd[cmd.index("--configfile") + 1].endswith("config/config.yaml")
    with pytest.raises(SelfCorrectError, match="run.json: missing"):
        runner.report(parser.parse_args(["report", "--runs", str(tmp_path)]))
