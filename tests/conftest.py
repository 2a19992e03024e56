import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow"))
# Two cores: keep every test's torch to one thread so parallel work never oversubscribes.
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def pytest_report_header(config):
    """The code sandbox's isolation mode, so a run's log says what its sandbox tests ran under."""
    try:
        from selfcorrect.rewards.sandbox import isolation_mode

        return f"code sandbox isolation: {isolation_mode()}"
    except Exception as exc:  # noqa: BLE001 - a header never fails the run
        return f"code sandbox isolation: none ({exc})"
