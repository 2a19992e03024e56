"""Typed settings of each `selfcorrect <stage> --cfg`, built once from the validated config.

Defaults live in workflow/schemas/config.schema.yaml only. `parse` checks a stage's `--cfg`
against the schema's section (config.validate_stage_cfg: unknown keys and wrong types are
one-line errors, left-out keys take the schema's defaults) and builds the stage's dataclass
from the result, so no field here has a default of its own and trainers and stages read
attributes, never `cfg.get(key, fallback)`. A schema key without a field here (or a field
without a schema key) fails the first `parse`; tests/unit/test_settings.py parses every stage.

The JSON the rules pass is unchanged: `dataclasses.asdict` of a parsed object is the validated
`--cfg` again (what fingerprints and model cards record), an optional key left out as None.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from selfcorrect.errors import SelfCorrectError

T = TypeVar("T")


@dataclass(frozen=True)
class OptimConfig:
    """What every trainer's optimizer and forward pass read (train/core.py, distributed.py)."""

    lr: float  # peak learning rate of AdamW, reached after the linear warm-up
    weight_decay: float  # AdamW's decoupled weight decay
    warmup_steps: int  # steps of linear warm-up, then constant
    max_grad_norm: float  # gradients are clipped to this global norm
    trainable_layers: int  # train only the top N decoder layers and the final norm (0: all)
    bf16: bool  # bf16 autocast for the forward passes
    seed: int  # seeds the data order, the sampling and the initial torch state


@dataclass(frozen=True)
class ScoreConfig(OptimConfig):
    """`score` of `selfcorrect score --cfg`: one SCoRe stage or ablation (train/score.py)."""

    steps: int  # gradient steps of this stage (the workflow resolves stage1/2_steps into it)
    problems_per_step: int  # P: problems per step
    samples: int  # K: samples per problem; the leave-one-out baseline uses them
    temperature: float  # sampling temperature of both attempts
    max_new_tokens: int  # generation length of each attempt
    micro_batch_problems: int  # gradient accumulation unit, in whole problems
    generation_batch_size: int  # prompts per rollout engine call
    alpha: float  # Stage II shaping bonus on r2 - r1
    beta1: float  # KL weight on every trained attempt
    beta2: float  # Stage I's strong KL weight on attempt 1
    kl_estimator: str  # k1 | k2 | k3 (train/losses.py KL_ESTIMATORS)
    offline_starts: float  # Stage II: base first attempts added, as a share of P
    credit: str  # Stage II credit: per_attempt | episode
    interleave_stage1_every: int  # Stage II: every N-th step is a Stage I step (0: never)
    checkpoint_every: int  # steps between resumable checkpoints
    keep: str  # best | last: the weights kept at the end
    best_window: int  # steps in the moving average that picks the best checkpoint
    backend: str  # rollout engine of the online attempts: auto | hf | vllm
    sample_bf16: bool  # the online attempts sampled under bf16 autocast too (hf; opt-in)


@dataclass(frozen=True)
class ScoreStage:
    """`selfcorrect score --cfg`."""

    task_cfg: dict  # the training task's settings (the task reads them)
    score: ScoreConfig  # the run's SCoRe settings


@dataclass(frozen=True)
class FinetuneConfig(OptimConfig):
    """`baselines.train`, `selfcorrect sft --cfg`: supervised fine-tuning (train/rise.py)."""

    epochs: int  # passes over the data
    problems_per_batch: int  # whole problems per optimizer step


@dataclass(frozen=True)
class RiseTrainConfig(FinetuneConfig):
    """`rise.train`, `selfcorrect rise-train --cfg`: RISE step 3 (train/rise.py)."""

    train_from: str  # base | previous: what M_k is fine-tuned from (the rules read it)
    loss: str  # rwr | awr: the weighting of the regression (train/losses.py rise_*)
    tau: float  # temperature of the exp(r / tau) weights


@dataclass(frozen=True)
class RiseImproveConfig:
    """`rise.improve`, `selfcorrect rise-improve --cfg`: RISE step 2, improved actions."""

    teacher: str  # self | solver | a model directory or hub id
    best_of: int  # N: samples per state
    temperature: float  # sampling temperature of the candidates
    max_new_tokens: int  # generation length of a candidate
    selection: str  # all | better | best | success (train/rise_data.py)
    turn1_target: str  # best_of_n | on_policy: the target at turn 1
    batch_size: int  # prompts per rollout engine call
    seed: int  # sampling seed
    backend: str  # rollout engine: auto | hf | vllm


@dataclass(frozen=True)
class EngineConfig:
    """`rollout` of `selfcorrect rollout --cfg`: the engine and the conversation's shape."""

    backend: str  # auto | hf | vllm
    batch_size: int  # prompts per engine call
    turns: int  # attempts per conversation
    window: int  # keep only the last w attempts in context (0: all)
    limit: int | None  # the first N problems only (None: all)


@dataclass(frozen=True)
class SamplingConfig:
    """`$defs/sampling`: how one split is sampled."""

    samples: int  # parallel samples per problem
    temperature: float  # 0 is greedy
    top_p: float  # nucleus sampling mass
    max_new_tokens: int  # generation length of an attempt
    seed: int  # sampling seed


@dataclass(frozen=True)
class RolloutStage:
    """`selfcorrect rollout --cfg`."""

    task_cfg: dict  # the task's settings, with a prompting baseline's instructions
    rollout: EngineConfig  # the engine and the conversation's shape
    sampling: SamplingConfig  # the split's sampling


@dataclass(frozen=True)
class TinyConfig:
    """`base_model.tiny`: the tiny Llama's shape (models/tiny.py)."""

    hidden_size: int  # model width
    intermediate_size: int  # MLP width
    layers: int  # decoder layers
    heads: int  # attention heads (and key-value heads)
    max_positions: int  # longest sequence


@dataclass(frozen=True)
class PretrainConfig:
    """`base_model.pretrain`: pre-training the tiny model (models/pretrain.py)."""

    steps: int  # optimizer steps
    batch_size: int  # transcripts per step
    lr: float  # peak learning rate (warm-up, then cosine decay to 10%)
    warmup_steps: int  # steps of linear warm-up
    weight_decay: float  # AdamW's weight decay
    bf16: bool  # bf16 autocast
    eval_every: int  # held-out accuracy is logged every N steps
    eval_problems: int  # held-out problems of that check
    eval_max_new_tokens: int  # generation length in that check
    seed: int  # initialisation, data and the check's problems


@dataclass(frozen=True)
class BaseModelConfig:
    """`base_model`: where the model every method starts from comes from."""

    source: str  # tiny, a hub id, a local directory or a GGUF file
    dtype: str  # weights dtype a real source is saved in (auto: its own)
    tiny: TinyConfig  # the tiny model's shape (source: tiny only)
    pretrain: PretrainConfig  # the tiny model's pre-training (source: tiny only)


@dataclass(frozen=True)
class BaseModelStage:
    """`selfcorrect base-model --cfg`."""

    base_model: BaseModelConfig  # the model's source and, for tiny, its shape and training
    task: str  # the task the tiny model is pre-trained on
    task_cfg: dict  # that task's settings, defaults filled in
    batch_size: int  # prompts per call of the held-out check


@dataclass(frozen=True)
class DistributedConfig:
    """`distributed`, `selfcorrect --distributed`: DeepSpeed on several processes."""

    zero_stage: int  # 2 | 3: what ZeRO partitions
    offload: bool  # optimizer states (and ZeRO-3 parameters) in CPU memory


# the typed object of each stage that takes a `--cfg` (config._stage_schemas has their schemas)
STAGES: dict[str, type] = {
    "base-model": BaseModelStage,
    "rollout": RolloutStage,
    "score": ScoreStage,
    "rise-improve": RiseImproveConfig,
    "rise-train": RiseTrainConfig,
    "sft": FinetuneConfig,
    "distributed": DistributedConfig,
}


def _optional(kind: Any) -> bool:
    return isinstance(kind, types.UnionType) and type(None) in typing.get_args(kind)


def build(cls: type[T], data: Mapping) -> T:
    """`cls` from a validated mapping, nested dataclasses too. Every field must be there
    (an optional one may be absent: None), and every key must be a field."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    extra = sorted(set(data) - set(names))
    missing = [n for n in names if n not in data and not _optional(hints[n])]
    if extra or missing:
        raise SelfCorrectError(
            f"{cls.__name__}: the schema and the settings differ "
            f"(keys without a field: {extra}; fields without a key: {missing})"
        )
    values = {}
    for name in names:
        value, kind = data.get(name), hints[name]
        values[name] = build(kind, value) if dataclasses.is_dataclass(kind) else value
    return cls(**values)


def parse(stage: str, cfg: dict, source: str = "--cfg"):
    """A stage's `--cfg`, validated with the schema's defaults filled in, as its typed object."""
    from selfcorrect.config import validate_stage_cfg

    return build(STAGES[stage], validate_stage_cfg(stage, cfg, source))
