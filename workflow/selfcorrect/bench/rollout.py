"""`selfcorrect bench rollout`: our two rollout backends against their raw engines, in one run.

Same model, same prompts (arith test problems through the chat template), same sampling, for
single-turn and 2-turn rollouts:

  raw model.generate   one left-padded batch per `--batch-size` prompts, decoded by hand
  hf backend           rollout/hf.py through collect_rollouts (what the rollout stage runs)
  raw vllm generate    LLM.generate on the token ids, the same engine instance
  vllm backend         rollout/vllm.py through collect_rollouts

tokens/s counts generated tokens (the end-of-turn token included) over wall time; each figure
is the best of `--repeats` runs, the four taking turns (on a shared machine the best run is the
least disturbed).
vLLM's prefix cache is emptied before every timed run, so no run reuses another's KV.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

LOADS_MODEL = True  # --threads and --device reach it (cli.py)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        help="a model directory (default: an untrained tiny Llama of the "
        "embedded default's shape, built in a temporary directory)",
    )
    p.add_argument("--problems", type=int, default=256, help="arith test problems (prompts)")
    p.add_argument("--max-new-tokens", type=int, default=32, help="tokens generated per prompt")
    p.add_argument("--temperature", type=float, default=0.0, help="0: greedy")
    p.add_argument(
        "--batch-size", type=int, default=256, help="prompts per batch (vLLM: max_num_seqs)"
    )
    p.add_argument("--repeats", type=int, default=5, help="runs of each engine, best kept")


def _tiny_model(out: str) -> str:
    from selfcorrect.config import validate_config
    from selfcorrect.models.tiny import build_model, build_tokenizer
    from selfcorrect.settings import TinyConfig, build

    tiny = build(TinyConfig, validate_config({}, source="defaults")["base_model"]["tiny"])
    tok = build_tokenizer()
    build_model(tok, tiny).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def _best(runs: dict, repeats: int, before) -> dict[str, tuple[float, int]]:
    """name -> (seconds, generated tokens) of its fastest run. The engines take turns within
    each repeat, so a burst of load from other processes hits all of them alike."""
    best: dict[str, tuple[float, int]] = {}
    for _ in range(repeats):
        for name, fn in runs.items():
            before()
            start = time.perf_counter()
            tokens = fn()
            run = (time.perf_counter() - start, tokens)
            best[name] = min(best.get(name, run), run)
    return best


def run(args) -> None:
    import torch

    from selfcorrect.conversation import messages_for_turn, render
    from selfcorrect.models.load import load_model
    from selfcorrect.rollout.backend import Sampling
    from selfcorrect.rollout.hf import HFBackend
    from selfcorrect.rollout.multiturn import collect_rollouts
    from selfcorrect.rollout.vllm import VLLMBackend
    from selfcorrect.tasks import get_task

    tmp = tempfile.TemporaryDirectory()
    model_dir = args.model or _tiny_model(tmp.name)
    model, tok = load_model(model_dir)
    model.eval()
    task = get_task("arith")
    problems = task.problems("test", {"n_test": args.problems})
    firsts = [task.first_prompt(q, {}) for q in problems["question"]]
    instruction = task.instruction({})
    sampling = Sampling(temperature=args.temperature, max_new_tokens=args.max_new_tokens)
    sample = args.temperature > 0
    eos = tok.eos_token_id

    def raw_hf(prompts: list[str]) -> tuple[list[str], int]:
        texts, tokens = [], 0
        with torch.no_grad():
            for start in range(0, len(prompts), args.batch_size):
                enc = tok(
                    prompts[start : start + args.batch_size],
                    add_special_tokens=False,
                    padding=True,
                    return_tensors="pt",
                )
                out = model.generate(
                    **enc,
                    do_sample=sample,
                    max_new_tokens=args.max_new_tokens,
                    temperature=args.temperature if sample else None,
                    top_p=1.0 if sample else None,
                    top_k=0 if sample else None,
                    eos_token_id=eos,
                    pad_token_id=tok.pad_token_id,
                )
                for row in out[:, enc["input_ids"].shape[1] :].tolist():
                    row = row[: row.index(eos) + 1] if eos in row else row
                    tokens += len(row)
                    texts.append(tok.decode(row, skip_special_tokens=True))
        return texts, tokens

    def raw_vllm(prompts: list[str]) -> tuple[list[str], int]:
        from vllm.inputs import TokensPrompt

        ids = tok(prompts, add_special_tokens=False)["input_ids"]
        outs = engine.llm.generate(
            [TokensPrompt(prompt_token_ids=i) for i in ids],
            engine.sampling_params(sampling),
            use_tqdm=False,
        )
        rows = [list(o.outputs[0].token_ids) for o in outs]
        return ([tok.decode(r, skip_special_tokens=True) for r in rows], sum(len(r) for r in rows))

    def raw(fn, turns: int):
        def go() -> int:
            history: list[list[str]] = [[] for _ in firsts]
            total = 0
            for _ in range(turns):
                ctx = [
                    render(tok, messages_for_turn(f, h, instruction))
                    for f, h in zip(firsts, history)
                ]
                texts, tokens = fn(ctx)
                total += tokens
                for h, t in zip(history, texts):
                    h.append(t)
            return total

        return go

    def ours(backend, turns: int):
        def go() -> int:
            df = collect_rollouts(
                backend,
                tok,
                problems,
                firsts,
                instruction,
                turns=turns,
                samples=1,
                sampling=sampling,
                model_name="bench",
            )
            return int(df["completion_tokens"].sum())

        return go

    hf = HFBackend(model, tok, batch_size=args.batch_size, progress=False)
    start = time.perf_counter()
    engine = VLLMBackend(model_dir, tok, max_num_seqs=args.batch_size)
    engine_start = time.perf_counter() - start
    fresh = engine.llm.reset_prefix_cache

    print(
        f"model {model_dir if args.model else 'untrained tiny (embedded-default shape)'}, "
        f"{args.problems} prompts, max_new_tokens {args.max_new_tokens}, "
        f"temperature {args.temperature}, best of {args.repeats}, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, torch threads "
        f"{torch.get_num_threads()}; vLLM engine start {engine_start:.1f} s"
    )
    print(f"{'turns':>5}  {'engine':<18} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}")
    for turns in (1, 2):
        figures = _best(
            {
                "raw model.generate": raw(raw_hf, turns),
                "hf backend": ours(hf, turns),
                "raw vllm generate": raw(raw_vllm, turns),
                "vllm backend": ours(engine, turns),
            },
            args.repeats,
            fresh,
        )
        rate = {k: tokens / seconds for k, (seconds, tokens) in figures.items()}
        for name, (seconds, tokens) in figures.items():
            print(f"{turns:>5}  {name:<18} {tokens:>7} {seconds:>8.3f} {rate[name]:>9.0f}")
        print(
            f"{turns:>5}  ratios: hf backend / raw generate "
            f"{rate['hf backend'] / rate['raw model.generate']:.2f}, vllm backend / raw vllm "
            f"{rate['vllm backend'] / rate['raw vllm generate']:.2f}, vllm backend / hf backend "
            f"{rate['vllm backend'] / rate['hf backend']:.2f}"
        )
    tmp.cleanup()
