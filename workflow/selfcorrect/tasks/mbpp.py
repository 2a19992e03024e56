"""`mbpp`: Mostly Basic Python Problems (Austin et al., 2021), graded by running its asserts.

Two public row formats are read: the "full" config `{"task_id", "text", "code", "test_list",
"test_setup_code", "challenge_test_list"}` and the "sanitized" one `{"task_id", "prompt", "code",
"test_list", "test_imports"}`.

The prompt is the 3-shot prompt of the MBPP paper, as SCoRe uses it: tasks 2, 3 and 4 (the
standard prompt split, embedded below since nothing can be downloaded at run time), each shown as
"You are an expert Python programmer, and here is your task: … Your code should pass these
tests:" + the asserts + the program between `[BEGIN]` and `[DONE]`; then the target problem and
`[BEGIN]`. A completion is therefore a program, possibly followed by `[DONE]` (or wrapped in a
fenced block after a correction turn): the code verifier should cut at PROGRAM_END.

Standard splits by task id: prompt 1-10, test 11-510, validation 511-600, train 601-974. The hub
id `google-research-datasets/mbpp` (config `full`, the default) is already split; a single local
file such as mbpp.jsonl holds every row, so the split's rows are picked by task id.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable

import pandas as pd

from selfcorrect.errors import SelfCorrectError
from selfcorrect.tasks.base import CODE_CORRECTION, Task, register_task
from selfcorrect.tasks.sources import problems_frame

DEFAULT_SOURCE = {"source": "google-research-datasets/mbpp", "hub_config": "full"}
TASK_IDS = {"test": range(11, 511), "train": range(601, 975)}
PROGRAM_START, PROGRAM_END = "[BEGIN]", "[DONE]"

# MBPP tasks 2, 3 and 4 exactly as published (the paper's few-shot examples).
FEW_SHOT = (
    {
        "task_id": 2,
        "text": "Write a function to find the similar elements from the given two tuple lists.",
        "code": (
            "def similar_elements(test_tup1, test_tup2):\r\n"
            "  res = tuple(set(test_tup1) & set(test_tup2))\r\n"
            "  return (res) "
        ),
        "test_list": [
            "assert similar_elements((3, 4, 5, 6),(5, 7, 4, 10)) == (4, 5)",
            "assert similar_elements((1, 2, 3, 4),(5, 4, 3, 7)) == (3, 4)",
            "assert similar_elements((11, 12, 14, 13),(17, 15, 14, 13)) == (13, 14)",
        ],
    },
    {
        "task_id": 3,
        "text": "Write a python function to identify non-prime numbers.",
        "code": (
            "import math\r\n"
            "def is_not_prime(n):\r\n"
            "    result = False\r\n"
            "    for i in range(2,int(math.sqrt(n)) + 1):\r\n"
            "        if n % i == 0:\r\n"
            "            result = True\r\n"
            "    return result"
        ),
        "test_list": [
            "assert is_not_prime(2) == False",
            "assert is_not_prime(10) == True",
            "assert is_not_prime(35) == True",
        ],
    },
    {
        "task_id": 4,
        "text": (
            "Write a function to find the largest integers from a given list of numbers using "
            "heap queue algorithm."
        ),
        "code": (
            "import heapq as hq\r\n"
            "def heap_queue_largest(nums,n):\r\n"
            "  largest_nums = hq.nlargest(n, nums)\r\n"
            "  return largest_nums"
        ),
        "test_list": [
            "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],3)==[85, 75, 65] ",
            "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],2)==[85, 75] ",
            (
                "assert heap_queue_largest( [25, 35, 22, 85, 14, 65, 75, 22, 58],5)"
                "==[85, 75, 65, 58, 35]"
            ),
        ],
    },
)


def unix(text: str) -> str:
    """MBPP code uses CRLF line ends; programs and prompts use LF."""
    return text.replace("\r\n", "\n")


def describe(text: str, tests: list[str]) -> str:
    """The task as the MBPP paper states it: the description, then the asserts to pass."""
    shown = "\n".join(t.strip() for t in tests)
    return (
        f"You are an expert Python programmer, and here is your task: {unix(text).strip()} "
        f"Your code should pass these tests:\n\n{shown}"
    )


def shot(example: dict) -> str:
    program = unix(example["code"]).rstrip()
    task = describe(example["text"], example["test_list"])
    return f"{task}\n{PROGRAM_START}\n{program}\n{PROGRAM_END}"


# `{question}` is replaced last (Task.first_prompt), so braces in the shots' code are safe.
MBPP_PROMPT = "\n\n".join(shot(e) for e in FEW_SHOT) + "\n\n{question}\n" + PROGRAM_START + "\n"


def task_number(record: dict) -> int:
    """MBPP task ids are integers; some mirrors store them as strings."""
    return int(str(record["task_id"]).strip())


def in_split(split: str):
    """Whether a record of the one-file dataset is of `split` (looked up per record, so an
    unknown split is refused by `Task.records` first)."""
    return lambda record: task_number(record) in TASK_IDS[split]


@register_task
class MBPP(Task):
    name = "mbpp"
    reward = "code"
    prompt_template = MBPP_PROMPT
    correction_instruction = CODE_CORRECTION
    default_source = DEFAULT_SOURCE

    def problems(self, split: str, cfg: dict) -> pd.DataFrame:
        records = self.records(
            split,
            cfg,
            ("task_id", ("text", "prompt"), "code", "test_list"),
            split_filter=in_split(split),
        )
        rows = [self._row(record, split, records.origin) for record in records]
        return problems_frame(rows, records.origin)

    def sft_transcripts(self, cfg: dict) -> Callable[[random.Random], list[dict]]:
        """Pre-training conversations for the embedded tiny model: a training problem answered
        with its reference program and `[DONE]`; half of them have a second attempt that
        repeats the first after the correction instruction (a base model with no
        self-correction skill, as for arith). Only the training split is read."""
        problems = self.problems("train", cfg)
        if problems.empty:
            raise SelfCorrectError(
                "task 'mbpp': the training split is empty: nothing to pre-train on"
            )
        prompts = [self.first_prompt(q, cfg) for q in problems["question"]]
        programs = [f"{program.rstrip()}\n{PROGRAM_END}" for program in problems["answer"]]
        instruction = self.instruction(cfg)

        def transcript(rng: random.Random) -> list[dict]:
            i = rng.randrange(len(prompts))
            messages = [
                {"role": "user", "content": prompts[i]},
                {"role": "assistant", "content": programs[i]},
            ]
            if rng.random() < 0.5:
                messages += [
                    {"role": "user", "content": instruction},
                    {"role": "assistant", "content": programs[i]},
                ]
            return messages

        return transcript

    def references(self, problems: pd.DataFrame) -> list[str]:
        from selfcorrect.rewards.code import mbpp_spec

        return [json.dumps(mbpp_spec(json.loads(t))) for t in problems["tests"]]

    def _row(self, record: dict, split: str, origin: str) -> dict:
        try:
            task_id = task_number(record)
        except ValueError:
            raise SelfCorrectError(
                f"{origin}: task_id {record['task_id']!r} is not an integer"
            ) from None
        test_list = record["test_list"]
        if not isinstance(test_list, (list, tuple)) or not test_list:
            raise SelfCorrectError(
                f"{origin}: task_id {task_id}: 'test_list' is not a list of asserts"
            )
        test_list = [str(t) for t in test_list]
        text = record["text"] if record.get("text") is not None else record["prompt"]
        tests = {
            "test_list": test_list,
            "test_setup_code": record.get("test_setup_code") or "",
            "test_imports": list(record.get("test_imports") or []),
        }
        meta = {
            "task_id": task_id,
            "challenge_test_list": list(record.get("challenge_test_list") or []),
        }
        program = unix(str(record["code"]))
        return {
            "task": self.name,
            "split": split,
            "problem_id": f"mbpp-{task_id}",
            "question": describe(str(text), test_list),
            "answer": program,
            "solution": program,  # the reference program is the worked solution of a code task
            "tests": json.dumps(tests),
            "meta": json.dumps(meta),
        }
