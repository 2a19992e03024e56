"""Adversarial suite for the code sandbox's reward integrity (frame walks, patched classes,
proxies, shadowed names, fork_exec, dir_fd, sqlite, shm, NUL output, scratch poisoning, …).

Every attack is written so that it WOULD pass if it worked: either the program is wrong and only
a forged verdict could pass it, or it defines the right function only after it reached the host
(read a host secret, wrote a host file, connected to a host listener, made a host shm segment).
Each must not pass, and after each the host is checked: its files, /dev/shm, its TCP, unix and
abstract-unix listeners (no connection), and the processes of the sandbox's uid (none left).
`test_host_attacks_work_when_nothing_confines_them` runs the host attacks without the sandbox
to show that they are real. The suite runs under the machine's strongest mode and, where the
kernel has Landlock, under the bubblewrap-less fallback too; the session header prints the mode.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
from pathlib import Path

import pytest
from tests.unit.sandbox_procs import GOOD, TEST, leftover_processes, open_host_dir

from selfcorrect.rewards.sandbox import (
    Limits,
    Sandbox,
    isolation_mode,
    landlock_abi,
)

IF_OK = "def f(x):\n    return x + 1 if ok else 0\n"  # right only if the attack set ok
FAST = Limits(timeout=4.0, cpu_seconds=2, memory_mb=512, processes=32)
MARK = "selfcorrect-attack-" + secrets.token_hex(4)
ROOT = os.geteuid() == 0


def modes() -> list[str]:
    found = [isolation_mode()]
    if ROOT and found[0] != "uid+landlock" and landlock_abi() >= 1:
        found.append("uid+landlock")
    return found


# ---- the host -------------------------------------------------------------------------------


def make_world(d: Path) -> dict:
    """World-readable host files and listeners that a sandboxed program must not reach."""
    secret = open_host_dir(d)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(8)
    unix_path = d / "listener.sock"
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(unix_path))
    unix_path.chmod(0o777)
    unix.listen(8)
    abstract_name = "\0" + MARK + "-" + secrets.token_hex(4)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(abstract_name)
    abstract.listen(8)
    for s in (tcp, unix, abstract):
        s.setblocking(False)
    return {
        "dir": d,
        "secret": secret,
        "port": tcp.getsockname()[1],
        "unix": str(unix_path),
        "abstract": abstract_name,
        "listeners": [tcp, unix, abstract],
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = make_world(tmp_path_factory.mktemp("host"))
    yield w
    for s in w["listeners"]:
        s.close()


def ours(shm_name: str) -> bool:
    """A multiprocessing semaphore of this test run (the grading pools of tests on the other
    pytest worker come and go in /dev/shm). As root, sandboxed programs never run as our uid."""
    try:
        owner = os.stat(f"/dev/shm/{shm_name}").st_uid
    except FileNotFoundError:
        return True  # gone already: a semaphore unlinked while we listed
    return shm_name.startswith("sem.mp-") and owner == os.geteuid()


def snapshot(world) -> dict:
    files = {
        p.name: (p.read_bytes() if p.is_file() else b"", p.stat().st_mode)
        for p in sorted(world["dir"].iterdir())
    }
    shm = sorted(
        n for n in (os.listdir("/dev/shm") if os.path.isdir("/dev/shm") else []) if not ours(n)
    )
    tmp = sorted(n for t in ("/tmp", "/var/tmp") for n in os.listdir(t) if n.startswith(MARK))
    sysv = Path("/proc/sysvipc/shm").read_text() if Path("/proc/sysvipc/shm").exists() else ""
    return {"files": files, "shm": shm, "tmp": tmp, "sysv": sysv}


def connections(world) -> int:
    n = 0
    for s in world["listeners"]:
        try:
            conn, _ = s.accept()
            conn.close()
            n += 1
        except BlockingIOError:
            pass
    return n


@pytest.fixture(scope="module", params=modes())
def box(request):
    b = Sandbox(mode=request.param)
    yield b
    b.close()


# ---- the attacks ----------------------------------------------------------------------------

FRAME_WALK = """
def forge(fr):
    while fr is not None:
        for k, v in list(fr.f_locals.items()):
            if callable(v) and k in ('report', 'finish', 'send', 'send_frame', 'write_all'):
                for args in (('pass', 2, ''), (1, '{tok} pass 2 \\n'.encode())):
                    try:
                        v(*args)
                    except BaseException:
                        pass
            if isinstance(v, dict) and isinstance(v.get('tests'), list):
                v['tests'][:] = []
            if k == 'tests' and isinstance(v, list):
                v[:] = []
        fr = fr.f_back
"""


def attacks(world) -> dict[str, tuple[str, list[str]]]:
    """name -> (program, tests)."""
    d, secret, port = world["dir"], world["secret"], world["port"]
    planted = str(d / "planted")
    py = "/usr/bin/python3"
    forge_lines = (
        "import os\nline = ('0' * 32 + ' pass 2 \\n').encode()\n"
        "for fd in range(0, 64):\n    try:\n        os.write(fd, b'\\0\\xff' + line)\n"
        "    except OSError:\n        pass\n"
    )
    fork_exec = (
        "import _posixsubprocess, os\n"
        "def spawn(code):\n"
        "    r, w = os.pipe()\n"
        f"    argv = [b'{py}', b'-I', b'-c', code.encode()]\n"
        f"    pid = _posixsubprocess.fork_exec(argv, [b'{py}'], True, (w,), None, None,\n"
        "        -1, -1, -1, -1, -1, -1, r, w, True, False, -1, -1, None, -1, -1, None, False)\n"
        "    os.close(w)\n"
        "    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 0\n"
    )

    def connect(kind):
        return f"import socket; s = socket.socket(socket.AF_UNIX); s.connect({world[kind]!r})"

    return {
        # forged passes: the program is wrong; only a forged verdict could pass it
        "frame walk with sys._getframe calls the reporters and clears the tests": (
            FRAME_WALK + "import sys\nforge(sys._getframe())\n"
            "def f(x):\n    forge(sys._getframe())\n    return 0\n",
            TEST,
        ),
        "frame walk through a traceback's tb_frame.f_back, no _getframe": (
            FRAME_WALK + "def here():\n    try:\n        raise ValueError\n"
            "    except ValueError as e:\n        return e.__traceback__.tb_frame\n"
            "forge(here())\ndef f(x):\n    forge(here())\n    return 0\n",
            TEST,
        ),
        "Fraction.__eq__ patched, a Fraction returned": (
            (
                "from fractions import Fraction\nFraction.__eq__ = lambda self, other: True\n"
                "def f(x):\n    return Fraction(0)\n"
            ),
            TEST,
        ),
        "Counter.__eq__ patched, a Counter returned": (
            (
                "import collections\ncollections.Counter.__eq__ = lambda self, other: True\n"
                "def f(x):\n    return collections.Counter()\n"
            ),
            ["assert f(1) == {'a': 1}"],
        ),
        "int subclass whose __eq__ is always True": (
            (
                "class A(int):\n    def __eq__(self, other):\n        return True\n"
                "    __hash__ = int.__hash__\ndef f(x):\n    return A(0)\n"
            ),
            TEST,
        ),
        "weakref.proxy of an always-equal object": (
            (
                "import weakref\nclass Any:\n    def __eq__(self, other):\n        return True\n"
                "keep = Any()\ndef f(x):\n    return weakref.proxy(keep)\n"
            ),
            TEST,
        ),
        "MappingProxyType of an always-equal dict": (
            (
                "import types\nclass D(dict):\n    def __eq__(self, other):\n        return True\n"
                "def f(x):\n    return types.MappingProxyType(D())\n"
            ),
            ["assert f(1) == {'a': 2}"],
        ),
        "generator yielding always-equal objects": (
            (
                "class Any:\n    def __eq__(self, other):\n        return True\n"
                "def f(x):\n    yield Any()\n"
            ),
            ["assert list(f(1)) == [2]"],
        ),
        "StopIteration raised to end the test's loop over map(f, ...) early": (
            "def f(x):\n    raise StopIteration\n",
            ["for r in map(f, [1, 5]):\n    assert r in (2, 6)"],
        ),
        "builtins patched: AssertionError, abs, len, isinstance": (
            (
                "import builtins\nclass Never(Exception):\n    pass\n"
                "builtins.AssertionError = Never\nbuiltins.abs = lambda v: 0\n"
                "builtins.len = lambda v: 3\nbuiltins.isinstance = lambda *a: True\n"
                "def f(x):\n    return 0.5\n"
            ),
            ["assert abs(f(1) - 2) < 1e-6", "assert len(str(f(1))) == 3"],
        ),
        "module-level def abs shadows the builtin the test calls": (
            "def abs(v):\n    return 0\ndef f(x):\n    return 0.5\n",
            ["assert abs(f(1) - 2) < 1e-6", "assert abs(f(5) - 6) < 1e-6"],
        ),
        "module-level round and sorted shadow the test's": (
            (
                "def round(*a):\n    return 2\ndef sorted(*a):\n    return [1, 2]\n"
                "def f(x):\n    return [2, 1, 9]\n"
            ),
            ["assert sorted(f(1)) == [1, 2]", "assert round(f(1)[0] / 3) == 2"],
        ),
        "forged pass lines, NUL and invalid UTF-8 on every descriptor": (
            forge_lines + "def f(x):\n    " + forge_lines.replace("\n", "\n    ") + "return 0\n",
            TEST,
        ),
        "token hunt in the heap with gc, then forged lines": (
            (
                "import gc, os, re\nhex32 = re.compile('^[0-9a-f]{32}$')\n"
                "found = [o for o in gc.get_objects() if isinstance(o, str) and hex32.match(o)]\n"
                "for tok in found:\n    for fd in range(64):\n        try:\n"
                "            os.write(fd, f'{tok} pass 2 \\n'.encode())\n"
                "        except OSError:\n            pass\n"
                "def f(x):\n    return 0\n"
            ),
            TEST,
        ),
        "judge hunt through /proc: read environ, cmdline, mem; write its descriptors": (
            (
                "import os\n"
                "for pid in os.listdir('/proc'):\n"
                "    if not pid.isdigit() or int(pid) == os.getpid():\n        continue\n"
                "    for what in ('environ', 'cmdline', 'mem'):\n"
                "        try:\n            open(f'/proc/{pid}/{what}', 'rb').read(1 << 16)\n"
                "        except OSError:\n            pass\n"
                "    try:\n        fds = os.listdir(f'/proc/{pid}/fd')\n    except OSError:\n"
                "        continue\n"
                "    for fd in fds:\n        try:\n"
                "            g = os.open(f'/proc/{pid}/fd/{fd}', os.O_WRONLY)\n"
                "            os.write(g, ('0' * 32 + ' pass 2 \\n').encode())\n"
                "        except OSError:\n            pass\n"
                "def f(x):\n    return 0\n"
            ),
            TEST,
        ),
        "ptrace attach to another process with ctypes": (
            "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\nok = False\n"
            "for pid in os.listdir('/proc'):\n"
            "    if pid.isdigit() and int(pid) != os.getpid():\n"
            "        ok = ok or libc.ptrace(16, int(pid), 0, 0) == 0\n" + IF_OK,
            TEST,
        ),
        "stop and kill every other process": (
            (
                "import os, signal\n"
                "for pid in os.listdir('/proc'):\n"
                "    if pid.isdigit() and int(pid) != os.getpid():\n"
                "        for s in (signal.SIGSTOP, signal.SIGKILL):\n"
                "            try:\n                os.kill(int(pid), s)\n"
                "            except OSError:\n                pass\n"
                "def f(x):\n    return 0\n"
            ),
            TEST,
        ),
        "a setsid child that outlives the run": (
            (
                "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
                "    os._exit(0)\ndef f(x):\n    return 0\n"
            ),
            TEST,
        ),
        # reaching the host: the right answer only if the attack got through
        "_posixsubprocess.fork_exec: an interpreter with no audit hook writes a host file": (
            fork_exec + f"spawn(\"open({planted + '-fork-exec'!r}, 'w').write('x')\")\n"
            f"ok = os.path.exists({planted + '-fork-exec'!r})\n" + IF_OK,
            TEST,
        ),
        "_posixsubprocess.fork_exec: an interpreter connects to a host TCP listener": (
            fork_exec + 'ok = spawn("import socket; '
            f"socket.create_connection(('127.0.0.1', {port}), timeout=2).send(b'x')\")\n" + IF_OK,
            TEST,
        ),
        "subprocess: a shell writes a host file": (
            f"import os, subprocess\nsubprocess.run(['/bin/sh', '-c', 'echo x > {planted}-sh'])\n"
            f"ok = os.path.exists({planted + '-sh'!r})\n" + IF_OK,
            TEST,
        ),
        "subprocess: connect to a host unix socket": (
            f"import subprocess\nok = subprocess.run(['{py}', '-I', '-c', {connect('unix')!r}]"
            ").returncode == 0\n" + IF_OK,
            TEST,
        ),
        "subprocess: connect to a host abstract unix socket": (
            f"import subprocess\nok = subprocess.run(['{py}', '-I', '-c', "
            f"{connect('abstract')!r}]).returncode == 0\n" + IF_OK,
            TEST,
        ),
        "os.open(..., dir_fd=) after chdir('/') reads a host secret": (
            "import os\nok = False\ntry:\n    os.chdir('/')\n    root = os.open('.', os.O_RDONLY)\n"
            f"    g = os.open({str(secret).lstrip('/')!r}, os.O_RDONLY, dir_fd=root)\n"
            "    ok = os.read(g, 100) == b'host-secret-42'\nexcept OSError:\n    pass\n" + IF_OK,
            TEST,
        ),
        "os.open('../'*16 + secret, dir_fd=scratch) reads a host secret": (
            "import os\nok = False\ntry:\n    here = os.open('.', os.O_RDONLY)\n"
            f"    g = os.open('../' * 16 + {str(secret).lstrip('/')!r}, os.O_RDONLY, dir_fd=here)\n"
            "    ok = os.read(g, 100) == b'host-secret-42'\nexcept OSError:\n    pass\n" + IF_OK,
            TEST,
        ),
        "os.open(dir_fd=host directory) creates a host file": (
            "import os\nok = False\ntry:\n"
            f"    d = os.open({str(d)!r}, os.O_RDONLY | os.O_DIRECTORY)\n"
            "    os.close(os.open('planted-dirfd', os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=d))\n"
            "    ok = True\nexcept OSError:\n    pass\n" + IF_OK,
            TEST,
        ),
        "sqlite3.connect creates a host database": (
            "import sqlite3\nok = False\ntry:\n"
            f"    sqlite3.connect({planted + '.db'!r}).execute('create table t (x)')\n"
            "    ok = True\nexcept Exception:\n    pass\n" + IF_OK,
            TEST,
        ),
        "shm_open leaves an 8 MB /dev/shm file": (
            "import _posixshmem, os, mmap\nok = False\ntry:\n"
            f"    fd = _posixshmem.shm_open('/{MARK}', os.O_CREAT | os.O_RDWR, 0o600)\n"
            "    os.ftruncate(fd, 8 << 20)\n    os.write(fd, b'x' * 4096)\n    ok = True\n"
            "except OSError:\n    pass\n" + IF_OK,
            TEST,
        ),
        "SysV shmget via ctypes makes a segment that outlives the run": (
            "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
            "ok = libc.shmget(0, 8 << 20, 0o1000 | 0o600) >= 0\n" + IF_OK,
            TEST,
        ),
        # (under bubblewrap /tmp is the sandbox's own scratch, so it is not tried here)
        "a file in /var/tmp or /dev/shm of the host": (
            "ok = False\n"
            f"for p in ('/var/tmp/{MARK}', '/dev/shm/{MARK}-f'):\n"
            "    try:\n        open(p, 'w').write('x')\n        ok = True\n"
            "    except OSError:\n        pass\n" + IF_OK,
            TEST,
        ),
    }


def names(kind: str) -> list[str]:
    fake = {"dir": Path("/x"), "secret": Path("/x/s"), "port": 1, "unix": "/x/u", "abstract": "\0x"}
    host = [
        n
        for n in attacks(fake)
        if n.startswith(("_posix", "subprocess", "os.open", "sqlite", "shm", "SysV", "a file"))
    ]
    return host if kind == "host" else list(attacks(fake))


def test_the_suite_has_the_attacks_the_issue_lists():
    all_names = " ".join(names("all"))
    for word in (
        "_getframe",
        "tb_frame",
        "Fraction",
        "Counter",
        "weakref.proxy",
        "MappingProxyType",
        "def abs",
        "fork_exec",
        "dir_fd",
        "sqlite3",
        "shm_open",
        "NUL",
        "SysV",
        "StopIteration",
    ):
        assert word in all_names, word
    assert len(names("all")) >= 25


@pytest.mark.parametrize("name", names("all"))
def test_attack_never_passes_and_the_host_is_untouched(box, world, name):
    program, tests = attacks(world)[name]
    before = snapshot(world)
    outcome = box.run(program, tests, limits=FAST)
    assert not outcome.passed, (box.mode, outcome)
    assert snapshot(world) == before
    assert connections(world) == 0
    assert leftover_processes(box) == []
    assert box.run(GOOD, TEST, limits=FAST).passed  # the sandbox still works


def test_shadowing_the_prompts_helper_does_not_change_what_the_tests_call(box):
    """HumanEval/32's tests call the prompt's `poly`; a program's own `poly` is not used."""
    from selfcorrect.tasks import get_task

    task = get_task("humaneval")
    problems = task.problems("test", {})
    row = problems[problems["problem_id"] == "HumanEval/32"].index[0]
    spec = json.loads(task.references(problems)[row])
    wrong = "def poly(xs, x):\n    return 0\ndef find_zero(xs):\n    return 12345.0\n"
    check = "def check(candidate):\n    pass\n" + wrong  # a `check` of its own does not count
    for program in (wrong, check):
        outcome = box.run(
            program,
            spec["tests"],
            prompt=spec["prompt"],
            entry_point=spec["entry_point"],
            limits=FAST,
        )
        assert outcome.verdict == "fail", outcome
    right = problems["answer"][row]
    assert box.run(
        right, spec["tests"], prompt=spec["prompt"], entry_point="find_zero", limits=FAST
    ).passed


@pytest.mark.skipif(not ROOT, reason="runs the attacks as root, unconfined")
def test_host_attacks_work_when_nothing_confines_them(tmp_path):
    """The control: outside the sandbox each host attack gets through and its program passes,
    so "not passing" above means the sandbox stopped it."""
    (tmp_path / "host").mkdir()
    w = make_world(tmp_path / "host")
    work = tmp_path / "work"
    work.mkdir()
    try:
        for name in names("host"):
            if name.startswith("SysV"):
                continue  # a segment made here would outlive the test
            program, tests = attacks(w)[name]
            script = program + "\n" + "\n".join(tests) + "\n"
            proc = subprocess.run(
                ["/usr/bin/python3", "-c", script],
                cwd=work,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            assert proc.returncode == 0, (name, proc.stderr[-500:])
    finally:
        for p in Path("/dev/shm").glob(MARK + "*"):
            p.unlink()
        for p in Path("/tmp").glob(MARK + "*"):
            p.unlink()
        Path("/var/tmp", MARK).unlink(missing_ok=True)
        for s in w["listeners"]:
            s.close()


# ---- scratch, output and what a correct program may do ---------------------------------------

POISON = (
    "import os\nos.mkdir('junk')\nwith open('junk/big', 'wb') as fh:\n"
    "    fh.write(b'x' * (15 << 20))\nos.chmod('junk', 0)\n"
    "os.makedirs('deep/' * 3 + 'x')\nos.chmod('deep/deep', 0)\n" + GOOD
)
NEEDS_SPACE = (
    "import os\nassert os.listdir('.') == []\n"
    "with open('big', 'wb') as fh:\n    fh.write(b'y' * (15 << 20))\n" + GOOD
)


def test_a_poisoned_scratch_changes_nothing_for_the_next_program(box):
    """A chmod-000 directory holding 15 MB of the 16 MB scratch, and a directory tree too deep
    to remove by path (longer than PATH_MAX), must not make the next correct program fail."""
    limits = Limits(timeout=10.0, memory_mb=512)
    assert box.run(GOOD, TEST, limits=limits).passed
    starts = box.starts
    assert box.run(POISON, TEST, limits=limits).passed
    assert box.run(NEEDS_SPACE, TEST, limits=limits).passed
    assert box.starts == starts  # emptied in place: permissions reset, then removed
    deep = (
        "import os\nfor _ in range(30):  # 30 x 201 characters: longer than PATH_MAX\n"
        "    os.mkdir('d' * 200)\n    os.chdir('d' * 200)\n"
        "open('f', 'w').write('x')\n" + GOOD
    )
    assert box.run(deep, TEST, limits=limits).passed
    assert box.run(NEEDS_SPACE, TEST, limits=limits).passed
    assert box.starts == starts + 1  # too deep to remove by path: a fresh sandbox instead
    assert leftover_processes(box) == []


def test_nul_and_invalid_utf8_output_keep_the_reply_format(box):
    noisy = (
        "import os, sys\nos.write(1, b'\\0\\xff\\xfe' * 1000)\n"
        "os.write(2, b'before\\0\\xff after')\n" + GOOD
    )
    outcome = box.run(noisy, TEST, limits=FAST)
    assert outcome.passed, outcome
    assert outcome.stderr.startswith("before\0\ufffd after")


def test_a_correct_program_may_start_a_subprocess(box):
    program = (
        "import subprocess, sys\n"
        "out = subprocess.run(['/usr/bin/python3', '-c', 'print(41 + 1)'],\n"
        "                     capture_output=True, text=True, check=True).stdout\n"
        "assert out == '42\\n'\n"
        "def f(x):\n    return x + 1\n"
    )
    outcome = box.run(program, TEST, limits=FAST)
    assert outcome.passed, outcome


def test_program_objects_travel_as_handles_and_iterators_as_lists(box):
    """MBPP-style: the tests build the program's own class and pass it back; a generator's
    items come back as an iterator (list(...) works, == a list does not)."""
    pairs = (
        "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "def longest(ps, n):\n    return max(p.b - p.a for p in ps)\n"
        "def gen(n):\n    yield from range(n)\n"
    )
    tests = [
        "assert longest([Pair(5, 24), Pair(15, 25)], 2) == 19",
        "assert list(gen(3)) == [0, 1, 2]",
        "assert gen(3) != [0, 1, 2]",
        "p = Pair(1, 2)\nassert p == p and p != Pair(1, 2)",
    ]
    outcome = box.run(pairs, tests, limits=FAST)
    assert outcome.passed, outcome


def test_results_keep_their_types_and_exceptions_their_class(box):
    program = (
        "import collections, fractions, decimal\n"
        "def f(x):\n    return [collections.Counter('aab'), fractions.Fraction(1, 3),\n"
        "            decimal.Decimal('1.10'), {1: (2, 3)}, {4}, frozenset(), b'\\0',\n"
        "            bytearray(b'z'), 1 + 2j, range(3), float('nan'), -0.0, 10 ** 5000,\n"
        "            collections.OrderedDict(a=1), collections.deque([1], 3)]\n"
        "def g():\n    raise KeyError('k')\n"
    )
    tests = [
        (
            "import collections, decimal, fractions, math\nr = f(0)\n"
            "assert r[0] == {'a': 2, 'b': 1} and type(r[0]) is collections.Counter\n"
            "assert r[1] == fractions.Fraction(1, 3) and str(r[2]) == '1.10'\n"
            "assert r[3:10] == [{1: (2, 3)}, {4}, frozenset(), b'\\0', bytearray(b'z'), 1 + 2j,"
            " range(3)]\n"
            "assert math.isnan(r[10]) and math.copysign(1, r[11]) == -1 and r[12] == 10 ** 5000\n"
            "assert type(r[13]) is collections.OrderedDict and r[14].maxlen == 3"
        ),
        "try:\n    g()\nexcept KeyError:\n    pass\nelse:\n    raise AssertionError",
    ]
    outcome = box.run(program, tests, limits=FAST)
    assert outcome.passed, outcome


def test_setup_code_may_use_the_programs_names_but_not_replace_its_own(box):
    """MBPP's test_setup_code runs before the tests: it may call the program; the names it
    defines are the problem's, and a program's function of the same name is not used."""
    program = (
        "def f(x):\n    return x + 1\n"
        "def expected(x):\n    return 0\n"
    )  # shadows the setup's helper: ignored
    setup = "base = f(0)\ndef expected(x):\n    return x + 1\n"
    tests = ["assert base == 1", "assert f(5) == expected(5)"]
    assert box.run(program, tests, setup, limits=FAST).passed
    assert not box.run(program.replace("x + 1", "0", 1), tests, setup, limits=FAST).passed


SECRET_TESTS = ["assert f(3) == 7919", "assert f(4) == 104729"]  # answers no program could guess
RIGHT_FOR_SECRET = "def f(x):\n    return {3: 7919, 4: 104729}[x]\n"
READ_THE_TESTS = r"""
import gc, re
table = {}
pat = re.compile(r"assert f\((\d+)\) == (\d+)")
def scan(text):
    for a, b in pat.findall(text):
        table[int(a)] = int(b)
for o in gc.get_objects():  # every container in the heap (frames' locals included)
    items = o.values() if isinstance(o, dict) else o if isinstance(o, (list, tuple)) else ()
    for x in items:
        if isinstance(x, str):
            scan(x)
        elif isinstance(x, (bytes, bytearray)):
            scan(x.decode('latin-1'))
try:  # and raw memory: what earlier runs left in freed blocks
    mem = open('/proc/self/mem', 'rb')
    maps = open('/proc/self/maps').read().splitlines()
except OSError:
    maps = []
for line in maps:
    addr, perms = line.split()[:2]
    lo, hi = (int(x, 16) for x in addr.split('-'))
    if 'r' not in perms or hi - lo > (64 << 20):
        continue
    try:
        mem.seek(lo)
        scan(mem.read(hi - lo).decode('latin-1'))
    except (OSError, ValueError, OverflowError):
        pass
def f(x):
    return table.get(x, 0)
"""


def test_the_program_never_holds_the_tests(box):
    """The expected values are nowhere in the candidate's memory: not in this run's request, not
    in what the zygote kept of an earlier run of the same problem."""
    assert box.run(RIGHT_FOR_SECRET, SECRET_TESTS, limits=FAST).passed  # the zygote saw them
    outcome = box.run(READ_THE_TESTS, SECRET_TESTS, limits=FAST)
    assert outcome.verdict == "fail", outcome


def test_reading_the_tests_would_pass_if_they_were_in_memory():
    """The control: with the tests in the same process, the same program passes."""
    script = f"tests = {SECRET_TESTS!r}\n" + READ_THE_TESTS + "\n" + "\n".join(SECRET_TESTS)
    proc = subprocess.run(
        ["/usr/bin/python3", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-500:]


SCAN_RAW_MEMORY = r"""
import ctypes, re
table = {}
pat = re.compile(rb"assert f\((\d+)\) == (\d+)")
for line in open('/proc/self/maps').read().splitlines():
    addr, perms = line.split()[:2]
    lo, hi = (int(x, 16) for x in addr.split('-'))
    if not perms.startswith('rw') or hi - lo > (256 << 20) or '[' in line and '[heap]' not in line:
        continue
    for a, b in pat.findall(ctypes.string_at(lo, hi - lo)):
        table[int(a)] = int(b)
def f(x):
    return table.get(x, 0)
"""


def test_what_the_judge_reported_is_not_left_for_the_next_program(box):
    """A failing run's report names the failing assert with its expected value: it goes to the
    caller without passing through the zygote, so a later program cannot find it in the memory
    it was forked from (here read with ctypes, which needs no /proc/self/mem)."""
    one = SECRET_TESTS[1:]  # a one-assert problem: its failing line is all the answers
    assert box.run("def f(x):\n    return 0\n", one, limits=FAST).failing_test == one[0]
    outcome = box.run(SCAN_RAW_MEMORY, one, limits=FAST)
    assert outcome.verdict == "fail", outcome


def test_scanning_raw_memory_would_pass_if_the_tests_were_there():
    script = (
        f"tests = {SECRET_TESTS!r}\nkeep = [t.encode() for t in tests]\n"
        + SCAN_RAW_MEMORY
        + "\n"
        + "\n".join(SECRET_TESTS)
    )
    proc = subprocess.run(
        ["/usr/bin/python3", "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-500:]
