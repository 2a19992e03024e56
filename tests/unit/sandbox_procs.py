"""What the sandbox tests share: a trivial problem and a check that a sandbox left no process
of its uid behind (imported by test_sandbox.py and test_sandbox_attacks.py)."""

from __future__ import annotations

from pathlib import Path

from selfcorrect.rewards.sandbox import UID_RANGE, Sandbox

TEST = ["assert f(1) == 2", "assert f(5) == 6"]
GOOD = "def f(x):\n    return x + 1\n"


def leftover_processes(box: Sandbox) -> list[int]:
    """Processes of the sandbox's uid other than the sandbox itself (bwrap and the zygote)."""
    mine = {box.proc.pid} | children(box.proc.pid)
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            uid = entry.stat().st_uid
        except FileNotFoundError:
            continue
        if UID_RANGE[0] <= uid < UID_RANGE[1] and int(entry.name) not in mine and uid == box.uid:
            found.append(int(entry.name))
    return found


def children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return set()
    return {int(c) for c in text.split()}
