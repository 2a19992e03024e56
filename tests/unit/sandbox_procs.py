"""What the sandbox tests share: a trivial problem, a host directory a sandboxed program must
not reach, and a check that a sandbox left no process of its uid behind (imported by test_sandbox.py and test_sandbox_attacks.py)."""

from __future__ import annotations

import stat
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


def open_host_dir(d: Path) -> Path:
    """Make `d` a world-writable host directory on a world-readable path, holding a world-readable
    secret.txt; return the secret's path. Only the sandbox may stop a program reaching them."""
    d.chmod(0o777)  # even a world-writable host directory must stay untouched
    for p in d.parents:  # pytest's base is 0700 root: open the path so only the sandbox stops it
        if str(p).startswith("/tmp/"):
            p.chmod(p.stat().st_mode | stat.S_IXOTH | stat.S_IROTH)
    secret = d / "secret.txt"
    secret.write_text("host-secret-42")
    secret.chmod(0o644)
    return secret
