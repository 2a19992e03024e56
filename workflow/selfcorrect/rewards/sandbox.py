"""Run untrusted Python programs against their tests, isolated, and return a verdict.

Every program is treated as hostile. Each worker process owns one long-lived sandbox in which a
zygote (harness.py) forks a fresh child per program and cleans up after it; layers, outermost
first (what a run used is reported as `isolation`):

- an unprivileged user: when we run as root (CI does), the sandbox runs under a uid of its own
  (random in UID_RANGE: RLIMIT_NPROC, which counts per user, is never shared with another
  sandbox, and killing "every process of that uid" hits nothing else) via `setpriv`, with no
  capabilities and no_new_privs; bubblewrap started as root would leave root's capabilities
  inside;
- bubblewrap (`bwrap`, Debian's `bubblewrap`) when installed: new user, PID, network, IPC and
  UTS namespaces (no network at all), only /usr mounted (read-only), everything read-only but
  a size-capped tmpfs for scratch, a new session (no terminal injection), killed with its parent; the zygote is PID 1
  of the namespace, so every orphan comes back to it and the program cannot signal it;
- per program, in the forked child: rlimits on CPU seconds, address space, processes, file size,
  open files and core dumps; a wall-clock limit after which the zygote kills the child, then
  kills every other process in the sandbox and deletes the child's scratch directory before
  the next program; stdout to /dev/null, stderr to a file capped by RLIMIT_FSIZE;
- inside the child, the harness: an audit hook that stops forbidden operations, builtins the
  program cannot patch, results that must be plain data, and a pass signal carrying a per-run
  random token the program never sees (harness.py says what that protects and what not).

`isolation` is "bwrap+uid" (root + bubblewrap), "bwrap" (non-root + bubblewrap), "uid+rlimits"
(root, no bubblewrap: own uid, rlimits, every process of that uid killed after each program; the
file system and network are guarded by file permissions and the audit hook) or "rlimits"
(non-root, no bubblewrap: rlimits and process groups only, our own uid — the weakest).
SELFCORRECT_SANDBOX=rlimits forces the fallback, =bwrap insists on bubblewrap.
"""

from __future__ import annotations

import atexit
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from selfcorrect.errors import SelfCorrectError

HARNESS = (Path(__file__).with_name("harness.py")).read_text()
UID_RANGE = (200_000, 1_200_000)  # no account uses these; two sandboxes practically never share one
SYSTEM_PYTHON = "/usr/bin/python3"  # readable by any user, unlike a venv under /root
VERDICTS = ("pass", "fail", "timeout", "crash", "memory", "forbidden")


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0  # wall-clock seconds for the program and all its tests
    cpu_seconds: int = 10  # RLIMIT_CPU
    memory_mb: int = 1024  # RLIMIT_AS (address space)
    processes: int = 64  # RLIMIT_NPROC for the run's own uid (threads count too)
    file_mb: int = 16  # RLIMIT_FSIZE, and the size of bubblewrap's scratch tmpfs
    open_files: int = 256  # RLIMIT_NOFILE
    audit: bool = True  # the harness's audit hook; False only to test the OS layers alone
    output_bytes: int = 4096  # of stderr kept (stdout goes to /dev/null; RLIMIT_FSIZE caps stderr)


@dataclass
class Outcome:
    verdict: str  # one of VERDICTS
    isolation: str
    failing_test: str = ""  # the test line that failed, when known
    detail: str = ""  # the harness's report or why there was none
    tests_run: int = 0
    seconds: float = 0.0
    stderr: str = ""  # the head of the program's stderr
    returncode: int | None = None

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


@lru_cache(maxsize=1)
def isolation_mode() -> str:
    """What this machine offers, checked once per process (and honoured by SELFCORRECT_SANDBOX)."""
    wanted = os.environ.get("SELFCORRECT_SANDBOX", "auto")
    root = os.geteuid() == 0
    bwrap = shutil.which("bwrap")
    if wanted not in ("auto", "bwrap", "rlimits"):
        raise SelfCorrectError(f"SELFCORRECT_SANDBOX={wanted!r}: expected auto, bwrap or rlimits")
    if root and not (shutil.which("setpriv") and os.access(SYSTEM_PYTHON, os.X_OK)):
        raise SelfCorrectError(
            f"running as root, the sandbox needs setpriv (util-linux) and {SYSTEM_PYTHON} "
            "to drop privileges; install them or run as an unprivileged user"
        )
    use_bwrap = bool(bwrap) and wanted != "rlimits" and _bwrap_works(root)
    if wanted == "bwrap" and not use_bwrap:
        raise SelfCorrectError(
            "SELFCORRECT_SANDBOX=bwrap but bubblewrap is missing or cannot start"
        )
    if use_bwrap:
        return "bwrap+uid" if root else "bwrap"
    return "uid+rlimits" if root else "rlimits"


def _bwrap_works(root: bool) -> bool:
    """bwrap needs unprivileged user namespaces; some kernels and containers refuse them."""
    probe = _command("bwrap+uid" if root else "bwrap", _fresh_uid(), ["/bin/true"], 1 << 20)
    try:
        return subprocess.run(probe, capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _fresh_uid() -> int:
    return UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])


def _interpreter(mode: str) -> str:
    # A dropped uid cannot read /root/.pyenv (where the venv's python lives), and bwrap shows
    # only /usr; as an unprivileged caller our own interpreter is readable.
    return SYSTEM_PYTHON if mode in ("bwrap+uid", "bwrap", "uid+rlimits") else sys.executable


def _command(mode: str, uid: int, argv: list[str], scratch_bytes: int) -> list[str]:
    prefix: list[str] = []
    if mode in ("bwrap+uid", "uid+rlimits"):
        prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                  "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs"]
    if mode.startswith("bwrap"):
        prefix += [
            "bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
            "--as-pid-1",  # the zygote is PID 1: orphans come back to it, nothing can kill it
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin",
            "--proc", "/proc", "--dev", "/dev",
            "--size", str(scratch_bytes), "--tmpfs", "/tmp",
            # bwrap's own / and /dev are writable tmpfs (RAM, no size cap): make them read-only
            "--remount-ro", "/dev", "--remount-ro", "/",
            "--chdir", "/tmp", "--clearenv",
            "--setenv", "PATH", "/usr/bin", "--setenv", "HOME", "/tmp",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "OMP_NUM_THREADS", "1",
        ]
    return prefix + argv


class Sandbox:
    """One long-lived sandbox (a zygote inside it, harness.py) that runs programs one at a time.

    Each worker process owns one (`sandbox()`); it is restarted whenever it dies or stops
    answering, and killed with its owner (bubblewrap's --die-with-parent).
    """

    def __init__(self, mode: str | None = None):
        self.mode = mode or isolation_mode()
        self.uid = _fresh_uid()
        self.proc: subprocess.Popen | None = None
        self.home: str | None = None

    def start(self) -> None:
        mode = self.mode
        cwd = None
        if not mode.startswith("bwrap"):  # bubblewrap brings its own tmpfs scratch directory
            self.home = cwd = tempfile.mkdtemp(prefix="selfcorrect-sandbox-")
            if mode == "uid+rlimits":
                os.chown(cwd, self.uid, self.uid)
        # kill(-1) is safe only where the sandbox has a uid (or a PID namespace) of its own
        sweep = "sweep" if mode != "rlimits" else "group"
        argv = [_interpreter(mode), "-I", "-S", "-B", "-c", HARNESS, sweep]
        env = {"PATH": "/usr/bin:/bin", "HOME": cwd or "/tmp", "LANG": "C.UTF-8",
               "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            _command(mode, self.uid, argv, Limits().file_mb << 20),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=cwd, env=env, start_new_session=True,
        )

    def close(self) -> None:
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc.stdin.close()
            self.proc.stdout.close()
            if self.mode == "uid+rlimits":
                _kill_uid(self.uid)
            self.proc = None
        if self.home:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None

    def run(self, program: str, tests: list[str], setup: str = "", *,
            limits: Limits = Limits()) -> Outcome:
        """Run `program`, then `setup`, then each test; never raises for what the program does."""
        start = time.monotonic()
        fields = [program, setup, *tests]
        if any("\0" in f for f in fields):  # the framing's separator; Python source has none
            return Outcome("crash", self.mode, detail="source contains a null byte")
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self.start()
        token = secrets.token_hex(16)
        numbers = [limits.timeout, limits.cpu_seconds, limits.memory_mb, limits.processes,
                   limits.file_mb, limits.open_files, int(limits.audit)]
        payload = "\0".join([token, *map(str, numbers), *fields]).encode("utf-8", "replace")
        # the zygote enforces the wall clock; this backstop only catches a sandbox that hangs
        reply = self._exchange(len(payload).to_bytes(8, "big") + payload, limits.timeout + 10)
        if reply is None:
            self.close()
            return Outcome("crash", self.mode, detail="the sandbox stopped answering",
                           seconds=time.monotonic() - start)
        code, timed_out, report, stderr = reply.decode("utf-8", "replace").split("\0", 3)
        outcome = _verdict(token, len(tests), report, stderr[: limits.output_bytes], int(code),
                           timed_out == "1", self.mode, limits)
        outcome.seconds = time.monotonic() - start
        return outcome

    def _exchange(self, request: bytes, wait: float) -> bytes | None:
        try:
            self.proc.stdin.write(request)
            self.proc.stdin.flush()
        except OSError:
            return None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + wait
        data = b""
        need = 8
        while len(data) < need:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, max(need - len(data), 65536))
            if not chunk:
                return None
            data += chunk
            if need == 8 and len(data) >= 8:
                need = 8 + int.from_bytes(data[:8], "big")
        return data[8:need]


_SANDBOX: dict[int, Sandbox] = {}


def sandbox() -> Sandbox:
    """This process's sandbox (a forked worker never reuses its parent's)."""
    pid = os.getpid()
    if pid not in _SANDBOX:
        _SANDBOX.clear()
        box = _SANDBOX[pid] = Sandbox()
        atexit.register(box.close)
        # pool workers leave through multiprocessing's exit path, which skips atexit
        from multiprocessing.util import Finalize

        Finalize(box, box.close, exitpriority=10)
    return _SANDBOX[pid]


def run_program(program: str, tests: list[str], setup: str = "", *,
                limits: Limits = Limits()) -> Outcome:
    """Run one program against its tests in this process's sandbox."""
    return sandbox().run(program, tests, setup, limits=limits)


def _kill_uid(uid: int) -> None:
    """Kill every process of `uid`: a child takes that uid and signals -1 (all it may signal)."""
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        os._exit(0)
    os.waitpid(pid, 0)


def _verdict(token, n_tests, report, stderr, returncode, timed_out, mode, limits) -> Outcome:
    base = dict(isolation=mode, stderr=stderr, returncode=returncode)
    for line in report.splitlines():
        parts = line.split(" ", 3)
        # Only a line with this run's token counts: the program never saw the token.
        if len(parts) < 3 or not secrets.compare_digest(parts[0], token):
            continue
        verdict, index, detail = parts[1], int(parts[2]), parts[3] if len(parts) > 3 else ""
        if verdict == "pass":
            if index != n_tests:
                return Outcome("crash", detail=f"harness ran {index} of {n_tests} tests", **base)
            return Outcome("pass", tests_run=n_tests, **base)
        if verdict in ("fail", "memory", "crash", "forbidden"):
            failing = detail.split(" -> ", 1)[0] if verdict == "fail" else ""
            return Outcome(verdict, failing_test=failing, detail=detail,
                           tests_run=max(index, 0), **base)
    if timed_out:
        return Outcome("timeout", detail=f"wall clock over {limits.timeout:g} s", **base)
    if returncode < 0:
        sig = signal.Signals(-returncode)
        if sig in (signal.SIGXCPU, signal.SIGKILL):  # the zygote's own kill is `timed_out`
            return Outcome("timeout", detail=f"CPU limit of {limits.cpu_seconds} s", **base)
        if sig == signal.SIGXFSZ:
            return Outcome("crash", detail="file size limit (SIGXFSZ)", **base)
        return Outcome("crash", detail=f"killed by {sig.name}", **base)
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return Outcome("memory", detail=_tail(stderr), **base)
    return Outcome("crash", detail=(f"exited with status {returncode} before the tests finished "
                                    f"(no pass signal); stderr: {_tail(stderr)}"), **base)


def _tail(text: str, n: int = 300) -> str:
    return " ".join(text[-n:].split())
