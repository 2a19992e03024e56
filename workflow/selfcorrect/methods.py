"""Facts about each SCoRe training method, read by both the rules and the trainer.

A method is a loss in train/losses.py (`--method` names it). Which stage it is, whether it
starts from the base model's offline first attempts, and which `score` settings it never reads
used to be listed once in rules/common.smk and again in train/score.py; a method added to one
list and not the other would train one way and be configured another. The rules leave a
method's unread settings out of its `--cfg`, so changing them does not rerun it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Settings only Stage II reads.
STAGE2_ONLY = frozenset({"alpha", "offline_starts", "interleave_stage1_every", "credit"})


@dataclass(frozen=True)
class Method:
    name: str
    # Stage II (and its STaR ablation) trains both attempts and also starts from offline base
    # attempts; the others train on on-policy attempts only
    stage2: bool
    unused: frozenset[str]  # `score` settings the method never reads


METHODS = {
    m.name: m
    for m in (
        Method("score_stage1", stage2=False, unused=STAGE2_ONLY),
        Method("single_turn", stage2=False, unused=STAGE2_ONLY | {"beta2"}),
        # beta2 is read only by the Stage I steps that `interleave_stage1_every` mixes in
        Method("score_stage2", stage2=True, unused=frozenset()),
        Method(
            "star_stage2",
            stage2=True,
            unused=frozenset({"alpha", "interleave_stage1_every", "beta2", "credit"}),
        ),
    )
}
STAGE2 = frozenset(name for name, m in METHODS.items() if m.stage2)


def unused_settings(method: str, score: dict) -> frozenset[str]:
    """The `score` settings `method` never reads under this config."""
    unused = METHODS[method].unused
    if method == "score_stage2" and not score["interleave_stage1_every"]:
        unused |= {"beta2"}  # no Stage I step is interleaved: beta2 is never read
    return unused
