"""`selfcorrect bench model`: a real model's generation and training speed, and the share of
this CPU's arithmetic a training step uses, all measured in one run.

For one model directory (default: results/models/base):
  matmul peak         fp32 and bf16 square matmuls (`--peak-size`), GFLOP/s: the yardstick
  generation          sampled rollouts of `--prompts` word problems through the hf backend, and
                      through the vllm backend when vLLM is installed (`--no-vllm` skips it)
  training step       forward + backward + AdamW on `--batch` sequences of `--seq-len` tokens,
                      bf16 autocast, for each way of choosing trained parameters: full
                      fine-tuning, the top `--top-layers` layers (`trainable_layers`), and LoRA
                      (rank `--lora-rank` on every attention and MLP projection, via peft)
Training FLOPs per step: 6 x trained-through parameters x tokens is the textbook count for full
fine-tuning (forward 2, backward 4); the figure printed counts what each option really
computes: forward 2·P·T for every parameter, backward 4·P·T for parameters in and above the
lowest trained layer (2·P·T where only activation gradients flow, as under LoRA's frozen
weights). Each figure is the best of `--repeats`, the options taking turns.
"""

from __future__ import annotations

import argparse
import os
import time

LOADS_MODEL = True  # --threads and --device reach it (cli.py)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="results/models/base", help="a model directory")
    p.add_argument(
        "--prompts",
        type=int,
        default=32,
        help="arith test problems generated from (also the generation batch)",
    )
    p.add_argument("--max-new-tokens", type=int, default=64, help="tokens generated per prompt")
    p.add_argument("--batch", type=int, default=8, help="training sequences per step")
    p.add_argument("--seq-len", type=int, default=256, help="tokens per training sequence")
    p.add_argument(
        "--top-layers", type=int, default=4, help="layers trained by the top-layers option"
    )
    p.add_argument("--lora-rank", type=int, default=16, help="rank of the LoRA option")
    p.add_argument(
        "--peak-size",
        type=int,
        default=2048,
        help="side of the square matmul that measures peak GFLOP/s",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs of each figure, best kept")
    p.add_argument("--no-vllm", action="store_true", help="skip the vLLM generation figure")


def matmul_peak(size: int, dtype, repeats: int = 5) -> float:
    """GFLOP/s of a `size`² matmul in `dtype` (best of `repeats`)."""
    import torch

    a = torch.randn(size, size).to(dtype)
    b = torch.randn(size, size).to(dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def step_flops(model, tokens: int) -> float:
    """FLOPs of one training step as described in the module docstring."""
    from selfcorrect.models.trainable import decoder_layers

    _, stack = decoder_layers(model)
    total = sum(p.numel() for p in model.parameters())
    lowest = next(
        (i for i, layer in enumerate(stack) if any(p.requires_grad for p in layer.parameters())),
        len(stack),
    )
    below = sum(p.numel() for layer in stack[:lowest] for p in layer.parameters())
    embed = model.get_input_embeddings().weight.numel()
    through = total - below - embed  # backward runs through these (activation gradients)
    trained = sum(p.numel() for p in model.parameters() if p.requires_grad)
    # forward 2PT; backward: activation grads 2PT over what it runs through, weight grads 2PT
    # over what is trained (the tied head's weight grad is part of `trained` when trainable)
    return (2 * total + 2 * through + 2 * trained) * tokens


def run(args) -> None:
    import torch

    from selfcorrect.models.load import load_model
    from selfcorrect.models.trainable import limit_trainable
    from selfcorrect.rollout.backend import Sampling
    from selfcorrect.rollout.hf import HFBackend
    from selfcorrect.rollout.multiturn import collect_rollouts
    from selfcorrect.tasks import get_task

    threads = torch.get_num_threads()
    peak = {
        "fp32": matmul_peak(args.peak_size, torch.float32),
        "bf16": matmul_peak(args.peak_size, torch.bfloat16),
    }
    print(
        f"model {args.model}; torch threads {threads}, OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')}; best of {args.repeats}"
    )
    print(
        f"matmul peak ({args.peak_size}²): fp32 {peak['fp32']:.0f} GFLOP/s, "
        f"bf16 {peak['bf16']:.0f} GFLOP/s"
    )

    # --- generation ---------------------------------------------------------------------
    model, tok = load_model(args.model)
    task = get_task("wordprob")
    problems = task.problems("test", {"n_test": args.prompts})
    firsts = [task.first_prompt(q, {}) for q in problems["question"]]
    sampling = Sampling(temperature=1.0, max_new_tokens=args.max_new_tokens)

    def generate(backend) -> float:
        best = 0.0
        for _ in range(args.repeats):
            start = time.perf_counter()
            df = collect_rollouts(
                backend,
                tok,
                problems,
                firsts,
                task.instruction({}),
                turns=1,
                samples=1,
                sampling=sampling,
                model_name="bench",
            )
            best = max(best, df["completion_tokens"].sum() / (time.perf_counter() - start))
        return best

    hf_rate = generate(HFBackend(model, tok, batch_size=args.prompts, progress=False))
    what = f"generation, {args.prompts} prompts x <= {args.max_new_tokens} new tokens, sampled:"
    vllm_line = "vllm skipped (--no-vllm)"
    if not args.no_vllm:
        try:
            from selfcorrect.rollout.vllm import VLLMBackend
        except ImportError as exc:
            vllm_line = f"vllm not installed ({exc})"
        else:
            start = time.perf_counter()
            engine = VLLMBackend(args.model, tok, max_num_seqs=args.prompts)
            started = time.perf_counter() - start
            vllm_rate = generate(engine)
            vllm_line = (
                f"vllm {vllm_rate:.0f} tokens/s ({vllm_rate / hf_rate:.2f}x hf; engine "
                f"start {started:.0f} s)"
            )
    # printed after the engine's own start-up log, so the figures stay on their lines
    print(f"{what} hf {hf_rate:.0f} tokens/s; {vllm_line}", flush=True)

    # --- training -----------------------------------------------------------------------
    tokens = args.batch * args.seq_len
    ids = torch.randint(0, tok.vocab_size, (args.batch, args.seq_len))

    def option(name: str):
        fresh, _ = load_model(args.model)
        if name == "full":
            limit_trainable(fresh, 0)
        elif name == "top":
            limit_trainable(fresh, args.top_layers)
        else:
            from peft import LoraConfig, get_peft_model

            targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
            fresh = get_peft_model(
                fresh,
                LoraConfig(r=args.lora_rank, lora_alpha=args.lora_rank, target_modules=targets),
            )
        fresh.train()
        params = [p for p in fresh.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-6)
        device = next(fresh.parameters()).device

        def step() -> float:
            start = time.perf_counter()
            with torch.autocast(device.type, dtype=torch.bfloat16):
                loss = fresh(input_ids=ids.to(device), labels=ids.to(device)).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            return time.perf_counter() - start

        step()  # warm-up (allocations, optimizer states)
        base = fresh.get_base_model() if hasattr(fresh, "get_base_model") else fresh
        return step, step_flops(base, tokens), sum(p.numel() for p in params)

    options = {
        "full": option("full"),
        f"top {args.top_layers} layers": option("top"),
        f"LoRA r={args.lora_rank}": option("lora"),
    }
    best = {name: float("inf") for name in options}
    for _ in range(args.repeats):
        for name, (step, _, _) in options.items():
            best[name] = min(best[name], step())
    print(f"training step, {args.batch} x {args.seq_len} tokens, bf16 autocast, AdamW:")
    print(
        f"  {'trained':<16} {'params':>12} {'s/step':>8} {'tokens/s':>9} {'GFLOP/s':>8} "
        f"{'of bf16 peak':>12} {'vs full':>8}"
    )
    for name, (_, flops, n) in options.items():
        s = best[name]
        print(
            f"  {name:<16} {n:>12,} {s:>8.2f} {tokens / s:>9.0f} {flops / s / 1e9:>8.0f} "
            f"{flops / s / 1e9 / peak['bf16']:>11.1%} {best['full'] / s:>7.2f}x"
        )
