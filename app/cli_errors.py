"""The CLI's exit codes (docs/cli.md) and its one-line errors.

One code per kind of outcome, the same whether a command read the database or asked a running
service: a script tells "the run failed" from "the service is down" from "the token is wrong"
without parsing a message. An API problem maps to the code of its status.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum

import typer


class ExitCode(IntEnum):
    OK = 0
    RUN_NOT_SUCCEEDED = 1  # the run ended partial, failed, cancelled or crashed
    INVALID = 2  # a bad option, setting or request (the API's 400 and 422)
    UNREACHABLE = 3  # no answer (connection, timeout), or the service busy or broken (429, 5xx)
    DENIED = 4  # no token, a wrong one, or one without the scope (401, 403)
    CONFLICT = 5  # the window is already being run, or the run has already finished (409)
    NOT_FOUND = 6  # no such run (404)
    INTERRUPTED = 130  # Ctrl-C while following a run (the run itself goes on)


def exit_code_of_run(status: str) -> ExitCode:
    """The exit code of a run that ended in `status` (`run`, `heal`, `--wait`, the demo)."""
    return ExitCode.OK if status == "succeeded" else ExitCode.RUN_NOT_SUCCEEDED


def exit_code_of_status(status: int) -> ExitCode:
    """The exit code of an HTTP problem's status (the API's and the local answers' alike)."""
    if status in (401, 403):
        return ExitCode.DENIED
    if status == 404:
        return ExitCode.NOT_FOUND
    if status == 409:
        return ExitCode.CONFLICT
    if status in (400, 413, 422):
        return ExitCode.INVALID
    return ExitCode.UNREACHABLE


class CommandError(Exception):
    """What stops a command: one line for standard error, and the exit code."""

    def __init__(
        self, message: str, code: ExitCode, problem_type: str | None = None, detail: str = ""
    ) -> None:
        super().__init__(message)
        self.code = code
        self.problem_type = problem_type  # the API problem's `type` and `detail`, if one said
        self.detail = detail or message


def exit_with(error: CommandError) -> typer.Exit:
    """Print the error's one line (prefixed, as every CLI error is) and return its Exit."""
    typer.echo(f"usage-pipeline: {error}", err=True)
    return typer.Exit(int(error.code))


@contextmanager
def database_errors() -> Iterator[None]:
    """A database out of reach or without its schema is one line and its exit code, not a
    traceback. The line never shows the DSN (it may hold a password)."""
    import asyncpg

    try:
        yield
    except asyncpg.UndefinedTableError:
        raise CommandError(
            "the database has no schema yet: run `usage-pipeline migrate`", ExitCode.INVALID
        ) from None
    except (OSError, TimeoutError, asyncpg.PostgresConnectionError,
            asyncpg.InvalidAuthorizationSpecificationError, asyncpg.InvalidCatalogNameError,
            asyncpg.CannotConnectNowError) as exc:  # fmt: skip
        raise CommandError(
            f"cannot reach the database (DATABASE_URL): {exc}", ExitCode.UNREACHABLE
        ) from None
