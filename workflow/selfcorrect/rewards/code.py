"""Code tasks: extract the program from a completion, run it against the tests in the sandbox.

The verifier's `reference` for a code task is a JSON "test spec" made by the task
(`Task.references`): `{"style": "mbpp"|"humaneval", "prompt", "entry_point", "setup",
"tests"}`. Extraction, in order:

  1. fenced blocks (```python … ```, ```py, or bare ```): the last block that defines the
     entry point, else the last block;
  2. otherwise the bare text, cut at MBPP's `[DONE]` (the 3-shot prompt's end marker) and with a
     leading `[BEGIN]` dropped;
  3. HumanEval: a program that does not define the entry point is a function body continuing
     the prompt (what a base model writes), so the program is prompt + body (indented if it
     is not); a complete program gets the prompt's import lines in front (models often drop
     `from typing import List`, and the annotation would fail at definition time).

Verdicts: `pass` (reward 1), `fail`, `timeout`, `crash`, `memory`, `forbidden`
(selfcorrect.rewards.sandbox), and `no_answer` when the completion holds no code.
"""

from __future__ import annotations

import json
import re

from selfcorrect.errors import SelfCorrectError
from selfcorrect.rewards import Grade

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_CODE_LANGS = {"", "python", "py", "python3", "py3"}
MBPP_END, MBPP_START = "[DONE]", "[BEGIN]"


def extract_program(completion: str, spec: dict) -> str:
    """The program to run, from a completion and the problem's test spec ("" if none)."""
    entry = spec.get("entry_point") or ""
    code = _from_fences(completion, entry)
    if code is None:
        code = completion.split(MBPP_END, 1)[0]
        code = code.replace(MBPP_START, "", 1) if code.lstrip().startswith(MBPP_START) else code
    code = code.strip("\n")
    if not code.strip():
        return ""
    if spec.get("style") == "humaneval":
        return _complete_humaneval(code, spec.get("prompt", ""), entry)
    return code + "\n"


def _from_fences(text: str, entry: str) -> str | None:
    blocks = [body for lang, body in _FENCE.findall(text) if lang.lower() in _CODE_LANGS]
    if not blocks:
        return None
    defining = [
        b
        for b in blocks
        if entry and re.search(rf"^\s*def\s+{re.escape(entry)}\s*\(", b, re.MULTILINE)
    ]
    return (defining or blocks)[-1]


def _complete_humaneval(code: str, prompt: str, entry: str) -> str:
    if re.search(rf"^def\s+{re.escape(entry)}\s*\(", code, re.MULTILINE):
        imports = [line for line in prompt.splitlines() if re.match(r"^(import|from)\s+\S+", line)]
        return "\n".join(imports + [code]) + "\n"
    lines = code.splitlines()
    first = next(line for line in lines if line.strip())
    if not first.startswith((" ", "\t")):  # a body written flush left: indent it into the def
        lines = [("    " + line) if line.strip() else line for line in lines]
    return prompt + "\n".join(lines) + "\n"


def parse_spec(reference: str) -> dict:
    try:
        spec = json.loads(reference)
    except ValueError:
        spec = None
    if not isinstance(spec, dict) or not isinstance(spec.get("tests"), list):
        raise SelfCorrectError(
            f"code reference {reference[:60]!r} is not a test spec (a JSON object with a "
            "'tests' list): pass the task's references (Task.references), not its answers"
        )
    return spec


def grade_code(completion: str, reference: str) -> Grade:
    """Grade a completion against its test spec in the sandbox; never raises on the program."""
    from selfcorrect.rewards.sandbox import Limits, isolation_mode, run_program

    spec = parse_spec(reference)
    mode = isolation_mode()  # refuses (one line) where no mode confines programs
    program = extract_program(completion, spec)
    if not program:
        return Grade(0.0, "no_answer", isolation=mode)
    limits = Limits(**spec.get("limits", {}))
    outcome = run_program(
        program,
        spec["tests"],
        spec.get("setup", ""),
        prompt=spec.get("prompt", ""),
        entry_point=spec.get("entry_point", ""),
        limits=limits,
    )
    return Grade(
        reward=float(outcome.passed),
        verdict=outcome.verdict,
        extracted=program,
        error="" if outcome.passed else outcome.detail[:500],
        failing_test=outcome.failing_test[:500],
        isolation=outcome.isolation,
    )


def mbpp_spec(tests: dict) -> dict:
    """From the problems' `tests` JSON of an MBPP row (test_list, setup code, imports)."""
    setup = "\n".join(list(tests.get("test_imports") or []) + [tests.get("test_setup_code") or ""])
    return {
        "style": "mbpp",
        "prompt": "",
        "entry_point": "",
        "setup": setup.strip() + "\n",
        "tests": list(tests["test_list"]),
    }


def humaneval_spec(tests: dict, prompt: str) -> dict:
    """HumanEval: `check` is defined by the test code, then called on the entry point."""
    entry = tests["entry_point"]
    return {
        "style": "humaneval",
        "prompt": prompt,
        "entry_point": entry,
        "setup": "",
        "tests": [tests["test"], f"check({entry})"],
    }
