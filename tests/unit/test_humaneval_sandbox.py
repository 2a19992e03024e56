"""HumanEval through the code verifier: every canonical solution passes, every broken one fails."""

from __future__ import annotations

import ast
import json

import pytest

from selfcorrect.rewards.pool import grade_many
from selfcorrect.tasks import get_task


@pytest.fixture(scope="module")
def humaneval():
    task = get_task("humaneval")
    problems = task.problems("test", {})
    return problems, task.references(problems)


def bodies(problems) -> list[str]:
    return [
        answer[len(question) :]
        for answer, question in zip(problems["answer"], problems["question"])
    ]


def test_all_164_canonical_solutions_pass(humaneval):
    problems, refs = humaneval
    assert len(problems) == 164
    grades = grade_many(list(zip(bodies(problems), refs)), workers=2, verifier="code")
    failed = {
        pid: (g.verdict, g.error)
        for pid, g in zip(problems["problem_id"], grades)
        if g.verdict != "pass"
    }
    assert failed == {}
    # a complete program in a fenced block (the instruct-model form) passes too
    fenced = [f"Sure:\n```python\n{a}```\n" for a in problems["answer"][:20]]
    grades = grade_many(list(zip(fenced, refs[:20])), workers=2, verifier="code")
    assert [g.verdict for g in grades] == ["pass"] * 20


def test_body_replaced_by_return_none_fails_everywhere(humaneval):
    problems, refs = humaneval
    grades = grade_many([("    return None\n", r) for r in refs], workers=2, verifier="code")
    passed = [pid for pid, g in zip(problems["problem_id"], grades) if g.reward]
    assert passed == []
    assert {g.verdict for g in grades} <= {"fail", "crash"}
    assert sum(bool(g.failing_test) for g in grades) > 150  # the failing assert is named


def negate_first_assert(test: str) -> tuple[str, str] | None:
    """The test code with its first assert on the candidate negated, and that line; None if
    no single-line assert on the candidate exists."""
    lines = test.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped.startswith("assert ") or "candidate" not in stripped:
            continue
        try:
            node = ast.parse(stripped).body[0]
        except SyntaxError:
            continue  # spans several lines
        indent = line[: len(line) - len(line.lstrip())]
        lines[i] = f"{indent}assert not ({ast.unparse(node.test)})"
        return "\n".join(lines), lines[i].strip()
    return None


def test_canonical_solution_fails_when_one_expected_value_changes(humaneval):
    problems, refs = humaneval
    pairs, changed = [], []
    for body, ref in zip(bodies(problems), refs):
        spec = json.loads(ref)
        mutated = negate_first_assert(spec["tests"][0])
        if mutated is None:
            continue
        spec["tests"][0], line = mutated
        pairs.append((body, json.dumps(spec)))
        changed.append(line)
    assert len(pairs) == 163  # all but one problem have a one-line assert on the candidate
    grades = grade_many(pairs, workers=2, verifier="code")
    assert [g.verdict for g in grades] == ["fail"] * len(pairs)
    assert [g.failing_test for g in grades] == changed
