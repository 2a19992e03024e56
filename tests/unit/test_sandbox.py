"""The code sandbox against hostile programs: none may pass, touch the host, or stop the pool.

Each escape or forgery below is written so that it WOULD pass its test if the attack worked (it
defines the right function only after the attack succeeded, or forges the pass signal), so
"not passing" means the attack failed, not merely that the program was wrong; the resource
attacks (loops, bombs, floods) must end in their verdict without harming the host or the pool. Tests run as
root here and in CI, so they exercise the strongest isolation the machine has (bwrap+uid); the
OS layers are also checked with the harness's audit hook switched off.
"""

from __future__ import annotations

import ast
import json
import os
import stat
from pathlib import Path

import pytest
from tests.unit.sandbox_procs import GOOD, TEST, leftover_processes, open_host_dir

from selfcorrect.rewards import code as code_rewards
from selfcorrect.rewards.pool import grade_many
from selfcorrect.rewards.sandbox import (
    MODES,
    Limits,
    Sandbox,
    isolation_mode,
    landlock_abi,
)

WRONG = "def f(x):\n    return 0\n"
FAST = Limits(timeout=2.0, cpu_seconds=1, memory_mb=256, processes=32)


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    """World-readable host files a sandboxed program must neither read nor change."""
    d = tmp_path_factory.mktemp("host")
    secret = open_host_dir(d)
    victim = d / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o666)
    return {"dir": d, "secret": secret, "victim": victim}


def snapshot(d: Path) -> dict:
    return {p.name: (p.read_bytes(), p.stat().st_mode) for p in sorted(d.iterdir())}


def hostile(host) -> dict[str, str]:
    d, secret, victim = host["dir"], host["secret"], host["victim"]
    return {
        "infinite loop": "while True:\n    pass\n" + GOOD,
        "sleep forever": "import time\ntime.sleep(3600)\n" + GOOD,
        "fork bomb": "import os\nwhile True:\n    os.fork()\n",
        "memory bomb": "x = [bytearray(1 << 20) for _ in range(100000)]\n" + GOOD,
        "os._exit(0) before the asserts": "import os\nos._exit(0)\n",
        "sys.exit(0) before the asserts": "import sys\nsys.exit(0)\n",
        "SystemExit inside the tested function": "def f(x):\n    raise SystemExit(0)\n",
        "assert patched via builtins": (
            "import builtins\n"
            "class Never(Exception):\n    pass\n"
            "builtins.AssertionError = Never\n"
            "builtins.abs = lambda v: 0\n"
            "def f(x):\n    return 0\n"
        ),
        "__eq__ that is always True": (
            "class Anything:\n    def __eq__(self, other):\n        return True\n"
            "def f(x):\n    return Anything()\n"
        ),
        "list of always-equal items": (
            "class A(int):\n    def __eq__(self, other):\n        return True\n"
            "def f(x):\n    return [A(0)]\n"
        ),
        "fake success line on stdout and every fd": (
            "import os\nfake = ('0' * 32 + ' pass 2 \\n').encode()\nprint('pass'); print('ok')\n"
            "for fd in range(1, 64):\n    try:\n        os.write(fd, fake)\n    except OSError:\n"
            "        pass\nos._exit(0)\n"
        ),
        "atexit handler after an early exit": (
            "import atexit, sys\natexit.register(lambda: print('all tests passed'))\nsys.exit(0)\n"
        ),
        "close the report pipe then exit": "import os\nos.closerange(3, 4096)\nos._exit(0)\n",
        "trace function on the program's own frames": (
            "import sys\nsys.settrace(lambda *a: None)\n" + WRONG
        ),
        "ctypes loaded": "import ctypes\nctypes.CDLL(None)\n" + WRONG,
        "open a socket": (
            "import socket\ns = socket.create_connection(('1.1.1.1', 53), timeout=1)\n" + GOOD
        ),
        "write outside scratch": (f"open({str(d / 'planted.txt')!r}, 'w').write('x')\n" + GOOD),
        "overwrite a host file": f"open({str(victim)!r}, 'w').write('owned')\n" + GOOD,
        "delete a host file": f"import os\nos.remove({str(victim)!r})\n" + GOOD,
        "read the host's files": (
            f"if open({str(secret)!r}).read() == 'host-secret-42':\n"
            + "    "
            + GOOD.replace("\n    ", "\n        ")
        ),
        "read /etc/shadow": "open('/etc/shadow').read()\n" + GOOD,
        "subprocess shell writing a host file": (
            f"import os, subprocess\nsubprocess.run(['sh', '-c', 'echo x > {d}/shell'])\n"
            f"if os.path.exists({str(d / 'shell')!r}):\n"
            + "    "
            + GOOD.replace("\n    ", "\n        ")
        ),
        "kill every process": "import os, signal\nos.kill(-1, signal.SIGKILL)\n" + WRONG,
        "signal tricks: ignore SIGTERM/SIGXCPU and spin": (
            "import signal\nfor s in (signal.SIGTERM, signal.SIGXCPU, signal.SIGINT):\n"
            "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n"
        ),
        "thread that outlives the test": (
            "import threading, time, os\n"
            "def later():\n    time.sleep(0.2)\n    os.write(1, b'pass\\n')\n"
            "threading.Thread(target=later).start()\n"
            "def f(x):\n    return 0\n"
        ),
        "huge output": "while True:\n    print('x' * 100000)\n",
        "huge stderr": "import sys\nwhile True:\n    sys.stderr.write('x' * 100000)\n",
        "raise the rlimits": (
            "import resource\nresource.setrlimit(resource.RLIMIT_CPU, (10**6, 10**6))\n" + GOOD
        ),
        "recursion bomb": "def f(x):\n    return f(x) + 1\n",
    }


def test_isolation_is_the_strongest_this_machine_offers():
    root = os.geteuid() == 0
    mode = isolation_mode()
    assert mode in MODES
    if root:
        assert mode in ("bwrap+uid", "uid+landlock")  # never code running as root


def test_good_program_passes_and_wrong_one_fails_with_its_test():
    box = Sandbox()
    try:
        assert box.run(GOOD, TEST).verdict == "pass"
        bad = box.run("def f(x):\n    return x\n", TEST)
        assert (bad.verdict, bad.failing_test) == ("fail", "assert f(1) == 2")
        second = box.run("def f(x):\n    return 2 if x == 1 else 0\n", TEST)
        assert (second.verdict, second.failing_test) == ("fail", "assert f(5) == 6")
        assert box.run("def f(x) return", TEST).verdict == "crash"  # a syntax error
        if box.mode.startswith("bwrap"):
            # The judge is forked before the candidate, so it is already there when the
            # program starts: what the program sees (a kill(-1) that finds no other process
            # raises ESRCH) does not depend on how the forks were scheduled. In bubblewrap's
            # PID namespace the zygote is PID 1 and PIDs go up, so the judge's is lower.
            census = (
                "import os\npids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
                "raise SystemExit(repr((os.getpid(), pids)))\n"
            )
            outcome = box.run(census, TEST)
            me, pids = ast.literal_eval(outcome.detail.split("SystemExit: ", 1)[1])
            assert [p for p in pids if p not in (1, me)] == [me - 1], outcome.detail
    finally:
        box.close()


def test_hostile_programs_never_pass_and_the_host_is_untouched(host):
    before = snapshot(host["dir"])
    box = Sandbox()
    verdicts = {}
    try:
        for name, program in hostile(host).items():
            outcome = box.run(program, TEST, limits=FAST)
            verdicts[name] = outcome.verdict
            assert not outcome.passed, (name, outcome)
            # the same sandbox keeps working after every attack
            assert box.run(GOOD, TEST, limits=FAST).passed, name
        assert leftover_processes(box) == []
    finally:
        box.close()
    assert snapshot(host["dir"]) == before
    # each attack is stopped by the layer meant for it
    expected = {
        "infinite loop": "timeout",
        "sleep forever": "timeout",
        "memory bomb": "memory",
        "os._exit(0) before the asserts": "crash",
        "sys.exit(0) before the asserts": "crash",
        "open a socket": "forbidden",
        "__eq__ that is always True": "fail",
        "assert patched via builtins": "fail",
        "huge output": "timeout",
        "ctypes loaded": "fail",
        # Landlock's signal scoping (ABI 6) keeps the judge out of reach; without it the
        # candidate's kill(-1) takes the judge down, and no verdict is a crash
        "kill every process": "fail" if box.hello["scoped"] else "crash",
    }
    assert {k: verdicts[k] for k in expected} == expected
    assert len(verdicts) >= 20


@pytest.mark.skipif(not isolation_mode().startswith("bwrap"), reason="needs bubblewrap")
def test_os_layers_hold_without_the_audit_hook(host):
    """With the harness's audit hook off, bubblewrap, the uid and rlimits still stop these."""
    d, secret, victim = host["dir"], host["secret"], host["victim"]
    attacks = {
        "fork bomb": "import os\nwhile True:\n    os.fork()\n",
        "socket": "import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\n" + GOOD,
        "host write": f"open({str(d / 'planted.txt')!r}, 'w').write('x')\n" + GOOD,
        "host delete": f"import os\nos.remove({str(victim)!r})\n" + GOOD,
        "host read": f"assert open({str(secret)!r}).read()\n" + GOOD,
        "setsid child that outlives the run": (
            "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
            "def f(x):\n    return 0\n"
        ),
        "shell": "import subprocess\nsubprocess.run(['/bin/sh', '-c', 'echo x > /tmp/y'])\n",
        "write to the sandbox's /": "open('/planted', 'w').write('x')\n" + GOOD,
        "write to /dev/shm": "open('/dev/shm/planted', 'w').write('x')\n" + GOOD,
        "kill the zygote (PID 1)": "import os\nos.kill(1, 9)\ndef f(x):\n    return 0\n",
        "kill everything": "import os\nos.kill(-1, 9)\ndef f(x):\n    return 0\n",
    }
    before = snapshot(d)
    box = Sandbox()
    try:
        box.run(GOOD, TEST)
        zygote = box.proc.pid
        for name, program in attacks.items():
            outcome = box.run(
                program, TEST, limits=Limits(timeout=3.0, cpu_seconds=2, processes=32, audit=False)
            )
            assert not outcome.passed, (name, outcome)
            assert box.run(GOOD, TEST, limits=FAST).passed, name
            assert box.proc.pid == zygote, name  # the sandbox itself survived, not restarted
        assert leftover_processes(box) == []
        # nothing one program writes is there for the next
        no_hook = Limits(audit=False)
        assert box.run("open('/tmp/planted', 'w').write('x')\n" + GOOD, TEST, limits=no_hook).passed
        assert box.run(
            "import os\nassert not os.path.exists('/tmp/planted')\n" + GOOD, TEST, limits=no_hook
        ).passed
    finally:
        box.close()
    assert snapshot(d) == before


def test_pool_survives_hostile_programs_and_labels_in_order(host):
    """Through the label stage's process pool: hostile and good programs interleaved."""
    spec = json.dumps(
        {
            "style": "mbpp",
            "prompt": "",
            "entry_point": "",
            "setup": "",
            "tests": TEST,
            "limits": {"timeout": 2.0, "cpu_seconds": 1, "memory_mb": 256, "processes": 32},
        }
    )
    programs = list(hostile(host).values())[:8]
    pairs = []
    for p in programs:
        pairs += [(p, spec), (GOOD, spec)]
    grades = grade_many(pairs, workers=2, verifier="code")
    assert [g.reward for g in grades] == [0.0, 1.0] * len(programs)
    assert {g.isolation for g in grades} == {isolation_mode()}
    again = grade_many([(GOOD, spec)] * 3, workers=2, verifier="code")
    assert [g.verdict for g in again] == ["pass"] * 3


# ---- extraction ------------------------------------------------------------------------------

HE_SPEC = {
    "style": "humaneval",
    "entry_point": "add",
    "prompt": 'from typing import List\n\n\ndef add(a: int, b: int) -> int:\n    """Add."""\n',
}


def test_fenced_block_defining_the_entry_point_wins():
    text = (
        "Here:\n```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n"
        "Example:\n```python\nprint(add(1, 2))\n```\n"
    )
    program = code_rewards.extract_program(text, HE_SPEC)
    assert program == "from typing import List\ndef add(a: int, b: int) -> int:\n    return a + b\n"


def test_last_fenced_block_without_an_entry_point():
    text = "```py\nx = 1\n```\nthen\n```\ndef g():\n    return 2\n```"
    assert code_rewards.extract_program(text, {"style": "mbpp"}) == "def g():\n    return 2\n"


def test_unclosed_fence_runs_to_the_end():
    assert code_rewards.extract_program("```python\ndef g():\n    return 2", {}) == (
        "def g():\n    return 2\n"
    )


def test_mbpp_completion_is_cut_at_done():
    text = "def g(x):\n    return x\n[DONE]\n\nYou are an expert Python programmer, …"
    assert code_rewards.extract_program(text, {"style": "mbpp"}) == "def g(x):\n    return x\n"
    assert code_rewards.extract_program("[BEGIN]\nx = 1\n[DONE]", {"style": "mbpp"}) == "x = 1\n"


def test_humaneval_body_continues_the_prompt():
    body = "    return a + b\n"
    assert code_rewards.extract_program(body, HE_SPEC) == HE_SPEC["prompt"] + "    return a + b\n"
    flush = "return a + b"  # written flush left: indented into the function
    assert code_rewards.extract_program(flush, HE_SPEC) == HE_SPEC["prompt"] + "    return a + b\n"


def test_no_code_is_no_answer():
    spec = json.dumps({"style": "mbpp", "tests": TEST})
    grade = code_rewards.grade_code("   \n", spec)
    assert (grade.reward, grade.verdict) == (0.0, "no_answer")


def test_a_math_answer_as_code_reference_is_a_clear_error():
    from selfcorrect.errors import SelfCorrectError

    with pytest.raises(SelfCorrectError, match="not a test spec"):
        code_rewards.grade_code("def f(): pass", "def f(): return 1")


UNPRIVILEGED = """
import sys
sys.path.insert(0, {workflow!r})
from selfcorrect.rewards.sandbox import Limits, Sandbox, isolation_mode
box = Sandbox()
fast = Limits(timeout=2.0, cpu_seconds=1)
print(isolation_mode())
print(box.run({good!r}, {tests!r}, limits=fast).verdict)
print(box.run("import os\\nos._exit(0)", {tests!r}, limits=fast).verdict)
print(box.run("while True:\\n    pass", {tests!r}, limits=fast).verdict)
box.close()
"""


@pytest.mark.skipif(
    os.geteuid() != 0 or not os.access("/usr/bin/setpriv", os.X_OK),
    reason="needs root to become an unprivileged caller",
)
@pytest.mark.parametrize(
    "forced, expected", [("auto", "bwrap"), ("landlock", "landlock"), ("unconfined", "rlimits")]
)
def test_unprivileged_caller_gets_bwrap_landlock_or_rlimits_and_says_so(root, forced, expected):
    """Without root the sandbox cannot switch uid: bubblewrap, Landlock, or (opted into)
    rlimits alone."""
    import subprocess
    import tempfile

    workflow = root / "workflow"
    if not all(os.stat(p).st_mode & stat.S_IXOTH for p in [workflow, *workflow.parents]):
        pytest.skip("the checkout is not readable by an unprivileged user")
    if expected == "bwrap" and not isolation_mode().startswith("bwrap"):
        pytest.skip("needs bubblewrap")
    if expected == "landlock" and landlock_abi() < 6:
        pytest.skip("needs Landlock ABI 6")
    d = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        d.chmod(0o755)
        script = d / "caller.py"
        script.write_text(UNPRIVILEGED.format(workflow=str(workflow), good=GOOD, tests=TEST))
        script.chmod(0o644)
        proc = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                str(script),
            ],
            capture_output=True,
            text=True,
            cwd=d,
            timeout=60,
            env={"PATH": "/usr/bin:/bin", "SELFCORRECT_SANDBOX": forced},
            check=False,
        )
    finally:
        import shutil

        shutil.rmtree(d)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [expected, "pass", "crash", "timeout"]


def test_results_may_use_standard_library_classes_but_not_forged_ones():
    box = Sandbox()
    try:
        counter = "from collections import Counter\ndef f(s):\n    return Counter(s)\n"
        assert box.run(counter, ["assert f('aab') == {'a': 2, 'b': 1}"]).verdict == "pass"
        fraction = "from fractions import Fraction\ndef f(x):\n    return Fraction(x, 2)\n"
        assert box.run(fraction, ["assert f(1) == 0.5"]).verdict == "pass"
        # a program's own class cannot pass for a trusted one by rebinding the module attribute
        forged = (
            "import collections\nclass C(collections.Counter):\n"
            "    def __eq__(self, other):\n        return True\n"
            "collections.Counter = C\ndef f(s):\n    return C(s)\n"
        )
        assert box.run(forged, ["assert f('a') == {'z': 9}"]).verdict == "fail"
    finally:
        box.close()


# ---- the kernel filter, the value encoding, the refusal to run unconfined ------------------


def test_seccomp_program_layout_is_the_hand_written_one():
    import struct

    from selfcorrect.rewards import harness

    prog = harness.seccomp_program("unix")
    insns = [struct.unpack("<HBBI", prog[i : i + 8]) for i in range(0, len(prog), 8)]
    n_deny = len(harness.X86_64_DENY)
    # arch check, load nr, x32 check, one jeq per denied call, clone3, socket, clone
    assert insns[0] == (0x20, 0, 0, 4)  # ld [arch]
    assert insns[1][0] == 0x15 and insns[1][3] == 0xC000003E
    assert insns[2] == (0x20, 0, 0, 0)  # ld [nr]
    assert insns[3][:1] == (0x35,) and insns[3][3] == 0x40000000
    assert [i[3] for i in insns[4 : 4 + n_deny]] == sorted(harness.X86_64_DENY.values())
    assert insns[4 + n_deny + 3] == (0x06, 0, 0, 0x7FFF0000)  # allow everything else

    # every jump lands on a return of the right kind
    def target(i, off):
        return insns[i + 1 + off]

    for i in range(4, 4 + n_deny):
        assert target(i, insns[i][1]) == (0x06, 0, 0, 0x00050000 | 1)  # EPERM
    assert target(1, insns[1][2]) == (0x06, 0, 0, 0x80000000)  # another arch: killed
    assert len(harness.seccomp_program("none")) == len(prog) - 3 * 8  # no AF_UNIX branch
    with pytest.raises(ValueError):
        harness.seccomp_program("all")


KERNEL_CHECK = """
import ctypes, errno, os, socket, struct, sys
sys.path.insert(0, {workflow!r})
from selfcorrect.rewards import harness
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(38, 1, 0, 0, 0) == 0
prog = ctypes.create_string_buffer(harness.seccomp_program({sockets!r}))
fprog = ctypes.create_string_buffer(struct.pack("<HxxxxxxQ", len(prog.raw) // 8,
                                                ctypes.addressof(prog)))
assert libc.prctl(22, 2, fprog, 0, 0) == 0, ctypes.get_errno()
out = []
for family in (socket.AF_INET, socket.AF_UNIX):
    try:
        socket.socket(family).close()
        out.append("ok")
    except OSError as e:
        out.append(errno.errorcode[e.errno])
libc.syscall.restype = ctypes.c_long
out.append(str(libc.syscall(272, 0x10000000)))  # unshare(CLONE_NEWUSER)
out.append(errno.errorcode[ctypes.get_errno()])
out.append(str(libc.syscall(101, 0, 0, 0, 0)))  # ptrace(PTRACE_TRACEME)
pid = os.fork()  # clone without namespace flags still works
if pid == 0:
    os._exit(7)
out.append(str(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])))
print(" ".join(out))
"""


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the filter's table is x86_64's")
@pytest.mark.parametrize(
    "sockets, inet, unix",
    [("unix", "EAFNOSUPPORT", "ok"), ("none", "EAFNOSUPPORT", "EAFNOSUPPORT")],
)
def test_seccomp_program_does_what_it_says_in_the_kernel(root, sockets, inet, unix):
    import subprocess
    import sys

    script = KERNEL_CHECK.format(workflow=str(root / "workflow"), sockets=sockets)
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [inet, unix, "-1", "EPERM", "-1", "7"]


def test_values_round_trip_and_anything_else_is_refused():
    import collections
    import fractions

    from selfcorrect.rewards.harness import decode, encode

    values = [
        1,
        -0.0,
        "s",
        None,
        True,
        [1, (2, {3})],
        {"a": [b"\0"]},
        frozenset({1}),
        collections.Counter("aab"),
        fractions.Fraction(2, 3),
        10**400,
        1j,
        collections.defaultdict(list, {1: [2]}),
        bytearray(b"x"),
        range(1, 9, 2),
    ]
    for v in values:
        back = decode(encode(v))
        assert back == v and type(back) is type(v), v
    assert type(decode(encode(True))) is bool

    class Mine(int):
        pass

    with pytest.raises(TypeError):
        encode(Mine(1))  # no handle table: a program's object cannot be passed
    refs = []
    assert encode([Mine(1)], refs) == ["list", [["ref", 0]]] and refs[0] == 1
    assert decode(encode(iter([1, 2]), [])).__next__() == 1
    for bad in (["eval", "1"], ["list"], [1, 2], {"a": 1}, ["ref", 0], ["Fraction", "1", 2]):
        with pytest.raises((ValueError, TypeError)):
            decode(bad)


def test_no_confinement_means_refusal_unless_the_user_opts_in(monkeypatch):
    from selfcorrect.errors import SelfCorrectError
    from selfcorrect.rewards import code as code_rewards
    from selfcorrect.rewards import sandbox as sb

    monkeypatch.setattr(sb, "_bwrap_works", lambda root: False)
    monkeypatch.setattr(sb, "landlock_abi", lambda: 0)
    monkeypatch.delenv("SELFCORRECT_SANDBOX", raising=False)
    sb.isolation_mode.cache_clear()
    try:
        with pytest.raises(SelfCorrectError, match="SELFCORRECT_SANDBOX=unconfined") as err:
            sb.isolation_mode()
        assert "\n" not in str(err.value)
        spec = json.dumps({"style": "mbpp", "tests": TEST})
        with pytest.raises(SelfCorrectError, match="neither works here"):
            code_rewards.grade_code(GOOD, spec)
        with pytest.raises(SelfCorrectError, match="neither works here"):  # before any worker
            grade_many([(GOOD, spec)] * 2, workers=2, verifier="code")
        monkeypatch.setenv("SELFCORRECT_SANDBOX", "unconfined")
        sb.isolation_mode.cache_clear()
        assert sb.isolation_mode() == ("uid+rlimits" if os.geteuid() == 0 else "rlimits")
        monkeypatch.setenv("SELFCORRECT_SANDBOX", "rlimits")
        sb.isolation_mode.cache_clear()
        with pytest.raises(SelfCorrectError, match="expected auto, bwrap, landlock or uncon"):
            sb.isolation_mode()
    finally:
        sb.isolation_mode.cache_clear()


def test_wipe_resets_permissions_and_empties_the_directory(tmp_path):
    from selfcorrect.rewards.harness import wipe

    locked = tmp_path / "run1" / "locked"
    locked.mkdir(parents=True)
    (locked / "f").write_bytes(b"x" * 100)
    (tmp_path / "stderr1").write_text("e")
    locked.chmod(0)
    (tmp_path / "run1").chmod(0)
    assert wipe(str(tmp_path))
    assert list(tmp_path.iterdir()) == []
