"""ZeRO-3 vs ZeRO-0: peak memory per rank while training a Llama on N processes (DeepSpeed).

Each stage runs as users launch training, `torchrun --standalone --nproc-per-node N`, through
the trainers' own wrapper (train/distributed.py) with the same random batches. Every rank
reports its resident memory (RSS: on CPU the model, gradients and optimizer states live there;
allocations from 64 KiB up are mmapped so that freed tensors leave the RSS)
after start-up, after the model is built and wrapped, and its peak during the training steps
(the peak counter is reset once the engine is set up, via /proc/self/clear_refs); the ratio
ZeRO-3 / ZeRO-0 of the training peak above start-up is printed. ZeRO-0 is plain data
parallelism: every rank holds the whole fp32 model, gradients and AdamW states (16 bytes per
parameter); ZeRO-3 partitions all three across the ranks. Beside the policy, a frozen reference
of the same size runs a forward pass every step, as SCoRe's does (`--no-reference` leaves it
out): a whole copy on every rank under ZeRO-0, partitioned under ZeRO-3. Both models are built
as the trainers load theirs (`distributed.partitioned`): under ZeRO-3 each rank only ever
holds its share. The whole-run peak (getrusage) is compared too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

LOADS_MODEL = True  # --threads and --device reach it (cli.py)

MiB = 2**20


def add_arguments(p) -> None:
    p.add_argument("--procs", type=int, default=2, help="processes (ranks)")
    p.add_argument("--stages", default="0,3", help="ZeRO stages to compare, the first is the base")
    p.add_argument("--hidden", type=int, default=512, help="the Llama's hidden size")
    p.add_argument("--intermediate", type=int, default=1536, help="its MLP size")
    p.add_argument("--layers", type=int, default=8, help="its layers")
    p.add_argument("--heads", type=int, default=8, help="its attention heads")
    p.add_argument("--vocab", type=int, default=32000, help="its vocabulary size")
    p.add_argument("--batch", type=int, default=2, help="sequences per rank per step")
    p.add_argument("--length", type=int, default=128, help="tokens per sequence")
    p.add_argument("--steps", type=int, default=3, help="training steps measured")
    p.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="a frozen reference model beside the policy, run forward every step "
        "as SCoRe's is (--no-reference: the policy alone)",
    )
    # internal: what one rank of a run receives
    p.add_argument("--worker-stage", type=int, default=None, help=argparse.SUPPRESS)
    p.add_argument("--worker-out", default=None, help=argparse.SUPPRESS)


def _status(key: str) -> float:
    """A /proc/self/status memory figure in MiB (VmRSS: now; VmHWM: peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024 / MiB
    raise KeyError(key)


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux: `echo 5 > /proc/self/clear_refs`)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def worker(args) -> None:
    """One rank: build, wrap, train `steps` steps, write this rank's figures."""
    import gc
    import time

    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from selfcorrect.settings import DistributedConfig, parse
    from selfcorrect.train import distributed

    start = _status("VmRSS")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=args.length,
        tie_word_embeddings=False,
    )
    stage = DistributedConfig(zero_stage=args.worker_stage, offload=False)
    # built as the trainers load their models: whole on every rank below ZeRO-3, partitioned
    # across the ranks under ZeRO-3 (distributed.partitioned)
    with distributed.partitioned(stage):
        model = AutoModelForCausalLM.from_config(config)
        reference = AutoModelForCausalLM.from_config(config) if args.reference else None
    params = sum(getattr(p, "ds_numel", p.numel()) for p in model.parameters())
    cfg = parse("sft", {"lr": 1e-4, "warmup_steps": 1}, "bench")
    trainer = distributed.setup(model, cfg, stage)
    if reference is not None:
        reference = trainer.frozen(reference)
    gc.collect()
    wrapped = _status("VmRSS")
    reset = _reset_peak()
    gen = torch.Generator().manual_seed(1 + trainer.rank)
    seconds = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        ids = torch.randint(0, args.vocab, (args.batch, args.length), generator=gen).to(
            trainer.device
        )  # the rank's device
        if reference is not None:  # the frozen reference's forward, as in SCoRe's step
            with torch.no_grad():
                reference(input_ids=ids)
        loss = trainer.model(input_ids=ids, labels=ids).loss
        trainer.backward(loss, last=True)
        trainer.step()
        seconds.append(time.perf_counter() - t0)
    row = {
        "stage": args.worker_stage,
        "rank": trainer.rank,
        "params": params,
        "rss_start_mib": start,
        "rss_wrapped_mib": wrapped,
        "peak_train_mib": _status("VmHWM") if reset else float("nan"),
        "peak_run_mib": _peak_rusage(),
        "step_s": sorted(seconds)[len(seconds) // 2],
    }
    Path(f"{args.worker_out}.{trainer.rank}").write_text(json.dumps(row))
    trainer.close()


def _peak_rusage() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MiB  # KiB on Linux


def run(args) -> None:
    if args.worker_stage is not None:
        return worker(args)
    stages = [int(s) for s in args.stages.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for stage in stages:
            out = Path(tmp) / f"zero{stage}"
            cmd = [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc-per-node",
                str(args.procs),
                "-m",
                "selfcorrect.cli",
                "--threads",
                "1",
                "--log-level",
                "WARNING",
                "bench",
                "zero",
                "--worker-stage",
                str(stage),
                "--worker-out",
                str(out),
            ]
            for key in (
                "hidden",
                "intermediate",
                "layers",
                "heads",
                "vocab",
                "batch",
                "length",
                "steps",
            ):
                cmd += [f"--{key}", str(getattr(args, key))]
            cmd.append("--reference" if args.reference else "--no-reference")
            # glibc keeps freed blocks below its (adaptive) mmap threshold in the heap, so RSS
            # would still count tensors DeepSpeed has freed (measured: ZeRO-3's peak then read
            # higher than ZeRO-0's); blocks from 64 KiB up are mmapped and returned on free
            env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}
            env.setdefault("DS_ACCELERATOR", "cpu")
            subprocess.run(cmd, check=True, env=env)
            rows += [json.loads(Path(f"{out}.{r}").read_text()) for r in range(args.procs)]
    ref = " + a frozen reference of the same size" if args.reference else ""
    print(
        f"Llama {rows[0]['params'] / 1e6:.1f}M parameters{ref}, {args.procs} ranks, fp32 + "
        f"AdamW, batch {args.batch}x{args.length} per rank, {args.steps} steps"
    )
    print(
        "| ZeRO | rank | RSS at start MiB | after wrap MiB | training peak MiB "
        "| peak - start MiB | whole-run peak MiB | s/step |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        above = r["peak_train_mib"] - r["rss_start_mib"]
        print(
            f"| {r['stage']} | {r['rank']} | {r['rss_start_mib']:.0f}"
            f" | {r['rss_wrapped_mib']:.0f} | {r['peak_train_mib']:.0f} | {above:.0f}"
            f" | {r['peak_run_mib']:.0f} | {r['step_s']:.2f} |"
        )
    base = [r for r in rows if r["stage"] == stages[0]]
    growth = {
        s: max(r["peak_train_mib"] - r["rss_start_mib"] for r in rows if r["stage"] == s)
        for s in stages
    }
    first = stages[0]
    whole = {
        s: max(r["peak_run_mib"] - r["rss_start_mib"] for r in rows if r["stage"] == s)
        for s in stages
    }
    for s in stages[1:]:
        print(
            f"training peak above start-up, worst rank: ZeRO-{s} {growth[s]:.0f} MiB vs "
            f"ZeRO-{first} {growth[first]:.0f} MiB: ratio {growth[s] / growth[first]:.2f}"
        )
        print(
            f"whole-run peak above start-up (building included), worst rank: ZeRO-{s} "
            f"{whole[s]:.0f} MiB vs ZeRO-{first} {whole[first]:.0f} MiB: ratio "
            f"{whole[s] / whole[first]:.2f}"
        )
    per_param = 20 if args.reference else 16
    what = "fp32 weights + gradients + AdamW" + (
        " + the reference's weights" if args.reference else ""
    )
    print(
        f"({per_param} bytes/parameter of {what}: "
        f"{per_param * base[0]['params'] / MiB:.0f} MiB per rank unpartitioned)"
    )
