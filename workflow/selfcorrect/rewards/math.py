"""Math answers: extract the model's final answer, check it against the reference with math-verify.

Extraction precedence (the last occurrence of each form wins):
  1. "Final Answer: The final answer is $ANSWER$. I hope it is correct." (the prompt's form),
  2. the last \\boxed{...} / \\fbox{...},
  3. a GSM8K-style "#### ANSWER" line.

Equivalence is math-verify's (checked with 0.9.0): 0.5 == \\frac{1}{2}, 1,200 == 1200,
x^2+1 == 1+x^2, \\dfrac == \\frac, "5 \\text{ cm}" == 5, 10^\\circ == 10, x=3 == 3,
\\text{(B)} == B, {1,2} == {2,1}. Percent is lenient both ways: "10\\%" matches 10 and 0.1.
"(1,2)" parses as an open interval, which math-verify also matches with the set {1,2} and with
"1,2"; "(2,1)" (a tuple) does not match it. \\pi vs 3.14159 is wrong (6-digit rounding).

math-verify times out with signal.alarm, which only works in a process's main thread: there we keep
its timeouts; in other threads we turn them off (it would raise otherwise), so bulk grading goes
through `selfcorrect.rewards.pool.grade_many`, whose worker processes grade in their main
thread, timeouts on.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from math_verify import parse, verify
from math_verify.errors import TimeoutException

from selfcorrect.rewards import Grade

TIMEOUT_SECONDS = 5  # per parse and per comparison; math-verify's alarm takes whole seconds

_FINAL_ANSWER = re.compile(
    r"(?:\**Final Answer\**\s*:\s*\**\s*)?The final answer is\s*:?[ \t]*", re.IGNORECASE
)
_HOPE = re.compile(r"\.?\s*I hope it is correct.*$", re.IGNORECASE)
_BOX = re.compile(r"\\(?:boxed|fbox)")
_BOX_TOKEN = re.compile(r" +([^\s$]+)")  # `\boxed 5`: the argument is one token
# A number then plain words of 3+ letters (so `2 pi` is left alone): "1,200 square feet".
_PLAIN_UNITS = re.compile(r"^([-+]?\d[\d,]*(?:\.\d+)?)\s*([A-Za-z]{3,}(?:\s+[A-Za-z]{3,})*)$")
_GSM8K = re.compile(r"^[ \t]*####[ \t]*(.+?)[ \t]*$", re.MULTILINE)


# ---- extraction -------------------------------------------------------------------------------


def extract_answer(completion: str) -> str | None:
    """The final answer the model committed to, raw and stripped, or None if it wrote none."""
    for extract in (_final_answer, _last_boxed, _gsm8k):
        answer = extract(completion)
        if answer:
            return answer
    return None


def _final_answer(text: str) -> str | None:
    matches = list(_FINAL_ANSWER.finditer(text))
    if not matches:
        return None
    rest = text[matches[-1].end() :].split("\n", 1)[0]  # the answer sits on the header's line
    rest = _HOPE.sub("", rest).strip()
    if rest.startswith("$"):
        answer = _dollar_delimited(rest)
    else:  # no $ signs: the answer runs to the sentence's period (not a decimal point)
        answer = re.split(r"\.(?:\s|$)", rest, maxsplit=1)[0]
    answer = answer.strip()
    return _unbox(answer) or answer or None


def _dollar_delimited(rest: str) -> str:
    """`$a$ ...` or `$$a$$ ...` -> `a`; with no closing $, the rest minus a final period."""
    delim = "$$" if rest.startswith("$$") else "$"
    body = rest[len(delim) :]
    i = 0
    while i < len(body):
        if body[i] == "\\":  # skip escapes, so \$ (a currency sign) does not close the math
            i += 2
            continue
        if body.startswith(delim, i):
            return body[:i]
        i += 1
    return body.rstrip(". ")


def _last_boxed(text: str) -> str | None:
    for match in reversed(list(_BOX.finditer(text))):
        span = _box_argument(text, match.end())
        if span and span[0]:
            return span[0]
    return None


def _box_argument(text: str, start: int) -> tuple[str, int] | None:
    """(content, end) of the box argument at `start`: brace-balanced `{\\frac{1}{2}}`, or ` 5`."""
    if text.startswith(" ", start):
        token = _BOX_TOKEN.match(text, start)
        return (token.group(1), token.end()) if token else None
    if not text.startswith("{", start):
        return None
    depth = 0
    for i in range(start, len(text)):
        if text[i - 1] == "\\":  # \{ and \} are literal braces (sets), not grouping
            continue
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i].strip(), i + 1
    return None  # unbalanced: the completion was cut off inside the box


def _unbox(answer: str) -> str | None:
    """`\\boxed{5}` -> `5` when the whole answer is one box; otherwise None."""
    match = _BOX.match(answer)
    span = _box_argument(answer, match.end()) if match else None
    return span[0] if span and span[1] == len(answer) else None


def _gsm8k(text: str) -> str | None:
    matches = _GSM8K.findall(text)
    return matches[-1].strip() if matches else None


# ---- grading ----------------------------------------------------------------------------------


def grade_math(completion: str, reference: str) -> Grade:
    """Grade the completion's final answer against the reference; never raises."""
    answer = extract_answer(completion)
    if answer is None:
        return Grade(0.0, "no_answer")
    timeout = _timeout()
    try:
        gold = _parse_gold(reference, timeout)
        if not gold:
            return Grade(0.0, "error", answer, error=f"reference {reference[:80]!r} did not parse")
        pred = parse(_wrap_pred(answer), parsing_timeout=timeout, raise_on_error=True)
        correct = verify(gold, pred, timeout_seconds=timeout, raise_on_error=True)
    # any failure of math-verify on a model's answer is a graded "error", never a crash;
    # TimeoutException is a BaseException
    except (Exception, TimeoutException) as e:  # noqa: BLE001
        return Grade(0.0, "error", answer, error=_one_line(e))
    return Grade(float(correct), "correct" if correct else "wrong", extracted=answer)


@lru_cache(maxsize=4096)
def _parse_pred(answer: str, timeout: int | None) -> list:
    return parse(_wrap_pred(answer), parsing_timeout=timeout, raise_on_error=True)


def answers_equivalent(a: str, b: str) -> bool:
    """Whether two extracted answers are the same answer under math-verify (either order, as
    math-verify's `verify` is not symmetric); identical strings always are; never raises."""
    if a == b:
        return True
    if not a or not b:
        return False
    timeout = _timeout()
    try:
        pa_, pb = _parse_pred(a, timeout), _parse_pred(b, timeout)
        if not pa_ or not pb:
            return False
        return bool(
            verify(pa_, pb, timeout_seconds=timeout, raise_on_error=True)
            or verify(pb, pa_, timeout_seconds=timeout, raise_on_error=True)
        )
    # unparsable answers are not equivalent; TimeoutException is a BaseException
    except (Exception, TimeoutException):  # noqa: BLE001
        return False


def _timeout() -> int | None:
    # signal.alarm raises ValueError outside the main thread, so math-verify must run untimed there.
    return TIMEOUT_SECONDS if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)  # one reference is graded against many samples
def _parse_gold(reference: str, timeout: int | None) -> list:
    return parse(_wrap_gold(reference), parsing_timeout=timeout, raise_on_error=True)


def _wrap_gold(reference: str) -> str:
    """Gold LaTeX parses only inside math delimiters; a `\\$` currency sign breaks the parse."""
    gold = reference.replace("\\$", "").strip()
    return gold if "$" in gold or "\\boxed" in gold else f"${gold}$"


def _wrap_pred(answer: str) -> str:
    # The extracted answer is one expression: any $ left in it is currency or a stray delimiter.
    pred = answer.replace("\\$", "").replace("$", "").strip()
    # "1,200 dollars" would parse as a product of symbols; as \text it is a unit math-verify drops.
    pred = _PLAIN_UNITS.sub(r"\1 \\text{\2}", pred)
    return f"${pred}$"


def _one_line(e: BaseException) -> str:
    message = " ".join(str(e).split())
    return f"{type(e).__name__}: {message}"[:300] if message else type(e).__name__
