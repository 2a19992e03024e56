"""Per-step training telemetry to TensorBoard, as TRL's and verl's users expect.

The trainers call `log_step(scope, row, step)` once per optimisation step with the telemetry row
they also keep for train_log.parquet; it writes each numeric value as the scalar `scope/key`.
Nothing is written unless a logdir was opened (`selfcorrect --tensorboard DIR …`, switched by the
config key `tracking.tensorboard`), and only rank 0 of a multi-process run writes.
`tensorboard --logdir results/tensorboard` then shows every run side by side, offline.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import os
from pathlib import Path

from selfcorrect.errors import SelfCorrectError


class Tracker:
    """A TensorBoard event-file writer for one run; `Tracker(None)` writes nothing."""

    def __init__(self, logdir: str | Path | None):
        self.logdir = Path(logdir) if logdir else None
        self._writer = None
        if self.logdir is None or int(os.environ.get("RANK", "0")) != 0:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as exc:  # torch's writer needs the `tensorboard` package
            raise SelfCorrectError(
                f"tracking.tensorboard: cannot write to {self.logdir} ({exc}); "
                "install the `tracking` extra: pip install 'selfcorrect[tracking]'"
            ) from None
        self.logdir.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(str(self.logdir))

    @property
    def enabled(self) -> bool:
        return self._writer is not None

    def log(self, scope: str, row: dict, step: int) -> int:
        """Write the row's finite numbers as `scope/key` at `step`; return how many."""
        if self._writer is None:
            return 0
        written = 0
        for key, value in row.items():
            if key == "step" or isinstance(value, bool) or not isinstance(value, numbers.Real):
                continue
            if math.isfinite(value):
                self._writer.add_scalar(f"{scope}/{key}", float(value), step)
                written += 1
        return written

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


_active = Tracker(None)


@contextlib.contextmanager
def tracking(logdir: str | Path | None):
    """Make a tracker writing to `logdir` (None: none) the one `log_step` uses, then close it."""
    global _active
    previous, _active = _active, Tracker(logdir)
    try:
        yield _active
    finally:
        _active.close()
        _active = previous


def log_step(scope: str, row: dict, step: int) -> int:
    """Log one training step's telemetry to the active tracker (a no-op when none is open)."""
    return _active.log(scope, row, step)
