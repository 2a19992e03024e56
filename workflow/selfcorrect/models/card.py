"""What every model directory carries besides its weights: a model card and its config.

- README.md, a Hugging Face model card: YAML front matter (base model, library, tags) and a
  short text saying which method made the model, from what, on which data, with which config
  hash, and the headline training numbers;
- selfcorrect.yaml, the resolved configuration the stage ran with (every default filled in),
  so the directory alone says how to make it again.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import yaml

CARD = "README.md"
CONFIG = "selfcorrect.yaml"

METHODS = {
    "base": "the base model every method starts from",
    "score_stage1": "SCoRe Stage I (attempt 2 trained, attempt 1 held near the base by a KL)",
    "score_stage2": "SCoRe Stage II (both attempts trained, reward shaped with a bonus)",
    "single_turn": "single-attempt RL (the ablation without multi-turn training)",
    "star_stage2": "SCoRe with STaR in place of REINFORCE in Stage II",
    "rise": "RISE (reward-weighted regression on improved multi-turn rollouts)",
    "sft": "supervised fine-tuning on filtered self-generated data (STaR / Pair-SFT)",
}


def config_hash(cfg: dict) -> str:
    return hashlib.sha256(json.dumps(cfg, sort_keys=True, default=str).encode()).hexdigest()[:12]


def write_card(
    out: Path,
    *,
    name: str,
    method: str,
    cfg: dict,
    started_from: str,
    data: str,
    metrics: dict | None = None,
    base_model: str | None = None,
) -> None:
    """Write README.md and selfcorrect.yaml into the model directory `out`."""
    out = Path(out)
    (out / CONFIG).write_text(yaml.safe_dump(cfg, sort_keys=True))
    digest = config_hash(cfg)
    front = {"library_name": "transformers", "tags": ["selfcorrect", method]}
    if base_model:
        front["base_model"] = base_model
    if "apache" in str(cfg.get("license", "")).lower():
        front["license"] = "apache-2.0"
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).strip(),
        "---",
        "",
        f"# {name}",
        "",
        f"Made by selfcorrect: {METHODS.get(method, method)}.",
        "",
        f"- method: `{method}`",
        f"- started from: `{started_from}`",
        f"- data: {data}",
        f"- config: `{CONFIG}` in this directory (hash `{digest}`)",
    ]
    shown = {k: v for k, v in (metrics or {}).items() if _finite(v)}
    if shown:
        lines += ["", "| training metric | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in shown.items()]
    lines += [
        "",
        (
            "Evaluation results (accuracy per attempt, Δ(t1,t2), transitions) are in the run's "
            "`results/eval/` and `results/report/`."
        ),
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        f'model = AutoModelForCausalLM.from_pretrained("results/models/{name}")',
        f'tokenizer = AutoTokenizer.from_pretrained("results/models/{name}")',
        "```",
        "",
    ]
    (out / CARD).write_text("\n".join(lines))


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def training_metrics(telemetry) -> dict:
    """Headline numbers of a training log: steps, and the last step's rewards and KLs."""
    if telemetry is None or len(telemetry) == 0:
        return {}
    last = telemetry.iloc[-1]
    keys = [k for k in telemetry.columns if k.startswith(("reward", "kl", "loss"))]
    return {"steps": len(telemetry), **{f"last {k}": float(last[k]) for k in keys}}


def trained_model_files(
    telemetry, *, out: str | Path, method: str, cfg: dict, init: str, data: str
):
    """The `extra(tmp)` of a trainer's save_pretrained: the training log and the card."""

    def write(tmp: Path) -> None:
        telemetry.to_parquet(tmp / TRAIN_LOG, index=False)
        write_card(
            tmp,
            name=Path(out).name,
            method=method,
            cfg=cfg,
            started_from=init,
            data=data,
            metrics=training_metrics(telemetry),
        )

    return write


TRAIN_LOG = "train_log.parquet"
