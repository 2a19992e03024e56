"""SCoRe recipe: on-policy two-attempt REINFORCE, Stage I or Stage II (Kumar et al., 2024).

One module of over 300 lines on purpose: a recipe is read top to bottom as one flat loop (as
torchtune's are), and its steps share the recipe's state (settings, trainer, backend, data).

One flat loop, top to bottom. Each step:
  1. take the next P training problems (the step fixes the data position and every seed);
  2. sample K first attempts from the current policy, then K second attempts that read them
     (Stage II may add base-model first attempts from the base rollouts as extra starts);
  3. label both attempts with the task's verifier;
  4. score the sampled tokens under the policy and the frozen reference, and take a gradient
     step on the method's loss (train/losses.py), accumulated over problem-aligned micro-batches;
  5. log telemetry, checkpoint, and keep the weights with the best training reward.

On N processes (torchrun/deepspeed, train/distributed.py) rank 0 generates and labels the
whole global batch, every rank receives it and trains on its share of whole problems under
DeepSpeed ZeRO; the result is the single-process step on the same global batch.

Methods (`method`): score_stage1, score_stage2, single_turn, star_stage2 (STaR in place of
REINFORCE in Stage II) — the losses registered in train/losses.py.
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from selfcorrect import tracking
from selfcorrect.conversation import messages_for_turn, render
from selfcorrect.device import autocast
from selfcorrect.errors import SelfCorrectError
from selfcorrect.methods import STAGE2
from selfcorrect.rewards import get_verifier
from selfcorrect.rollout import get_backend
from selfcorrect.rollout.backend import Generation, Sampling
from selfcorrect.settings import ScoreConfig
from selfcorrect.train import core, distributed, fingerprint
from selfcorrect.train.losses import AttemptBatch, LossConfig, get_loss

log = logging.getLogger(__name__)


@dataclass
class Rollout:
    """The two attempts of one (problem, sample), with what training needs of each."""

    problem: int
    y1: Generation
    y2: Generation | None
    r1: float
    r2: float
    offline: bool = False  # attempt 1 came from the base rollouts: not trained, only a start


def group_key(r: Rollout) -> tuple[int, bool]:
    """The leave-one-out group of a rollout: its problem, on-policy and offline starts apart
    (they start from different first-attempt distributions)."""
    return r.problem, r.offline


def problem_groups(rollouts: list[Rollout]) -> list[list[Rollout]]:
    """Rollouts grouped by `group_key`, groups in order of first appearance, each group in
    rollout order. Every group is whole, whatever its size (K on-policy samples, or as many
    offline starts as the base rollouts hold), so no baseline mixes two problems."""
    groups: dict[tuple[int, bool], list[Rollout]] = {}
    for r in rollouts:
        groups.setdefault(group_key(r), []).append(r)
    return list(groups.values())


def group_ids(rollouts: list[Rollout]) -> list[int]:
    """[N] dense group index of each rollout (the losses' `AttemptBatch.group`)."""
    index: dict[tuple[int, bool], int] = {}
    return [index.setdefault(group_key(r), len(index)) for r in rollouts]


def continues(r: Rollout) -> bool:
    """Whether attempt 2's prompt begins with attempt 1's prompt and sampled tokens."""
    y1, prompt = r.y1, r.y2.prompt_ids
    head = len(y1.prompt_ids)
    return (
        prompt[:head] == y1.prompt_ids and prompt[head : head + len(y1.token_ids)] == y1.token_ids
    )


def widen(x: torch.Tensor, width: int) -> torch.Tensor:
    """`x` [N, L] right-padded with zeros to [N, width] (padding is off every mask)."""
    return torch.nn.functional.pad(x.float(), (0, width - x.shape[1]))


def loss_config(cfg: ScoreConfig) -> LossConfig:
    """The loss hyperparameters of a run's settings (a method ignores those it never reads:
    selfcorrect/methods.py)."""
    return LossConfig(
        k=cfg.samples,
        alpha=cfg.alpha,
        beta1=cfg.beta1,
        beta2=cfg.beta2,
        kl_estimator=cfg.kl_estimator,
        credit=cfg.credit,
    )


class ScoreRecipe:
    def __init__(
        self,
        cfg: ScoreConfig,
        method: str,
        policy,
        reference,
        tokenizer,
        problems: pd.DataFrame,
        task,
        task_cfg: dict,
        checkpoint_dir: Path,
        offline_starts: pd.DataFrame | None,
        distributed_cfg: dict | None = None,
        inputs=None,
    ):
        self.cfg, self.method = cfg, method
        # plain PyTorch on one process, DeepSpeed ZeRO on several; `policy` runs the forward
        # (the DeepSpeed engine there), `trainer.module` is the model itself
        self.trainer = distributed.setup(policy, cfg, distributed_cfg)
        if cfg.problems_per_step < self.trainer.world:
            raise SelfCorrectError(
                f"score.problems_per_step: {cfg.problems_per_step} is "
                f"fewer than the {self.trainer.world} processes"
            )
        # the frozen reference: under ZeRO-3 partitioned like the policy (train/distributed.py)
        self.policy, self.reference, self.tokenizer = (
            self.trainer.model,
            self.trainer.frozen(reference),
            tokenizer,
        )
        self.problems, self.task, self.task_cfg = problems.reset_index(drop=True), task, task_cfg
        self.index = {pid: i for i, pid in enumerate(self.problems["problem_id"])}
        self.checkpoint_dir = checkpoint_dir
        self.offline = self.group_offline(offline_starts)
        self.verify = get_verifier(task.reward)
        self.references = task.references(self.problems)  # answers; test specs for code
        self.loss_config = loss_config(cfg)
        self.two_attempts = method != "single_turn"
        self.instruction = task.instruction(task_cfg)
        self.first_prompts = [task.first_prompt(q, task_cfg) for q in self.problems["question"]]
        # Only the main process generates (train/distributed.py). hf samples the policy module
        # itself; vllm starts from the init directory's weights and receives the policy's
        # before every step (`update_weights` in `train`); on a GPU it leaves most of the
        # memory to training, which shares the device.
        self.backend = (
            get_backend(
                cfg.backend,
                policy,
                tokenizer,
                batch_size=cfg.generation_batch_size,
                progress=False,
                gpu_memory_utilization=0.3,
                bf16=cfg.sample_bf16,  # opt-in: it changes the sampled tokens
            )
            if self.trainer.is_main
            else None
        )
        # What the checkpoint is trained from (train/fingerprint.py): `inputs()` digests the
        # model and data files, on the main process only (a 15 GB model takes 16-33 s here),
        # and the resolved configuration is added; a checkpoint of other inputs is not resumed.
        digests = inputs() if inputs is not None and self.trainer.is_main else {}
        config = fingerprint.config_digest({"method": method, "task_cfg": task_cfg, **asdict(cfg)})
        self.fingerprint = {**self.trainer.broadcast(digests), "config": config}
        self.best_state: dict | None = None

    # -- setup / resume ---------------------------------------------------------------------
    def setup(self) -> core.TrainState:
        state = self.trainer.load_checkpoint(self.checkpoint_dir, self.fingerprint)
        best = self.checkpoint_dir / "best.pt"
        if state is not None and best.exists() and self.trainer.is_main:
            # on the host, as a checkpoint of any device resumes on any other
            self.best_state = torch.load(best, map_location="cpu", weights_only=True)
        return state or core.TrainState()

    # -- one step's data --------------------------------------------------------------------
    def step_problems(self, step: int) -> list[int]:
        """P problem indices; each epoch is a fresh seeded permutation (resume-exact)."""
        n, p = len(self.problems), self.cfg.problems_per_step
        out = []
        for i in range(step * p, (step + 1) * p):
            epoch, pos = divmod(i, n)
            perm = np.random.default_rng([self.cfg.seed, epoch]).permutation(n)
            out.append(int(perm[pos]))
        return out

    def sampling(self, step: int, turn: int) -> Sampling:
        return Sampling(
            temperature=self.cfg.temperature,
            top_p=1.0,
            max_new_tokens=self.cfg.max_new_tokens,
            seed=self.cfg.seed * 1_000_003 + step * 10 + turn,
        )

    def method_at(self, step: int) -> str:
        """Stage II may interleave Stage I steps (`interleave_stage1_every`, 0 = never)."""
        every = self.cfg.interleave_stage1_every
        if self.method == "score_stage2" and every and (step + 1) % every == 0:
            return "score_stage1"
        return self.method

    def reward(self, problem: int, gen: Generation) -> float:
        return self.verify(gen.text, self.references[problem]).reward

    def collect(self, step: int, batch: list[int]) -> list[Rollout]:
        k = self.cfg.samples
        pairs = [(i, s) for i in batch for s in range(k)]
        ctx1 = [
            render(self.tokenizer, messages_for_turn(self.first_prompts[i], [], ""))
            for i, _ in pairs
        ]
        gens1 = self.backend.generate(ctx1, self.sampling(step, 1))
        rollouts = [Rollout(i, g, None, self.reward(i, g), 0.0) for (i, _), g in zip(pairs, gens1)]
        if self.method_at(step) in STAGE2:
            rollouts += self.offline_rollouts(step)
        if self.two_attempts:
            ctx2 = [
                render(
                    self.tokenizer,
                    messages_for_turn(self.first_prompts[r.problem], [r.y1.text], self.instruction),
                )
                for r in rollouts
            ]
            for r, g in zip(rollouts, self.backend.generate(ctx2, self.sampling(step, 2))):
                r.y2, r.r2 = g, self.reward(r.problem, g)
        return rollouts

    def group_offline(self, offline: pd.DataFrame | None) -> dict[str, list[tuple[str, float]]]:
        """Base first attempts per problem, in sample order, grouped once (not every step)."""
        if offline is None:
            return {}
        ordered = offline.sort_values(["problem_id", "sample"], kind="stable")
        return {
            pid: list(zip(rows["completion"], rows["reward"].astype(float)))
            for pid, rows in ordered.groupby("problem_id", sort=True)
        }

    def offline_rollouts(self, step: int) -> list[Rollout]:
        """Stage II's extra starting states: base-model first attempts, up to K per problem
        (the base rollouts may hold fewer; `update` groups them by problem whatever their
        number)."""
        n_off = round(self.cfg.offline_starts * self.cfg.problems_per_step)
        if not self.offline or n_off == 0:
            return []
        rng = random.Random(self.cfg.seed * 7919 + step)
        pids = rng.sample(sorted(self.offline), n_off)
        out = []
        for pid in pids:
            for text, reward in self.offline[pid][: self.cfg.samples]:
                gen = Generation(text, 0, 0, "stop")
                out.append(Rollout(self.index[pid], gen, None, reward, 0.0, offline=True))
        return out

    # -- the loss ----------------------------------------------------------------------------
    def attempt_batch(self, rollouts: list[Rollout], turn: int) -> AttemptBatch:
        """One attempt of `rollouts`, scored on its own: its prompt and its completion."""
        gens = [r.y1 if turn == 1 else r.y2 for r in rollouts]
        prompts = [g.prompt_ids for g in gens]
        completions = [g.token_ids for g in gens]
        # offline first attempts are starting states only: their tokens carry no loss
        for j, r in enumerate(rollouts):
            if turn == 1 and r.offline:
                prompts[j], completions[j] = (self.tokenizer.bos_token_id or 0,), ()
        ids, attention, mask = core.pack(
            prompts, completions, self.tokenizer.pad_token_id, self.trainer.device
        )
        logp, ref_logp = self.score(ids, attention, core.first_completion(prompts))
        return self.batch(rollouts, turn, logp, ref_logp, mask)

    def attempt_batches(self, rollouts: list[Rollout]) -> tuple[AttemptBatch, AttemptBatch | None]:
        """Both attempts of `rollouts`, from one forward over the second attempts.

        Attempt 2's prompt holds attempt 1: where it begins with attempt 1's prompt and sampled
        tokens (the chat template re-renders them to the same ids), the log-probs of attempt
        1's tokens inside the longer sequence are the ones a forward over attempt 1 alone
        gives (a causal model). Rows where it does not (a BPE tokenizer may split attempt 1's
        text differently) have attempt 1 scored on its own, and their rows put in its place."""
        if not self.two_attempts:
            return self.attempt_batch(rollouts, 1), None
        prompts = [r.y2.prompt_ids for r in rollouts]
        ids, attention, mask2 = core.pack(
            prompts,
            [r.y2.token_ids for r in rollouts],
            self.tokenizer.pad_token_id,
            self.trainer.device,
        )
        mask1 = torch.zeros_like(mask2)
        starts, alone = [], []
        for j, r in enumerate(rollouts):
            if not continues(r):
                alone.append(j)
            elif not r.offline and r.y1.token_ids:  # offline first attempts carry no loss
                begin = len(r.y1.prompt_ids)
                mask1[j, begin : begin + len(r.y1.token_ids)] = True
                starts.append(begin)
        logp, ref_logp = self.score(ids, attention, min(starts, default=min(map(len, prompts))))
        first = [logp, ref_logp, mask1]
        if alone:
            own = self.attempt_batch([rollouts[j] for j in alone], 1)
            rows = torch.tensor(alone, device=mask1.device)
            width = max(logp.shape[1], own.logp.shape[1])
            first = [
                widen(shared, width).index_copy(0, rows, widen(single, width))
                for shared, single in zip(first, (own.logp, own.ref_logp, own.mask))
            ]
        return self.batch(rollouts, 1, *first), self.batch(rollouts, 2, logp, ref_logp, mask2)

    def score(self, ids, attention, start: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy (with grad) and reference log-probs of the tokens from `start` on."""
        with autocast(self.trainer.device, self.cfg.bf16):
            logp = core.token_logprobs(self.policy, ids, attention, start)
            with torch.no_grad():
                ref_logp = core.token_logprobs(self.reference, ids, attention, start)
        return logp, ref_logp

    def batch(self, rollouts, turn: int, logp, ref_logp, mask) -> AttemptBatch:
        device = self.trainer.device  # the policy's (on N processes, this rank's GPU)
        reward = torch.tensor([r.r1 if turn == 1 else r.r2 for r in rollouts], device=device)
        return AttemptBatch(
            logp=logp,
            ref_logp=ref_logp,
            mask=mask.float(),
            reward=reward,
            group=torch.tensor(group_ids(rollouts), device=device),
        )

    def update(self, rollouts: list[Rollout], method: str) -> dict:
        """One optimizer step, accumulated over micro-batches of whole problems (so the
        leave-one-out baseline inside each micro-batch is exact). On N processes each rank
        takes its share of the problems; a rank with fewer micro-batches than another repeats
        its first with weight 0, because every backward under ZeRO is a collective."""
        t = self.trainer
        groups = distributed.shard(problem_groups(rollouts), t.rank, t.world)
        per_micro = self.cfg.micro_batch_problems
        micros = [
            [r for g in groups[s : s + per_micro] for r in g]
            for s in range(0, len(groups), per_micro)
        ]
        n_micro = int(t.all_max([len(micros)])[0])
        self.policy.train()
        totals: dict[str, float] = {}
        for j in range(n_micro):
            micro = micros[j] if j < len(micros) else micros[0]
            weight = len(micro) / len(rollouts) if j < len(micros) else 0.0
            a1, a2 = self.attempt_batches(micro)
            loss, stats = get_loss(method)(a1, a2, self.loss_config)
            scale = (
                distributed.global_weight(len(micro), len(rollouts), t.world)
                if j < len(micros)
                else 0.0
            )
            t.backward(loss * scale, last=j == n_micro - 1)
            for key, value in {"loss": loss.item(), **stats}.items():
                totals[key] = totals.get(key, 0.0) + weight * float(value)
        totals = dict(zip(totals, t.all_sum(list(totals.values()))))
        totals["grad_norm"] = t.step()
        return totals

    # -- telemetry --------------------------------------------------------------------------
    def telemetry(self, step: int, rollouts: list[Rollout], stats: dict, seconds: float) -> dict:
        online = [r for r in rollouts if not r.offline]
        r1 = np.array([r.r1 for r in online])
        row = {
            "step": step + 1,
            "method": self.method_at(step),
            "reward_t1": r1.mean(),
            "truncation_t1": np.mean([r.y1.finish_reason == "length" for r in online]),
        }
        tokens = sum(r.y1.completion_tokens for r in online)
        if self.two_attempts:
            r2 = np.array([r.r2 for r in online])
            row.update(
                reward_t2=r2.mean(),
                edit_rate=np.mean([r.y1.text != r.y2.text for r in online]),
                delta_i2c=np.mean((r1 == 0) & (r2 == 1)),
                delta_c2i=np.mean((r1 == 1) & (r2 == 0)),
                truncation_t2=np.mean([r.y2.finish_reason == "length" for r in rollouts]),
            )
            tokens += sum(r.y2.completion_tokens for r in rollouts)
        row.update({k: v for k, v in stats.items() if k not in row})
        row["tokens_per_s"] = tokens / max(seconds, 1e-9)
        row["seconds"] = seconds
        return {
            k: float(v) if isinstance(v, (np.floating, float, int)) and k != "method" else v
            for k, v in row.items()
        }

    def train_reward(self, row: dict) -> float:
        """The reward the kept checkpoint is chosen by: what the method maximises (unshaped).

        Stage I maximises attempt 2's reward, Stage II both attempts' (Σ_t r_t), single-turn
        RL attempt 1's. Choosing Stage II by attempt 2 alone would keep its first steps and
        throw away the first-attempt gains it exists for.
        """
        if self.method == "score_stage1":
            return row["reward_t2"]
        if self.method in STAGE2:
            return row["reward_t1"] + row["reward_t2"]
        return row["reward_t1"]

    # -- the loop ---------------------------------------------------------------------------
    def step(self, step: int) -> dict:
        """One training step (sample, label, update) and its telemetry row."""
        start = time.perf_counter()
        model = self.trainer.generation_model()  # a collective under ZeRO-3
        rollouts = None
        if self.trainer.is_main:
            self.backend.update_weights(model)  # in place; after a resume, too
            rollouts = self.collect(step, self.step_problems(step))
        rollouts = self.trainer.broadcast(rollouts)
        stats = self.update(rollouts, self.method_at(step))
        return self.telemetry(step, rollouts, stats, time.perf_counter() - start)

    def train(self) -> pd.DataFrame:
        state = self.setup()
        steps = self.cfg.steps
        bar = tqdm(
            range(state.step, steps),
            initial=state.step,
            total=steps,
            desc=self.method,
            disable=not self.trainer.is_main,
        )
        for step in bar:
            row = self.step(step)
            state.telemetry.append(row)
            state.step = step + 1
            tracking.log_step("train", row, state.step)
            self.keep_best(state, row)
            bar.set_postfix(
                r1=f"{row['reward_t1']:.2f}",
                r2=f"{row.get('reward_t2', 0):.2f}",
                edit=f"{row.get('edit_rate', 0):.2f}",
            )
            if state.step % self.cfg.checkpoint_every == 0 or state.step == steps:
                self.trainer.save_checkpoint(self.checkpoint_dir, state, self.fingerprint)
        self.restore_kept(state)
        return pd.DataFrame(state.telemetry)

    def keep_best(self, state: core.TrainState, row: dict) -> None:
        """Track the best moving-average training reward (one step's reward is noisy)."""
        width = self.cfg.best_window
        if self.cfg.keep != "best" or len(state.telemetry) < min(width, self.cfg.steps):
            return  # a partial window is one noisy step, not a trend
        window = [self.train_reward(r) for r in state.telemetry[-width:]]
        score = float(np.mean(window))
        if score > state.best_reward and not math.isnan(score):
            state.best_reward, state.best_step = score, state.step
            self.best_state = self.trainer.full_state_dict()  # rank 0 only; a collective
            if self.trainer.is_main:
                with core.atomic_path(self.checkpoint_dir / "best.pt") as tmp:
                    torch.save(self.best_state, tmp)

    def restore_kept(self, state: core.TrainState) -> None:
        # every rank takes the same branch (the telemetry is the same on all of them)
        if self.cfg.keep == "best" and state.best_step >= 0:
            self.trainer.load_full_state_dict(self.best_state)
            log.info(
                "kept step %d (moving-average training reward %.3f)",
                state.best_step,
                state.best_reward,
            )
