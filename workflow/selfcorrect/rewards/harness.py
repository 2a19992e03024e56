"""What runs INSIDE the sandbox: a zygote that forks, per program, a judge and (from the judge)
a candidate process; and the pure pieces they use (the seccomp program, Landlock rules, the
value encoding). One file of about 1000 lines because the sandbox runs this file alone: it
cannot import a sibling module. Standard library only: it runs as
`python3 -I -S -B -c <this file> <config>` on the system interpreter (the sandbox's uid cannot
read the venv's python under /root), and is imported by the tests.

Zygote (`serve`), once per sandbox, before any program: not dumpable (no ptrace or
/proc/<pid>/mem by the same uid), a child subreaper when not PID 1, no_new_privs, then the
kernel confinement named in its config: a Landlock domain (only the sandbox's own directory is
writable, only the system's directories readable, no TCP, and — ABI 6 and later — no signals to
and no abstract sockets of processes outside it) and a seccomp filter (`seccomp_program`: no
sockets other than AF_UNIX, or none at all; no namespaces, mounts, ptrace, io_uring, SysV IPC,
keyrings, BPF). It answers with a hello frame naming what holds, imports the modules programs
use most, and serves requests: one per program, answered with two frames on its stdout, the
judge's verdict line (written there by the judge itself) and the zygote's own (the candidate's
exit status, the head of its stderr, whether the sandbox is clean): length-prefixed JSON, so no
byte a program writes can break the framing.

Per program the zygote reads the request's first frame (the program, its limits), forks a
judge, which reads the second frame (token, tests, setup, prompt) itself, and then a
candidate, so the judge exists before any program code runs: the tests are never in the
zygote's memory, so never in the candidate's. Nor is the verdict line (which may quote a
failing assert with its expected value): the judge writes it to the caller itself. The two
share nothing the candidate can write to:

- the judge never runs program code. It builds the test namespace from pristine builtins, the
  problem's own prompt (HumanEval's helpers such as `poly`) and setup, then adds, for every
  other name the tests use (and the entry point always), a stub that asks the candidate to call
  it. Results come back as tagged JSON and are rebuilt by the judge into its own built-in types
  (and Counter, Fraction, Decimal, OrderedDict, defaultdict, deque): an object of any other class
  comes back as an opaque handle that equals only itself. The judge runs the tests, and only it
  holds the descriptor the verdict goes out on;
- the candidate drops into a nested Landlock domain (it cannot signal or ptrace the judge or the
  zygote), sets the rlimits, runs the program in its scratch directory and then serves calls.
  Walking frames, patching classes or builtins, proxies and shadowed names act only on the
  candidate's own process and on what it sends back.

After the run the zygote kills every other process of the sandbox, and removes every file the
run left (permissions reset first); if anything stays, it says so and the parent starts a fresh
sandbox (a fresh tmpfs under bubblewrap) before the next program.
"""

import os
import struct
import sys

MAX_FRAME = 64 << 20  # bytes in one frame between judge and candidate

# ---- framing -----------------------------------------------------------------------------


def read_exact(fd, n):
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def send_frame(fd, obj):
    import json

    data = json.dumps(obj, ensure_ascii=True, allow_nan=True).encode("ascii")
    write_all(fd, len(data).to_bytes(8, "big") + data)


def recv_frame(fd, limit=MAX_FRAME):
    """The next frame's JSON value; None at end of file, ValueError for a malformed frame."""
    import json

    header = read_exact(fd, 8)
    if header is None:
        return None
    n = int.from_bytes(header, "big")
    if n > limit:
        raise ValueError(f"frame of {n} bytes")
    data = read_exact(fd, n)
    if data is None:
        return None
    return json.loads(data.decode("utf-8", "strict"))


# ---- seccomp -----------------------------------------------------------------------------

AUDIT_ARCH_X86_64 = 0xC000003E
X32_BIT = 0x40000000
# x86_64 numbers (arch/x86/entry/syscalls/syscall_64.tbl). Denied: what no program needs and
# what could reach past the sandbox's namespaces or its Landlock domain.
X86_64_DENY = {
    "ptrace": 101,
    "syslog": 103,
    "vhangup": 153,
    "pivot_root": 155,
    "chroot": 161,
    "acct": 163,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "shmget": 29,
    "semget": 64,
    "msgget": 68,
    "mq_open": 240,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_getfd": 438,
    "mount_setattr": 442,
    "memfd_secret": 447,
}
X86_64_SOCKET, X86_64_CLONE, X86_64_CLONE3 = 41, 56, 435
AF_UNIX = 1
CLONE_NAMESPACES = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
EPERM, ENOSYS, EAFNOSUPPORT = 1, 38, 97
RET_ALLOW, RET_ERRNO, RET_KILL_PROCESS = 0x7FFF0000, 0x00050000, 0x80000000
LD_ABS_W, JEQ_K, JGE_K, JSET_K, RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
OFF_NR, OFF_ARCH, OFF_ARG0 = 0, 4, 16  # struct seccomp_data; arg0's low word (little-endian)


def seccomp_program(sockets):
    """A classic-BPF seccomp filter for x86_64, as the kernel's struct sock_filter array.

    sockets: "unix" allows socket() for AF_UNIX only (under bubblewrap: no network exists
    anyway), "none" refuses every socket() (without namespaces an AF_UNIX socket could reach a
    host listener). Refused calls fail with EPERM (ENOSYS for clone3, so libc falls back to
    clone, whose namespace flags are checked); another architecture's calls kill the process.
    """
    if sockets not in ("unix", "none"):
        raise ValueError(f"sockets={sockets!r}: expected 'unix' or 'none'")
    code = []  # (op, jt, jf, k); jt/jf are relative offsets or label names

    def op(o, k, jt=0, jf=0):
        code.append([o, jt, jf, k])

    op(LD_ABS_W, OFF_ARCH)
    op(JEQ_K, AUDIT_ARCH_X86_64, 0, "kill")
    op(LD_ABS_W, OFF_NR)
    op(JGE_K, X32_BIT, "enosys", 0)  # the x32 ABI's numbers
    for nr in sorted(X86_64_DENY.values()):
        op(JEQ_K, nr, "eperm", 0)
    op(JEQ_K, X86_64_CLONE3, "enosys", 0)
    op(JEQ_K, X86_64_SOCKET, "socket", 0)
    op(JEQ_K, X86_64_CLONE, "clone", 0)
    labels = {}

    def label(name):
        labels[name] = len(code)

    label("allow")
    op(RET_K, RET_ALLOW)
    label("socket")
    if sockets == "unix":
        op(LD_ABS_W, OFF_ARG0)
        op(JEQ_K, AF_UNIX, 0, 1)
        op(RET_K, RET_ALLOW)
    op(RET_K, RET_ERRNO | EAFNOSUPPORT)
    label("clone")
    op(LD_ABS_W, OFF_ARG0)
    op(JSET_K, CLONE_NAMESPACES, "eperm", 0)
    op(RET_K, RET_ALLOW)
    label("eperm")
    op(RET_K, RET_ERRNO | EPERM)
    label("enosys")
    op(RET_K, RET_ERRNO | ENOSYS)
    label("kill")
    op(RET_K, RET_KILL_PROCESS)
    out = b""
    for i, (o, jt, jf, k) in enumerate(code):
        jt, jf = (labels[j] - i - 1 if isinstance(j, str) else j for j in (jt, jf))
        if not (0 <= jt < 256 and 0 <= jf < 256):
            raise ValueError("seccomp program too long for a relative jump")
        out += struct.pack("<HBBI", o, jt, jf, k)
    return out


def seccomp_supported():
    return os.uname().machine == "x86_64"


# ---- Landlock ----------------------------------------------------------------------------

LL_CREATE, LL_ADD_RULE, LL_RESTRICT = 444, 445, 446  # the same on every architecture
LL_VERSION = 1  # flag of landlock_create_ruleset: ask for the ABI version
FS_EXECUTE, FS_WRITE_FILE, FS_READ_FILE, FS_READ_DIR = 1, 2, 4, 8
FS_V1_ALL = (1 << 13) - 1  # execute … make_sym
FS_REFER, FS_TRUNCATE = 1 << 13, 1 << 14
NET_TCP = 3  # bind_tcp | connect_tcp (ABI 4)
SCOPE_ALL = 3  # abstract unix sockets | signals (ABI 6)
FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE


def landlock_ruleset(abi, fs=True):
    """(attribute bytes, handled fs rights, write rights) for `abi`: with fs=False only the
    scopes (a per-program domain that cuts signals and abstract sockets, nothing else)."""
    write = FS_V1_ALL | (FS_REFER if abi >= 2 else 0) | (FS_TRUNCATE if abi >= 3 else 0)
    handled = write if fs else 0
    net = NET_TCP if fs and abi >= 4 else 0
    scoped = SCOPE_ALL if abi >= 6 else 0
    size = 24 if abi >= 6 else 16 if abi >= 4 else 8
    return struct.pack("<QQQ", handled, net, scoped)[:size], handled, write


# ---- values between candidate and judge ---------------------------------------------------

HEAP_TYPE = 1 << 9  # Py_TPFLAGS_HEAPTYPE: a class written in Python
MAX_ITEMS = 1_000_000


def encode(value, refs=None, ref_type=None):
    """A JSON-able tagged form of a plain value. Scalars stay themselves; every container is a
    list whose first item names its type. Anything else becomes ["ref", i] into `refs` (the
    candidate keeps its objects there), or TypeError when `refs` is None."""
    import collections
    import decimal
    import fractions

    budget = [MAX_ITEMS]
    defaults = {
        int: "int",
        list: "list",
        set: "set",
        dict: "dict",
        float: "float",
        str: "str",
        tuple: "tuple",
    }

    def enc(v, depth):
        budget[0] -= 1
        if budget[0] < 0 or depth > 200:
            raise ValueError("value too large or too deep to pass between processes")
        t = type(v)
        if t is bool or t is int or t is str or v is None:
            return v
        if t is float:
            return v
        if t is list or t is tuple or t is set or t is frozenset:
            return [t.__name__, [enc(x, depth + 1) for x in v]]
        if t is dict or t is collections.OrderedDict or t is collections.Counter:
            return [t.__name__, [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]]
        if t is collections.defaultdict:
            factory = v.default_factory
            name = None if factory is None else defaults.get(factory)
            if name is not None or factory is None:
                pairs = [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]
                return ["defaultdict", name, pairs]
        if t is collections.deque:
            return ["deque", [enc(x, depth + 1) for x in v], v.maxlen]
        if t is bytes or t is bytearray:
            return [t.__name__, v.hex()]
        if t is complex:
            return ["complex", v.real, v.imag]
        if t is range:
            return ["range", v.start, v.stop, v.step]
        if t is fractions.Fraction:
            return ["Fraction", v.numerator, v.denominator]
        if t is decimal.Decimal:
            return ["Decimal", str(v)]
        if ref_type is not None and t is ref_type:
            return ["ref", v.ref]
        if refs is not None:
            if not t.__flags__ & HEAP_TYPE and hasattr(t, "__next__"):  # generator, map, zip…
                items = []
                for x in v:
                    items.append(enc(x, depth + 1))
                return ["iter", items]
            refs.append(v)
            return ["ref", len(refs) - 1]
        raise TypeError(f"a {t.__name__} object cannot be passed to the program")

    return enc(value, 0)


def decode(data, resolve=None):
    """The value `encode` made, rebuilt from this process's own classes. resolve(i) gives the
    object for ["ref", i]; without it a ref is an error. Raises ValueError on anything else."""
    import collections
    import decimal
    import fractions

    factories = {
        "int": int,
        "list": list,
        "set": set,
        "dict": dict,
        "float": float,
        "str": str,
        "tuple": tuple,
        None: None,
    }
    kinds = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}
    maps = {"dict": dict, "OrderedDict": collections.OrderedDict, "Counter": collections.Counter}

    def dec(v):
        t = type(v)
        if t is bool or t is int or t is str or t is float or v is None:
            return v
        if t is not list or not v or type(v[0]) is not str:
            raise ValueError("malformed value")
        tag = v[0]
        if tag in kinds:
            return kinds[tag](dec(x) for x in v[1])
        if tag in maps:
            out = maps[tag]()
            for k, x in v[1]:
                out[dec(k)] = dec(x)
            return out
        if tag == "defaultdict":
            out = collections.defaultdict(factories[v[1]])
            for k, x in v[2]:
                out[dec(k)] = dec(x)
            return out
        if tag == "deque":
            return collections.deque((dec(x) for x in v[1]), _int_or_none(v[2]))
        if tag == "bytes" or tag == "bytearray":
            return (bytes if tag == "bytes" else bytearray).fromhex(_str(v[1]))
        if tag == "complex":
            return complex(_num(v[1]), _num(v[2]))
        if tag == "range":
            return range(_int(v[1]), _int(v[2]), _int(v[3]))
        if tag == "Fraction":
            return fractions.Fraction(_int(v[1]), _int(v[2]))
        if tag == "Decimal":
            return decimal.Decimal(_str(v[1]))
        if tag == "iter":
            return iter([dec(x) for x in v[1]])
        if tag == "ref" and resolve is not None:
            return resolve(_int(v[1]))
        raise ValueError(f"unknown value tag {tag!r}")

    try:
        return dec(data)
    except (IndexError, KeyError, TypeError) as exc:  # a short list, an unhashable key…
        raise ValueError(f"malformed value ({type(exc).__name__}: {exc})") from None


def _int(x):
    if type(x) is not int:
        raise ValueError("expected an int")
    return x


def _int_or_none(x):
    return None if x is None else _int(x)


def _num(x):
    if type(x) not in (int, float):
        raise ValueError("expected a number")
    return x


def _str(x):
    if type(x) is not str:
        raise ValueError("expected a string")
    return x


# ---- zygote -------------------------------------------------------------------------------

PRELOADED = (
    "collections",
    "fractions",
    "decimal",
    "datetime",
    "math",
    "re",
    "itertools",
    "functools",
    "heapq",
    "bisect",
    "string",
    "typing",
    "json",
    "copy",
    "random",
    "traceback",
)


def serve(config):
    import ctypes
    import resource
    import select
    import signal
    import time

    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long

    def kcall(
        nr,
        *args,
        _syscall=libc.syscall,
        _buffer=ctypes.create_string_buffer,
        _long=ctypes.c_long,
        _errno=ctypes.get_errno,
    ):
        keep = [_buffer(a, len(a)) if type(a) is bytes else a for a in args]
        result = _syscall(_long(nr), *[_long(a) if type(a) is int else a for a in keep])
        if result < 0:
            err = _errno()
            raise OSError(err, os.strerror(err))
        return result

    libc.prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0
    if os.getpid() != 1:
        libc.prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans come back to us
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS: needed by Landlock and seccomp
    try:
        abi = max(kcall(LL_CREATE, None, 0, LL_VERSION), 0)
    except OSError:
        abi = 0
    hello = {"landlock": 0, "scoped": False, "seccomp": False, "error": ""}
    base = os.getcwd()
    try:
        if config.get("landlock") and abi:
            landlock_apply(kcall, abi, config["landlock"]["read"], config["landlock"]["write"])
            hello["landlock"] = abi
        if config.get("seccomp") and seccomp_supported():
            program = ctypes.create_string_buffer(seccomp_program(config["seccomp"]))
            n = len(program.raw) // 8
            fprog = ctypes.create_string_buffer(
                struct.pack("<HxxxxxxQ", n, ctypes.addressof(program))
            )
            if libc.prctl(22, 2, fprog, 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
                raise OSError(ctypes.get_errno(), "seccomp filter refused")
            hello["seccomp"] = True
    except OSError as exc:
        hello["error"] = f"{type(exc).__name__}: {exc}"
    hello["scoped"] = abi >= 6
    scope_attr = landlock_ruleset(abi, fs=False)[0] if abi >= 6 else None
    del libc, ctypes  # kcall keeps what it needs (the kernel, not Python, confines programs)
    for name in PRELOADED:
        __import__(name)
    sys.set_int_max_str_digits(0)
    import gc

    gc.collect()
    gc.freeze()  # the collector in a forked child never walks (and copies) the zygote's heap
    send_frame(1, hello)
    if hello["error"]:
        os._exit(3)

    def scope_self():
        """A nested Landlock domain: no signals, ptrace or abstract sockets to anything outside
        (the judge, the zygote, the host); a no-op before ABI 6."""
        if scope_attr is not None:
            fd = kcall(LL_CREATE, scope_attr, len(scope_attr), 0)
            kcall(LL_RESTRICT, fd, 0)
            os.close(fd)

    sweep = config.get("sweep", True)
    me = os.getpid()
    runs = 0
    while True:
        # a request is two frames: the program's part (program, limits, audit level), read
        # here, and the tests' part, which only the judge reads
        request = recv_frame(0, limit=1 << 40)
        if request is None:
            os._exit(0)
        runs += 1
        limits = request["limits"]
        scratch = os.path.join(base, f"run{runs}")
        os.mkdir(scratch, 0o700)
        errors = os.path.join(base, f"stderr{runs}")  # outside scratch: the program's own output
        deadline = time.monotonic() + float(limits["timeout"])
        calls_r, calls_w = os.pipe()  # judge -> candidate
        replies_r, replies_w = os.pipe()  # candidate -> judge
        r, w = os.pipe()  # judge -> zygote: the verdict
        # The judge first: it exists before any program code runs, so what the program sees
        # of the sandbox (a kill(-1) that finds no other process fails with ESRCH) never
        # depends on how the two forks were scheduled.
        jpid = os.fork()
        if jpid == 0:
            try:
                for fd in (r, calls_r, replies_w):
                    os.close(fd)
                judge(request, w, calls_w, replies_r, resource)  # reads the tests itself
            finally:
                os._exit(70)
        cpid = os.fork()
        if cpid == 0:
            try:
                for fd in (r, w, calls_w, replies_r):
                    os.close(fd)
                candidate(request, calls_r, replies_w, scratch, errors, scope_self, resource)
            except BaseException:
                import traceback

                traceback.print_exc()  # on the candidate's stderr, once it has one
            finally:
                os._exit(70)
        for fd in (w, calls_r, calls_w, replies_r, replies_w):
            os.close(fd)
        report, timed_out = b"", False
        jfd, cfd = os.pidfd_open(jpid), os.pidfd_open(cpid)
        watched = [r, jfd]
        while r in watched:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            ready, _, _ = select.select(watched, [], [], left)
            if r in ready:
                chunk = os.read(r, 65536)
                if chunk and len(report) < 65536:
                    report += chunk
                elif not chunk:
                    watched.remove(r)
            if jfd in ready and r in watched and not select.select([r], [], [], 0)[0]:
                break  # the judge is gone and wrote nothing more
        in_step = report.startswith(b"read\n")  # else the tests' frame is still unread
        if in_step and report[5:] == b"gone\n" and not timed_out:  # wait for the status
            left = deadline - time.monotonic()
            timed_out = left <= 0 or not select.select([cfd], [], [], left)[0]
        for fd in (r, jfd, cfd):
            os.close(fd)
        statuses = {}
        if sweep:
            try:
                os.kill(-1, signal.SIGKILL)  # every other process of the sandbox: not us
            except ProcessLookupError:
                pass
            while True:
                try:
                    pid, status = os.waitpid(-1, 0)
                except ChildProcessError:
                    break
                statuses[pid] = status
        else:
            for pid in (jpid, cpid):
                try:
                    os.killpg(pid, signal.SIGKILL)  # each one's session
                except (ProcessLookupError, PermissionError):
                    pass
            for pid in (jpid, cpid):
                statuses[pid] = os.waitpid(pid, 0)[1]
            while True:
                try:
                    if os.waitpid(-1, os.WNOHANG)[0] == 0:
                        break
                except ChildProcessError:
                    break
        try:
            with open(errors, "rb") as f:
                stderr = f.read(4096).decode("utf-8", "replace")
        except OSError:
            stderr = ""
        clean = wipe(base) and in_step
        assert os.getpid() == me
        code = {
            k: os.waitstatus_to_exitcode(statuses[p]) if p in statuses else None
            for k, p in (("judge_status", jpid), ("candidate_status", cpid))
        }
        send_frame(
            1, {"zygote": 1, **code, "timed_out": timed_out, "clean": clean, "stderr": stderr}
        )  # after the judge's own frame, if it sent one
        if not clean:
            os._exit(0)  # the parent starts a fresh sandbox (and stream)


def landlock_apply(kcall, abi, read, write):
    """Confine this process (and all it starts) to reading `read` and writing `write`."""
    attr, handled, write_rights = landlock_ruleset(abi)
    ruleset = kcall(LL_CREATE, attr, len(attr), 0)
    try:
        for paths, rights in (
            (read, FS_EXECUTE | FS_READ_FILE | FS_READ_DIR),
            (write, write_rights | FS_EXECUTE | FS_READ_FILE | FS_READ_DIR),
        ):
            for path in paths:
                try:
                    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
                except OSError:
                    continue  # not on this machine
                try:
                    allowed = rights & handled
                    if not os.path.isdir(path):
                        allowed &= FILE_RIGHTS
                    kcall(LL_ADD_RULE, ruleset, 1, struct.pack("<Qi", allowed, fd), 0)
                finally:
                    os.close(fd)
        kcall(LL_RESTRICT, ruleset, 0)
    finally:
        os.close(ruleset)


def wipe(base, max_entries=200_000):
    """Remove everything under `base`, resetting each directory's permissions first (a program
    may leave a chmod-000 tree). True if `base` is empty afterwards."""
    stack, seen = [base], 0
    try:
        while stack and seen < max_entries:
            d = stack[-1]
            if d != base:
                os.chmod(d, 0o700)
            pushed = False
            with os.scandir(d) as entries:
                for entry in entries:
                    seen += 1
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                        pushed = True
                    else:
                        os.unlink(entry.path)
            if not pushed:
                stack.pop()
                if d != base:
                    os.rmdir(d)
        return not os.listdir(base)
    except OSError:
        return False


# ---- judge --------------------------------------------------------------------------------


class CandidateGone(BaseException):
    """The candidate process ended or broke the protocol (test code cannot catch it)."""


class CandidateError(Exception):
    """The program's function raised an exception that is not a built-in one."""


class Remote:
    """An object the program returned that is not plain data: it equals only itself."""

    __slots__ = ("ref",)

    def __init__(self, ref):
        self.ref = ref

    def __repr__(self):
        return f"<object #{self.ref} of the program>"


def judge(program_part, report_fd, calls_fd, replies_fd, resource):
    """The trusted side: never runs program code; only it holds the verdict's way out.

    It reads the request's second frame (token, tests, setup, prompt, entry point) itself from
    the zygote's stdin: neither the zygote nor, so, the candidate forked from it ever holds the
    tests in memory (a program could otherwise read the expected values there, or what a
    previous run of the same problem left in freed memory)."""
    import builtins

    os.setsid()
    request = recv_frame(0)
    write_all(report_fd, b"read\n")  # the zygote's stdin is in step again
    caller = os.dup(1)  # the verdict goes to the caller directly: see finish()
    null = os.open("/dev/null", os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    mb = 1 << 20
    resource.setrlimit(resource.RLIMIT_AS, (int(program_part["limits"]["memory_mb"]) * mb,) * 2)
    token = request["token"]
    tests = request["tests"]
    state = {"ended": None, "called": False}

    def finish(verdict, index=-1, detail=""):
        """Send the verdict line to the caller in one write (atomic: at most PIPE_BUF bytes),
        not through the zygote: the line may name a failing assert with its expected value,
        and the zygote's memory is what the next candidate is forked from. The zygote only
        learns whether the candidate is gone."""
        import json

        if state["ended"] is not None:  # what the candidate said, or that it is gone
            verdict, detail = state["ended"]
        detail = str(detail).replace("\n", " ")
        for cut in (800, 300, 100, 0):
            data = json.dumps(
                {"judge": f"{token} {verdict} {index} {detail[:cut]}"}, ensure_ascii=True
            ).encode("ascii")
            if len(data) + 8 <= 4000:
                break
        os.write(caller, len(data).to_bytes(8, "big") + data)
        write_all(report_fd, b"gone\n" if verdict == "gone" else b"done\n")
        os._exit(0)

    def receive():
        try:
            reply = recv_frame(replies_fd)
        except ValueError:
            reply = None
        if type(reply) is not list or not reply or type(reply[0]) is not str:
            state["ended"] = ("gone", "")
            raise CandidateGone()
        if reply[0] in ("forbidden", "crash", "memory"):  # the hook stopped it, or it did not load
            prefix = "program: " if reply[0] != "forbidden" else ""
            state["ended"] = (reply[0], prefix + str(reply[1:2] and reply[1])[:400])
            raise CandidateGone()
        return reply

    def exchange(message):
        state["called"] = True
        try:
            send_frame(calls_fd, message)
        except OSError:  # the candidate has ended: what it said last (a load error) is unread
            pass
        return receive()

    def call_remote(name, args, kwargs):
        reply = exchange(
            ["call", name, encode(list(args), ref_type=Remote), encode(kwargs, ref_type=Remote)]
        )
        if reply[0] == "ok" and len(reply) == 2:
            try:
                return decode(reply[1], Remote)
            except (ValueError, TypeError, KeyError, IndexError, ArithmeticError) as exc:
                raise CandidateError(f"{name}() returned a malformed value ({exc})") from None
        if reply[0] == "raise" and len(reply) == 3:
            kind, message = str(reply[1]), str(reply[2])
            cls = getattr(builtins, kind, None)
            # StopIteration would end a test's `for r in map(candidate, ...)` loop early
            if (
                isinstance(cls, type)
                and issubclass(cls, Exception)
                and not issubclass(cls, (StopIteration, StopAsyncIteration))
            ):
                raise cls(message)
            raise CandidateError(f"{kind}: {message}")
        state["ended"] = ("gone", "")
        raise CandidateGone()

    def stub(name):
        def call(*args, **kwargs):
            return call_remote(name, args, kwargs)

        call.__name__ = call.__qualname__ = name
        return call

    ns = {"__name__": "__tests__", "__builtins__": builtins}
    sources = {f"<test {i}>": code for i, code in enumerate(tests)}
    sources["<setup>"] = request["setup"]
    index = -1
    try:
        # Every name the setup or the tests use that the problem does not define is asked of
        # the program; the problem's own names (prompt, setup) and the builtins never are,
        # whatever the program defines (but the entry point always is).
        builtin_names = set(dir(builtins))

        def ask_program_for(code):
            for name in sorted(global_names(code)):
                if name not in ns and name not in builtin_names and not name.startswith("__"):
                    ns[name] = stub(name)

        if request["prompt"]:
            exec(compile(request["prompt"], "<prompt>", "exec"), ns)
        setup = compile(request["setup"], "<setup>", "exec")
        ask_program_for(setup)
        exec(setup, ns)
        compiled = [compile(code, f"<test {i}>", "exec") for i, code in enumerate(tests)]
        for code in compiled:
            ask_program_for(code)
        if request["entry"]:
            ns[request["entry"]] = stub(request["entry"])
        for index, code in enumerate(compiled):
            exec(code, ns)
        if not state["called"]:  # no test called the program: did it load at all?
            exchange(["ping"])
    except CandidateGone:
        finish("crash", index)
    except MemoryError as exc:
        finish("memory", index, describe(exc))
    except AssertionError as exc:
        finish("fail", index, failing_line(exc.__traceback__, sources) or tests[index])
    except BaseException as exc:
        line = failing_line(exc.__traceback__, sources) or (tests[index] if index >= 0 else "")
        finish("fail", index, f"{line} -> {describe(exc)}")
    finish("pass", len(tests), "")


def global_names(code):
    """Every global or module-level name a code object (and those nested in it) loads."""
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if type(k) is type(c))
    return names


def describe(exc):
    try:
        return f"{type(exc).__name__}: {exc}"[:400]
    except BaseException:
        return type(exc).__name__


def failing_line(tb, sources):
    """The test line that raised: the innermost traceback entry inside a test snippet."""
    found = ""
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if name in sources:
            lines = sources[name].splitlines()
            if 0 < tb.tb_lineno <= len(lines):
                found = lines[tb.tb_lineno - 1].strip()
        tb = tb.tb_next
    return found


# ---- candidate ----------------------------------------------------------------------------


def candidate(request, req_r, resp_w, scratch, errors, scope_self, resource):
    """The untrusted side: runs the program, then calls its functions for the judge."""
    import builtins

    limits = request["limits"]
    os.setsid()
    null = os.open("/dev/null", os.O_RDWR)
    err = os.open(errors, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(null, 0)  # the zygote's pipes to the parent are never the program's
    os.dup2(null, 1)
    os.dup2(err, 2)
    os.close(null)
    os.close(err)
    os.chdir(scratch)
    scope_self()
    mb = 1 << 20
    cpu = int(limits["cpu_seconds"])
    # CPU: SIGXCPU at the soft limit (reported as a timeout), SIGKILL a second later
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    for kind, value in (
        (resource.RLIMIT_AS, int(limits["memory_mb"]) * mb),
        (resource.RLIMIT_FSIZE, int(limits["file_mb"]) * mb),
        (resource.RLIMIT_NOFILE, int(limits["open_files"])),
        (resource.RLIMIT_NPROC, int(limits["processes"])),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(kind, (value, value))
    send, exit_now = send_frame, os._exit
    audit = request["audit"]
    if audit:
        sys.addaudithook(audit_hook(audit, scratch, resp_w, send, exit_now))
    ns = {"__name__": "__candidate__", "__builtins__": builtins}
    try:
        exec(compile(request["program"], "<program>", "exec"), ns)
    except MemoryError as exc:
        send(resp_w, ["memory", describe(exc)])
        exit_now(0)
    except BaseException as exc:  # SyntaxError, NameError, SystemExit, KeyboardInterrupt…
        send(resp_w, ["crash", describe(exc)])
        exit_now(0)
    refs = []
    while True:
        try:
            message = recv_frame(req_r)
        except ValueError:
            exit_now(0)
        if message is None:
            exit_now(0)
        if message == ["ping"]:
            send(resp_w, ["pong"])
            continue
        try:
            _, name, args, kwargs = message
            if name not in ns:
                raise NameError(f"name {name!r} is not defined by the program")
            args = decode(args, refs.__getitem__)
            kwargs = decode(kwargs, refs.__getitem__)
            reply = ["ok", encode(ns[name](*args, **kwargs), refs)]
        except BaseException as exc:
            reply = ["raise", type(exc).__name__, describe(exc)]
        send(resp_w, reply)


def audit_hook(level, scratch, resp_w, send, exit_now):
    """PEP 578 hook for the candidate. "net": stop any socket use (there is no network in any
    confined mode; this only names the attempt). "full", used only where the kernel does not
    confine the program (SELFCORRECT_SANDBOX=unconfined): also process creation, signals,
    ctypes, and file access outside scratch — an audit list, which a determined program can get
    past (e.g. through _posixsubprocess or dir_fd opens)."""
    realpath, fsdecode, str_, isinstance_, int_, tuple_ = (
        os.path.realpath,
        os.fsdecode,
        str,
        isinstance,
        int,
        tuple,
    )
    scratch = realpath(scratch)
    readable = tuple(realpath(p) for p in sys.path if p) + (
        realpath(sys.base_prefix),
        scratch,
        "/dev/null",
        "/dev/urandom",
        "/dev/zero",
        "/etc/localtime",
        "/usr/share/zoneinfo",
        "/proc/self/stat",
        "/proc/self/statm",
        "/proc/meminfo",
        "/proc/cpuinfo",
    )
    o_write = os.O_WRONLY | os.O_RDWR | os.O_CREAT
    full = level == "full"
    forbidden_events = {
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "subprocess.Popen",
        "pty.spawn",
        "os.kill",
        "os.killpg",
        "signal.pthread_kill",
        "os.chroot",
        "os.setuid",
        "resource.prlimit",
        "mmap.__new__",
        "sqlite3.connect",
    }
    prefixes = ("socket.",) + (("ctypes.", "_posixsubprocess.") if full else ())
    path_events = {
        "os.remove": 0,
        "os.rmdir": 0,
        "os.rename": 0,
        "os.mkdir": 0,
        "os.chmod": 0,
        "os.chown": 0,
        "os.truncate": 0,
        "os.utime": 0,
        "os.link": 1,
        "os.symlink": 1,
        "shutil.rmtree": 0,
        "os.mkfifo": 0,
        "os.mknod": 0,
    }
    me = os.getpid()

    def inside(path, roots):
        if isinstance_(path, int_):
            return True
        try:
            path = realpath(fsdecode(path))
        except (TypeError, ValueError):
            return False
        return any(path == r or path.startswith(r + "/") for r in roots)

    def stop(event, detail):
        if os.getpid() == me:
            try:
                send(resp_w, ["forbidden", f"{event}: {detail}"[:300]])
            except OSError:
                pass
        exit_now(86)

    def hook(event, args):
        if event.startswith(prefixes):
            stop(event, "")
        if not full:
            return
        if os.getpid() != me:
            exit_now(87)
        if event in forbidden_events:
            stop(event, repr(args[:1]) if isinstance_(args, tuple_) else "")
        elif event == "open":
            path, mode, flags = args
            if path is None:
                return
            writing = bool(mode and any(c in str_(mode) for c in "wax+")) or bool(
                isinstance_(flags, int_) and flags & o_write
            )
            if writing and not inside(path, (scratch,)):
                stop(event, f"write {path!r}")
            if not writing and not inside(path, readable):
                stop(event, f"read {path!r}")
        elif event in path_events:
            i = path_events[event]
            if len(args) > i and args[i] is not None and not inside(args[i], (scratch,)):
                stop(event, repr(args[i]))

    return hook


if __name__ == "__main__":
    import json

    serve(json.loads(sys.argv[-1]))
