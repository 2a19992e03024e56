"""Markers shared by the test modules."""

import importlib.util

import pytest


def needs(module: str, reason: str = "") -> pytest.MarkDecorator:
    """Skip unless `module` is installed. find_spec, not importorskip: collecting the tests (on
    every pytest worker) does not import it."""
    return pytest.mark.skipif(
        importlib.util.find_spec(module) is None, reason=reason or f"{module} is not installed"
    )
