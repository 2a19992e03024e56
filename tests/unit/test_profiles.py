"""The Slurm profiles: option names this plugin version knows, a mapping for every GPU rule, and
a local overlay that differs from profiles/slurm only in what the one-node test cluster needs."""

import dataclasses
import re

import pytest
import yaml

# what tests/slurm/local_slurm.sh's cluster needs that a real one does not
LOCAL_ONLY = {
    "jobs",
    "latency-wait",
    "slurm-status-command",
    "slurm-init-seconds-before-status-checks",
    "seconds-between-status-checks",
    "max-threads",
    "set-resources",
}
GPU_FAMILIES = ("generate", "train")


def load(root, name):
    return yaml.safe_load((root / "profiles" / name / "config.yaml").read_text())


def gpu_rules(root) -> set[str]:
    """Rules whose resources come from a GPU family (rules/*.smk: `**needs("generate")`), and
    those `use rule <it> as <name> with:` derives from them, which inherit its resources."""
    rules, derived = set(), {}
    for smk in (root / "rules").glob("*.smk"):
        text = smk.read_text()
        for block in re.split(r"(?m)^(?=rule |use rule )", text):
            if block.startswith("use rule "):
                parent, name = re.match(r"use rule (\w+) as (\w+)", block).groups()
                derived[name] = parent
            elif block.startswith("rule "):
                name = block.removeprefix("rule ").split(":", 1)[0]
            else:
                continue
            if re.search(rf'needs\("({"|".join(GPU_FAMILIES)})"\)', block):
                rules.add(name)
    return rules | {name for name, parent in derived.items() if parent in rules}


def test_slurm_options_exist_in_the_installed_plugin(root):
    plugin = pytest.importorskip("snakemake_executor_plugin_slurm")
    fields = {f.name.replace("_", "-") for f in dataclasses.fields(plugin.ExecutorSettings)}
    for name in ("slurm", "slurm-local"):
        for key in load(root, name):
            if key.startswith("slurm-"):
                assert key.removeprefix("slurm-") in fields, f"profiles/{name}: {key}"


def test_every_gpu_rule_has_a_partition_and_gpu_model(root):
    mapping = load(root, "slurm")["set-resources"]
    assert set(mapping) == gpu_rules(root)
    assert {"rollout", "score_run", "rise_train"} <= set(mapping)
    for rule, res in mapping.items():
        assert {"slurm_partition", "gpu_model", "cpus_per_gpu"} <= set(res), rule


def test_local_overlay_differs_only_in_what_the_test_cluster_needs(root):
    real, local = load(root, "slurm"), load(root, "slurm-local")
    assert set(local) <= LOCAL_ONLY
    assert "executor" not in local and "default-resources" not in local
    assert set(local["set-resources"]) == set(real["set-resources"])
    for rule, res in local["set-resources"].items():
        assert res["cpus_per_gpu"] == 1
        same = {k: v for k, v in res.items() if k != "cpus_per_gpu"}
        assert same == {
            k: v for k, v in real["set-resources"][rule].items() if k != "cpus_per_gpu"
        }, rule
