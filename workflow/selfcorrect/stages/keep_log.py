"""`selfcorrect keep-log LOG`: keep earlier attempts' logs before a rule reruns (logs.py).

The first command of every rule, before the rule's own: it imports nothing but logs.py.
"""

from __future__ import annotations

from selfcorrect.errors import SelfCorrectError


def add_arguments(parser) -> None:
    parser.add_argument("log", help="the rule's log file; the previous attempt's becomes LOG.1, …")
    parser.add_argument(
        "--keep", type=int, default=None, help="how many earlier attempts (default 3)"
    )


def run(args) -> None:
    from selfcorrect.logs import KEEP, keep_attempts

    if args.keep is not None and args.keep < 1:
        raise SelfCorrectError(f"--keep {args.keep}: keep at least 1")
    try:
        keep_attempts(args.log, args.keep or KEEP)
    except OSError as exc:
        raise SelfCorrectError(
            f"{args.log}: cannot keep its earlier attempts ({exc.strerror or exc})"
        ) from None
