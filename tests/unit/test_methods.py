"""The method facts the rules and the trainer share (selfcorrect/methods.py)."""

from selfcorrect.methods import METHODS, STAGE2, unused_settings
from selfcorrect.train.losses import LOSSES


def test_every_method_is_a_registered_loss():
    assert set(METHODS) <= set(LOSSES)


def test_stage2_methods_are_those_that_train_both_attempts():
    assert STAGE2 == {"score_stage2", "star_stage2"}


def test_beta2_is_dropped_from_stage2_only_when_no_stage1_step_is_interleaved():
    assert "beta2" in unused_settings("score_stage2", {"interleave_stage1_every": 0})
    assert "beta2" not in unused_settings("score_stage2", {"interleave_stage1_every": 3})
    assert unused_settings("score_stage1", {"interleave_stage1_every": 3}) >= {"alpha", "credit"}
