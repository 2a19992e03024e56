"""`selfcorrect evidence`: run one config over several seeds, then report seed means.

`run` makes one whole Snakemake run per seed, each in its own working directory
(`<out>/seed-N/`, laid out like a plain run: results/, logs/), with `--config seed=N`: the run's
seed sets pre-training, RL, sampling, RISE and the baselines (docs/configuration.md); the task's
problems stay the same. Seeds run one after the other, or `--side-by-side K` at a time with the
cores split between them; a finished seed is skipped by Snakemake itself, so an interrupted
`run` resumes. Each seed's Snakemake output goes to logs/evidence/seed-N.log.

`report` reads every seed directory (selfcorrect.report.evidence) and writes evidence.md with
its figures, headed by the command, date, wall time and CPU of the run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from selfcorrect.errors import SelfCorrectError

RUN_RECORD = "run.json"


def cpu_model() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else what platform knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str | None:
    """The checkout's commit, when the workflow runs from a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip() or None


def command_line() -> str:
    """This command as typed, from `selfcorrect evidence` on (global options left out), quoted
    so that it can be pasted into a shell."""
    words = sys.argv[sys.argv.index("evidence") :] if "evidence" in sys.argv else sys.argv[1:]
    return shlex.join(["selfcorrect", *words])


def snakemake_command(seed: int, out: Path, args) -> list[str]:
    config = [f"seed={seed}", *args.config]
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(Path(args.snakefile).resolve()),
        "-d",
        str(out / f"seed-{seed}"),
        "--cores",
        str(args.cores_each),
        "--configfile",
        *[str(Path(c).resolve()) for c in args.configfile],
        "--config",
        *config,
    ]


def run_seed(seed: int, out: Path, args) -> tuple[int, float]:
    log = Path("logs/evidence") / f"seed-{seed}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.call(
            snakemake_command(seed, out, args), stdout=handle, stderr=subprocess.STDOUT
        )
    seconds = time.perf_counter() - start
    print(
        f"seed {seed}: {'done' if code == 0 else f'failed (exit {code}), see {log}'} "
        f"in {seconds / 60:.1f} min",
        flush=True,
    )
    return code, seconds


def run_seeds(args) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cores = args.cores or os.cpu_count() or 1
    args.cores_each = max(1, cores // args.side_by_side)
    started = datetime.now(timezone.utc)
    start = time.perf_counter()
    print(
        f"evidence: seeds {args.seeds}, {args.side_by_side} at a time, {args.cores_each} "
        f"core(s) each; runs in {out}/seed-N, logs in logs/evidence/",
        flush=True,
    )
    with ThreadPoolExecutor(args.side_by_side) as pool:
        results = list(pool.map(lambda s: run_seed(s, out, args), args.seeds))
    record = {
        "seeds": args.seeds,
        "configfile": args.configfile,
        "config": args.config,
        "side_by_side": args.side_by_side,
        "cores_each": args.cores_each,
        "started": started.isoformat(timespec="seconds"),
        "wall_s": round(time.perf_counter() - start),
        "seed_s": {str(s): round(t) for s, (_, t) in zip(args.seeds, results)},
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "commit": git_commit(),
        "command": command_line(),
    }
    (out / RUN_RECORD).write_text(json.dumps(record, indent=1) + "\n")
    failed = [s for s, (code, _) in zip(args.seeds, results) if code]
    if failed:
        raise SelfCorrectError(f"evidence: seeds {failed} failed (logs/evidence/seed-N.log)")
    return 0


def report(args) -> int:
    from selfcorrect.report import evidence

    root = Path(args.runs)
    record_path = root / RUN_RECORD
    if not record_path.exists():
        raise SelfCorrectError(f"{record_path}: missing (made by `selfcorrect evidence run`)")
    rec = json.loads(record_path.read_text())
    # what the record cannot know (a run suspended for a while, seeds started by hand) is
    # written into it as `note`
    note = f" {rec['note']}" if rec.get("note") else ""
    header = [
        "# Evidence: the embedded default over seeds",
        "",
        (
            f"Made by `{rec['command']}` then `{command_line()}` (`make evidence` runs "
            "both). Run started "
            f"{rec['started']}, {rec['wall_s'] / 60:.0f} min wall on {rec['cpus']} CPUs "
            f"({rec['cpu']}), {rec['side_by_side']} seed(s) at a time on {rec['cores_each']} "
            f"core(s) each, at commit {rec.get('commit') or 'unknown'}.{note}"
        ),
    ]
    path = evidence.write(root, Path(args.out), args.benchmark, header)
    print(f"wrote {path}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="evidence", required=True, metavar="<run|report>")
    r = sub.add_parser("run", help="one whole Snakemake run per seed, in <out>/seed-N")
    r.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0, 1, 2, 3, 4],
        help="run seeds (`--config seed=N` of each run)",
    )
    r.add_argument(
        "--configfile",
        nargs="+",
        default=["config/config.yaml"],
        help="the config of every seed (default: the embedded default)",
    )
    r.add_argument(
        "--config",
        nargs="*",
        default=[],
        help="further KEY=VALUE overrides for every seed, as snakemake --config",
    )
    r.add_argument("--out", default="results/evidence", help="where the seed directories go")
    r.add_argument("--cores", type=int, default=0, help="cores in all (default: every CPU)")
    r.add_argument(
        "--side-by-side",
        type=int,
        default=1,
        help="seeds run at once, the cores split evenly between them",
    )
    r.add_argument("--snakefile", default="Snakefile", help="the workflow to run")
    p = sub.add_parser("report", help="seed means, intervals, findings and health")
    p.add_argument("--runs", default="results/evidence", help="what `evidence run` made")
    p.add_argument("--out", default="docs/evidence", help="evidence.md and its figures")
    p.add_argument("--benchmark", default="arith", help="the benchmark whose metrics are read")


def run(args) -> int:
    return run_seeds(args) if args.evidence == "run" else report(args)
