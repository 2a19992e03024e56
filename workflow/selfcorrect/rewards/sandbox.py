"""Run untrusted Python programs against their tests, isolated, and return a verdict.

One module of over 300 lines on purpose: the host side of the sandbox (which confinement this
machine allows, the command that starts it, the zygote's protocol, the verdict) is one security
argument, read and reviewed as a whole; what runs inside is harness.py.

Every program is treated as hostile. Each worker process owns one long-lived sandbox in which a
zygote (harness.py) forks, per program, a judge that runs the tests and a candidate process that
runs the program; the judge never runs program code and rebuilds every result from plain data,
so nothing the program does in its own process can reach the verdict (harness.py says how).
Layers, outermost first (what a run used is reported as `isolation`):

- an unprivileged user: when we run as root (CI does), the sandbox runs under a uid of its own
  (random in UID_RANGE: RLIMIT_NPROC, which counts per user, is never shared with another
  sandbox, and killing "every process of that uid" hits nothing else) via `setpriv`, with no
  capabilities and no_new_privs; bubblewrap started as root would leave root's capabilities
  inside;
- bubblewrap (`bwrap`, Debian's `bubblewrap`) when installed: new user, PID, network, IPC and
  UTS namespaces (no network at all), only /usr mounted (read-only), everything read-only but a
  size-capped tmpfs for scratch, a new session, killed with its parent; the zygote is PID 1;
- without bubblewrap, Landlock (Linux 5.13+): the zygote confines itself and everything it
  starts to writing its own directory and reading the system's, with no TCP, and (ABI 6+) no
  signals or abstract sockets outside the sandbox;
- in every confined mode, a seccomp filter the zygote installs on itself (x86_64): no sockets
  but AF_UNIX (none at all without namespaces), no namespaces, mounts, ptrace, io_uring, SysV
  IPC, keyrings or BPF. Inside these walls a program may start processes;
- per program: rlimits on CPU seconds, address space, processes, file size, open files and core
  dumps; a wall-clock limit; then every process of the sandbox is killed and every file the run
  left is removed (a sandbox that cannot be emptied is replaced before the next program).

`isolation`: "bwrap+uid" (root + bubblewrap), "bwrap" (non-root + bubblewrap), "uid+landlock"
(root, no bubblewrap), "landlock" (non-root, no bubblewrap, Landlock ABI 6+). Where none of
these is possible, code tasks are refused unless SELFCORRECT_SANDBOX=unconfined: "uid+rlimits" /
"rlimits", rlimits and an audit hook only, which do not stop writes to the host. SELFCORRECT_
SANDBOX=bwrap insists on bubblewrap, =landlock skips it. docs/sandbox.md has the details.
"""

from __future__ import annotations

import atexit
import json
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
MODES = ("bwrap+uid", "bwrap", "uid+landlock", "landlock", "uid+rlimits", "rlimits")
CONFINED = MODES[:4]
UNCONFINED_HINT = (
    "code tasks need bubblewrap or Landlock to keep model-written programs off the host, and "
    "neither works here; install bubblewrap, or set SELFCORRECT_SANDBOX=unconfined to run them "
    "with rlimits and an audit hook only (a program can then write to and connect to the host)"
)
# what a Landlock-confined sandbox may read (and execute); it writes only its own directory
READABLE = ("/usr", "/bin", "/lib", "/lib64", "/lib32", "/etc", "/dev", "/proc", "/sys")


@dataclass(frozen=True)
class Limits:
    timeout: float = 10.0  # wall-clock seconds for the program and all its tests
    cpu_seconds: int = 10  # RLIMIT_CPU
    memory_mb: int = 1024  # RLIMIT_AS (address space)
    processes: int = 64  # RLIMIT_NPROC for the run's own uid (threads count too)
    file_mb: int = 16  # RLIMIT_FSIZE, and the size of bubblewrap's scratch tmpfs
    open_files: int = 256  # RLIMIT_NOFILE
    audit: bool = True  # the candidate's audit hook; False only to test the OS layers alone
    output_bytes: int = 4096  # of stderr kept (stdout goes to /dev/null; RLIMIT_FSIZE caps stderr)


@dataclass
class Outcome:
    verdict: str  # one of VERDICTS
    isolation: str
    failing_test: str = ""  # the test line that failed, when known
    detail: str = ""  # the judge's report or why there was none
    tests_run: int = 0
    seconds: float = 0.0
    stderr: str = ""  # the head of the program's stderr
    returncode: int | None = None  # the candidate process's, when it ended before the verdict

    @property
    def passed(self) -> bool:
        return self.verdict == "pass"


@lru_cache(maxsize=1)
def isolation_mode() -> str:
    """What this machine offers, checked once per process (and honoured by SELFCORRECT_SANDBOX).

    Raises SelfCorrectError when no mode confines programs and the user did not opt in."""
    wanted = os.environ.get("SELFCORRECT_SANDBOX", "auto")
    root = os.geteuid() == 0
    if wanted not in ("auto", "bwrap", "landlock", "unconfined"):
        raise SelfCorrectError(
            f"SELFCORRECT_SANDBOX={wanted!r}: expected auto, bwrap, landlock or unconfined"
        )
    if root and not (shutil.which("setpriv") and os.access(SYSTEM_PYTHON, os.X_OK)):
        raise SelfCorrectError(
            f"running as root, the sandbox needs setpriv (util-linux) and {SYSTEM_PYTHON} "
            "to drop privileges; install them or run as an unprivileged user"
        )
    if wanted == "unconfined":
        return "uid+rlimits" if root else "rlimits"
    if wanted in ("auto", "bwrap") and shutil.which("bwrap") and _bwrap_works(root):
        return "bwrap+uid" if root else "bwrap"
    if wanted == "bwrap":
        raise SelfCorrectError(
            "SELFCORRECT_SANDBOX=bwrap but bubblewrap is missing or cannot start"
        )
    if _seccomp_supported() and landlock_abi() >= (1 if root else 6):
        return "uid+landlock" if root else "landlock"
    raise SelfCorrectError(UNCONFINED_HINT)


def landlock_abi() -> int:
    """The kernel's Landlock ABI version (0: none, or disabled)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return max(int(libc.syscall(ctypes.c_long(444), None, ctypes.c_long(0), ctypes.c_long(1))), 0)


def _seccomp_supported() -> bool:
    return os.uname().machine == "x86_64"  # the filter's syscall table (harness.py)


def _bwrap_works(root: bool) -> bool:
    """bwrap needs unprivileged user namespaces; some kernels and containers refuse them."""
    probe = _command("bwrap+uid" if root else "bwrap", _fresh_uid(), ["/bin/true"], 1 << 20)
    try:
        return subprocess.run(probe, capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _fresh_uid() -> int:
    return UID_RANGE[0] + secrets.randbelow(UID_RANGE[1] - UID_RANGE[0])


def _interpreter(mode: str) -> str:
    # A dropped uid cannot read /root/.pyenv (where the venv's python lives), and bwrap shows
    # only /usr; as an unprivileged caller our own interpreter is readable.
    return SYSTEM_PYTHON if mode.startswith(("bwrap", "uid+")) else sys.executable


def _command(mode: str, uid: int, argv: list[str], scratch_bytes: int) -> list[str]:
    prefix: list[str] = []
    if mode.startswith(("bwrap+uid", "uid+")):
        prefix = [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--no-new-privs",
        ]
    if mode.startswith("bwrap"):
        prefix += [
            "bwrap",
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--as-pid-1",  # the zygote is PID 1: orphans come back to it, nothing can kill it
            "--ro-bind",
            "/usr",
            "/usr",
            "--symlink",
            "usr/lib",
            "/lib",
            "--symlink",
            "usr/lib64",
            "/lib64",
            "--symlink",
            "usr/bin",
            "/bin",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(scratch_bytes),
            "--tmpfs",
            "/tmp",
            # bwrap's own / and /dev (with /dev/shm) are writable tmpfs: make them read-only
            "--remount-ro",
            "/dev",
            "--remount-ro",
            "/",
            "--chdir",
            "/tmp",
            "--clearenv",
            "--setenv",
            "PATH",
            "/usr/bin",
            "--setenv",
            "HOME",
            "/tmp",
            "--setenv",
            "LANG",
            "C.UTF-8",
            "--setenv",
            "OMP_NUM_THREADS",
            "1",
        ]
    return prefix + argv


def zygote_config(mode: str, home: str | None) -> dict:
    """What the zygote confines itself with (harness.serve)."""
    config: dict = {"sweep": mode != "rlimits", "seccomp": "", "landlock": None}
    if _seccomp_supported():
        config["seccomp"] = "unix" if mode.startswith("bwrap") else "none"
    if mode in ("uid+landlock", "landlock"):
        interp = os.path.realpath(_interpreter(mode))
        read = [*READABLE, os.path.realpath(sys.base_prefix), os.path.dirname(interp)]
        config["landlock"] = {"read": read, "write": [home, "/dev/null"]}
    return config


class Sandbox:
    """One long-lived sandbox (a zygote inside it, harness.py) that runs programs one at a time.

    Each worker process owns one (`sandbox()`); it is restarted whenever it dies, stops
    answering or cannot be emptied, and killed with its owner (bubblewrap's --die-with-parent).
    """

    def __init__(self, mode: str | None = None):
        self.mode = mode or isolation_mode()
        self.uid = _fresh_uid()
        self.proc: subprocess.Popen | None = None
        self.home: str | None = None
        self.hello: dict = {}
        self.starts = 0

    def start(self) -> None:
        from selfcorrect.rewards.harness import recv_frame

        mode = self.mode
        self.uid = _fresh_uid()  # a restarted sandbox never shares a uid with what is left
        cwd = None
        if not mode.startswith("bwrap"):  # bubblewrap brings its own tmpfs scratch directory
            self.home = cwd = tempfile.mkdtemp(prefix="selfcorrect-sandbox-")
            if mode.startswith("uid+"):
                os.chown(cwd, self.uid, self.uid)
        config = zygote_config(mode, cwd)
        argv = [_interpreter(mode), "-I", "-S", "-B", "-c", HARNESS, json.dumps(config)]
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": cwd or "/tmp",
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
        }
        self.proc = subprocess.Popen(
            _command(mode, self.uid, argv, Limits().file_mb << 20),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
        self.starts += 1
        fd = self.proc.stdout.fileno()
        hello = None
        if select.select([fd], [], [], 60)[0]:
            try:
                hello = recv_frame(fd)
            except ValueError:
                hello = None
        if not isinstance(hello, dict):
            self.close()
            raise SelfCorrectError(f"the {mode} sandbox did not start (no hello from its zygote)")
        self.hello = hello
        missing = []
        if config["landlock"] and not hello.get("landlock"):
            missing.append("Landlock")
        if config["seccomp"] and not hello.get("seccomp"):
            missing.append("seccomp")
        if missing or hello.get("error"):
            self.close()
            raise SelfCorrectError(
                f"the {mode} sandbox could not confine itself ({' and '.join(missing) or 'error'}"
                f": {hello.get('error') or 'not applied'})"
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
            if self.mode.startswith(("uid+", "bwrap+uid")):
                _kill_uid(self.uid)  # bubblewrap's own session is not our process group
            self.proc = None
        if self.home:
            _remove_tree(self.home)
            self.home = None

    def run(
        self,
        program: str,
        tests: list[str],
        setup: str = "",
        *,
        prompt: str = "",
        entry_point: str = "",
        limits: Limits = Limits(),
    ) -> Outcome:
        """Run `program`, then the problem's `prompt` and `setup` and each test in the judge;
        never raises for what the program does."""
        start = time.monotonic()
        if self.proc is None or self.proc.poll() is not None:
            self.close()
            self.start()
        token = secrets.token_hex(16)
        audit = "" if not limits.audit else ("net" if self.mode in CONFINED else "full")
        # Two frames: the program's part, which the zygote (and so the candidate forked from
        # it) reads, and the tests' part, which only the judge reads (harness.py).
        program_part = {
            "program": program,
            "audit": audit,
            "limits": {
                "timeout": limits.timeout,
                "cpu_seconds": limits.cpu_seconds,
                "memory_mb": limits.memory_mb,
                "processes": limits.processes,
                "file_mb": limits.file_mb,
                "open_files": limits.open_files,
            },
        }
        tests_part = {
            "token": token,
            "tests": list(tests),
            "setup": setup,
            "prompt": prompt,
            "entry": entry_point,
        }
        frames = b""
        for part in (program_part, tests_part):
            data = json.dumps(part, ensure_ascii=True).encode("ascii")
            frames += len(data).to_bytes(8, "big") + data
        # the zygote enforces the wall clock; this backstop only catches a sandbox that hangs
        reply = self._exchange(frames, limits.timeout + 10)
        if not isinstance(reply, dict):
            self.close()
            return Outcome(
                "crash",
                self.mode,
                detail="the sandbox stopped answering",
                seconds=time.monotonic() - start,
            )
        outcome = _verdict(
            token,
            len(tests),
            str(reply.get("report", "")),
            str(reply.get("stderr", ""))[: limits.output_bytes],
            reply.get("candidate_status"),
            bool(reply.get("timed_out")),
            self.mode,
            limits,
        )
        if not reply.get("clean", False):
            self.close()  # a fresh sandbox (and scratch) for the next program
        outcome.seconds = time.monotonic() - start
        return outcome

    def _exchange(self, request: bytes, wait: float):
        from selfcorrect.rewards.harness import recv_frame

        try:
            self.proc.stdin.write(request)
            self.proc.stdin.flush()
        except OSError:
            return None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + wait
        verdict = ""
        for _ in range(2):  # the judge's verdict line (if it got that far), then the zygote's
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            try:  # each frame is written in one piece
                frame = recv_frame(fd)
            except ValueError:
                return None
            if isinstance(frame, dict) and "judge" in frame and not verdict:
                verdict = str(frame["judge"])
            elif isinstance(frame, dict) and frame.get("zygote"):
                return {**frame, "report": verdict}
            else:
                return None
        return None


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


def run_program(
    program: str,
    tests: list[str],
    setup: str = "",
    *,
    prompt: str = "",
    entry_point: str = "",
    limits: Limits = Limits(),
) -> Outcome:
    """Run one program against its tests in this process's sandbox."""
    return sandbox().run(
        program, tests, setup, prompt=prompt, entry_point=entry_point, limits=limits
    )


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


def _remove_tree(path: str) -> None:
    """Remove a sandbox's home, whatever permissions the program left on it."""
    from selfcorrect.rewards.harness import wipe

    wipe(path)  # permissions first (a non-root caller cannot enter a chmod-000 directory)
    subprocess.run(
        ["rm", "-rf", "--one-file-system", path], stderr=subprocess.DEVNULL, check=False
    )  # deep trees that Python's recursive rmtree would choke on


def _verdict(token, n_tests, report, stderr, status, timed_out, mode, limits) -> Outcome:
    base = {"isolation": mode, "stderr": stderr}
    returncode = status if isinstance(status, int) else None
    gone = False
    for line in report.splitlines():
        parts = line.split(" ", 3)
        # Only a line with this run's token counts (only the judge ever holds it).
        if len(parts) < 3 or not secrets.compare_digest(parts[0], token):
            continue
        verdict, detail = parts[1], parts[3] if len(parts) > 3 else ""
        try:
            index = int(parts[2])
        except ValueError:
            continue
        if verdict == "pass":
            if index != n_tests:
                return Outcome("crash", detail=f"judge ran {index} of {n_tests} tests", **base)
            return Outcome("pass", tests_run=n_tests, **base)
        if verdict in ("fail", "memory", "crash", "forbidden"):
            failing = detail.split(" -> ", 1)[0] if verdict == "fail" else ""
            return Outcome(
                verdict,
                failing_test=failing,
                detail=detail,
                tests_run=max(index, 0),
                returncode=returncode,
                **base,
            )
        if verdict == "gone":  # the candidate process ended; its status says why
            gone = True
            break
    base["returncode"] = returncode
    if timed_out:
        return Outcome("timeout", detail=f"wall clock over {limits.timeout:g} s", **base)
    if gone and returncode is not None and returncode < 0:
        sig = signal.Signals(-returncode)
        if sig in (signal.SIGXCPU, signal.SIGKILL):
            return Outcome("timeout", detail=f"CPU limit of {limits.cpu_seconds} s", **base)
        if sig == signal.SIGXFSZ:
            return Outcome("crash", detail="file size limit (SIGXFSZ)", **base)
        return Outcome("crash", detail=f"killed by {sig.name}", **base)
    if "MemoryError" in stderr or "Cannot allocate memory" in stderr:
        return Outcome("memory", detail=_tail(stderr), **base)
    who = "the program" if gone else "the judge"
    return Outcome(
        "crash",
        detail=(
            f"{who} exited with status {returncode} before the tests "
            f"finished (no pass signal); stderr: {_tail(stderr)}"
        ),
        **base,
    )


def _tail(text: str, n: int = 300) -> str:
    return " ".join(text[-n:].split())
