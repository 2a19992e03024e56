"""The one error type users see: a single line naming the file, key, row or column at fault."""


class SelfCorrectError(Exception):
    """Bad input or configuration; the CLI prints it as one line and exits non-zero."""
