"""One-line errors for every command: the one place that turns bad input into a line on stderr and exit code 2.

A command's `main` is decorated with `one_line_errors`; inside it, bad input is a `CommandError` (raised directly, or
turned from a library's `ValueError` / `OSError` by `with bad_input():` around the steps that read input). The
decorator prints `error: <first line>` and returns the error's exit code, so neither a traceback nor a second copy of
the message format exists in any command. `training.cli` reports a `CommandError` that reaches it the same way.

A library module raises `ValueError` naming the value and the fix (CONTRIBUTING, "Rules"); it never prints.
"""

from __future__ import annotations

import contextlib
import functools
import sys
from collections.abc import Callable, Iterator

# Exit code of bad input (argparse's, and every command's).
BAD_INPUT_EXIT_CODE = 2


class CommandError(Exception):
    """A problem a command reports in one line (with what to do about it), ending with exit code `code`."""

    def __init__(self, message: str, code: int = BAD_INPUT_EXIT_CODE):
        super().__init__(message)
        self.code = code


@contextlib.contextmanager
def bad_input(*kinds: type[BaseException]) -> Iterator[None]:
    """Inside: an exception of `kinds` (default `ValueError`, `OSError`) is bad input, re-raised as `CommandError`."""
    caught = kinds or (ValueError, OSError)
    try:
        yield
    except caught as error:
        raise CommandError(str(error)) from error


def report(error: CommandError) -> int:
    """Print `error` as one line on stderr; its exit code."""
    message = str(error).strip().splitlines() or ["unknown error"]
    print(f"error: {message[0]}", file=sys.stderr)
    return error.code


def one_line_errors(main: Callable[..., int | None]) -> Callable[..., int]:
    """Decorate a command's `main(argv)`: a `CommandError` becomes one line on stderr and its exit code."""

    @functools.wraps(main)
    def run(*args, **kwargs) -> int:
        try:
            return int(main(*args, **kwargs) or 0)
        except CommandError as error:
            return report(error)

    return run
