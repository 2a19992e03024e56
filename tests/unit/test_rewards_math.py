"""Math verifier: extraction, math-verify equivalences, the error path, process-pool grading."""

from __future__ import annotations

import threading

import pytest

from selfcorrect.errors import SelfCorrectError
from selfcorrect.rewards import Grade, get_verifier
from selfcorrect.rewards import math as rmath
from selfcorrect.rewards.math import extract_answer, grade_math
from selfcorrect.rewards.pool import grade_many

# ---- extraction -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "completion, expected",
    [
        # the prompt's required form
        (
            "Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.",
            "\\frac{3}{4}",
        ),
        ("Final Answer: The final answer is $7$.", "7"),
        ("Final Answer:  The final answer is   $7$", "7"),
        ("**Final Answer:** The final answer is $7$.", "7"),
        ("Final Answer: The final answer is 42. I hope it is correct.", "42"),
        ("Final Answer: The final answer is 3.5", "3.5"),
        ("Final Answer: The final answer is 3.5 I hope it is correct.", "3.5"),
        ("Final Answer: The final answer is 1,200 dollars.", "1,200 dollars"),
        ("Final Answer: The final answer is $\\$18$. I hope it is correct.", "\\$18"),
        ("Final Answer: The final answer is $$x^2$$.", "x^2"),
        ("Final Answer: The final answer is $\\boxed{5}$.", "5"),
        ("Final Answer: The final answer is $\\frac{1}{2", "\\frac{1}{2"),  # cut off mid-answer
        # boxed / fbox, brace-balanced
        ("so $\\boxed{\\frac{1}{2}}$.", "\\frac{1}{2}"),
        ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}"),
        ("\\boxed{\\{1,2\\}}", "\\{1,2\\}"),
        ("\\fbox{7}", "7"),
        ("\\boxed 5$", "5"),
        ("\\boxed{1,200 \\text{ cm}}", "1,200 \\text{ cm}"),
        # GSM8K
        ("Tom has 3 + 4 = 7 apples.\n#### 7", "7"),
        ("#### 1,200\n", "1,200"),
    ],
)
def test_extract_each_format(completion: str, expected: str) -> None:
    assert extract_answer(completion) == expected


def test_extract_last_occurrence_wins() -> None:
    assert extract_answer("\\boxed{1} then \\fbox{2} finally \\boxed{3}") == "3"
    text = "The final answer is $1$. On reflection... Final Answer: The final answer is $2$."
    assert extract_answer(text) == "2"
    assert extract_answer("#### 1\n#### 2") == "2"


def test_extract_precedence_final_answer_over_boxed_over_gsm8k() -> None:
    assert extract_answer("\\boxed{9}\nFinal Answer: The final answer is $4$.") == "4"
    assert extract_answer("Final Answer: The final answer is $4$.\n\\boxed{9}") == "4"
    assert extract_answer("#### 5\n\\boxed{9}") == "9"


def test_extract_skips_a_truncated_box() -> None:
    assert extract_answer("\\boxed{2} ... \\boxed{\\frac{1}{") == "2"


@pytest.mark.parametrize(
    "completion",
    ["", "I am not sure.", "the box is \\boxed{", "Final Answer: The final answer is $$.", "####"],
)
def test_extract_none(completion: str) -> None:
    assert extract_answer(completion) is None


# ---- grading ----------------------------------------------------------------------------------


def final(answer: str) -> str:
    return f"Some work.\nFinal Answer: The final answer is ${answer}$. I hope it is correct."


@pytest.mark.parametrize(
    "gold, pred",
    [
        ("\\frac{1}{2}", "0.5"),  # gold needs $…$ to parse as LaTeX
        ("0.5", "\\frac{1}{2}"),
        ("\\frac{1}{2}", "\\dfrac{1}{2}"),
        ("1200", "1,200"),
        ("1,200", "1200"),
        ("x^2+1", "1+x^2"),
        ("(1,2)", "(1, 2)"),
        ("[1,2)", "[1,2)"),
        ("\\{1,2\\}", "\\{2,1\\}"),
        ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"),
        ("3\\sqrt{2}", "\\sqrt{18}"),
        ("\\text{(B)}", "B"),
        ("B", "\\text{(B)}"),
        ("\\text{Evelyn}", "\\text{Evelyn}"),
        ("5", "5 \\text{ cm}"),
        ("18", "\\$18"),
        ("10", "10^\\circ"),
        ("3", "x=3"),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1\\\\2\\end{pmatrix}"),
        # math-verify 0.9.0 is lenient with percent: 10\% matches both 10 and 0.1
        ("10", "10\\%"),
        ("0.1", "10\\%"),
    ],
)
def test_equivalent_answers_are_correct(gold: str, pred: str) -> None:
    grade = grade_math(final(pred), gold)
    assert grade == Grade(1.0, "correct", extracted=pred)


@pytest.mark.parametrize(
    "gold, pred",
    [
        ("2", "3"),
        ("3", "-3"),
        ("x^2+1", "x^2+2"),
        ("(1,2)", "(2,1)"),  # an interval vs a tuple
        ("(1,2)", "[1,2]"),
        ("\\text{(B)}", "C"),
        ("\\pi", "3.14159"),  # math-verify rounds to 6 digits
        ("5", "5 \\text{ and } 6"),
        ("5", "\\frac{"),  # unparsable prediction is wrong, not an error
    ],
)
def test_different_answers_are_wrong(gold: str, pred: str) -> None:
    assert grade_math(final(pred), gold) == Grade(0.0, "wrong", extracted=pred)


def test_other_formats_and_plain_units() -> None:
    assert grade_math("so \\boxed{\\frac{1}{2}}", "0.5").verdict == "correct"
    assert grade_math("3 * 400 = 1200\n#### $1,200", "1200").verdict == "correct"
    assert grade_math("The final answer is 1,200 dollars.", "1200").verdict == "correct"
    assert grade_math("The final answer is 1,300 dollars.", "1200").verdict == "wrong"
    assert grade_math("\\boxed{7}", "\\boxed{7}").verdict == "correct"  # gold already boxed
    assert grade_math("\\boxed{7}", "$7$").verdict == "correct"  # gold already in $…$


def test_no_answer() -> None:
    assert grade_math("I think it is seven.", "7") == Grade(0.0, "no_answer")


def test_verify_raising_is_an_error_grade(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args, **kwargs):
        raise RuntimeError("sympy\nexploded")

    monkeypatch.setattr(rmath, "verify", boom)
    grade = grade_math(final("7"), "7")
    assert grade == Grade(0.0, "error", extracted="7", error="RuntimeError: sympy exploded")


def test_timeout_is_an_error_grade(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rmath, "TIMEOUT_SECONDS", 1)
    grade = grade_math("\\boxed{9^{9^{9^{9}}}}", "5")
    assert (grade.verdict, grade.reward, grade.extracted) == ("error", 0.0, "9^{9^{9^{9}}}")
    assert "Timeout" in grade.error and "\n" not in grade.error


def test_unparsable_reference_is_an_error_grade() -> None:
    grade = grade_math(final("7"), "")
    assert grade.verdict == "error" and "reference" in grade.error


def test_grading_works_outside_the_main_thread() -> None:
    grades: list[Grade] = []

    def grade() -> None:
        grades.append(grade_math(final("0.5"), "\\frac{1}{2}"))

    worker = threading.Thread(target=grade)
    worker.start()
    worker.join()
    assert grades == [Grade(1.0, "correct", extracted="0.5")]


def test_registered_as_the_math_verifier() -> None:
    assert get_verifier("math") is grade_math


# ---- bulk grading -----------------------------------------------------------------------------

PAIRS = [
    (final("0.5"), "\\frac{1}{2}"),
    (final("3"), "2"),
    ("no answer here", "1"),
    ("\\boxed{1+x^2}", "x^2+1"),
    ("#### 1,200", "1200"),
    (final("(1, 2)"), "(1,2)"),
    (final("\\text{(C)}"), "B"),
] * 3


def test_grade_many_in_processes_matches_inline() -> None:
    inline = grade_many(PAIRS, workers=1)
    assert inline == [grade_math(c, r) for c, r in PAIRS]
    assert [g.verdict for g in inline[:7]] == [
        "correct",
        "wrong",
        "no_answer",
        "correct",
        "correct",
        "correct",
        "wrong",
    ]
    assert grade_many(PAIRS, workers=2) == inline


def test_grade_many_other_verifier_and_edge_cases() -> None:
    assert grade_many([("109|x", "109"), ("1|x", "109")], workers=1, verifier="exact") == [
        Grade(1.0, "correct", extracted="109"),
        Grade(0.0, "wrong", extracted="1"),
    ]
    assert grade_many([], workers=4) == []
    with pytest.raises(SelfCorrectError):
        grade_many(PAIRS, workers=2, verifier="nope")
