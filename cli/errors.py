"""How every ``kaboodle`` command fails: documented exit codes and a single line on stderr.

Typer-free, so that the quick path (cli/entry.py) fails the same way as the Typer app; the
app's command group (cli/group.py) words Click's own errors.
"""

from __future__ import annotations

import sys
from enum import IntEnum

from kaboodle.runtime.errors import KaboodleError

__all__ = ["CliError", "ExitCode", "report", "reported"]


class ExitCode(IntEnum):
    """The exit codes of every command (docs/cli.md lists them)."""

    OK = 0
    NOT_FOUND = 1
    """Nothing answered: no node on that port, no member answered a probe, a node that went
    away or did not answer in time."""
    USAGE = 2
    """A bad flag or value."""
    ENVIRONMENT = 3
    """The machine stops the command: no interface matches, permission denied on the control
    socket, a node already running on that port, a socket that cannot be opened."""


class CliError(Exception):
    """A failure to report as one line and an exit code.

    Args:
        message: what went wrong and, where it helps, what to do; one line.
        code: the exit code.
        command: for usage errors, the command whose ``--help`` to point at.
    """

    def __init__(self, message: str, code: ExitCode, command: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.command = command


def report(message: str) -> None:
    """Print ``error: <message>`` on stderr, as one line whatever the message holds."""
    sys.stderr.write(f"error: {' '.join(message.split())}\n")


def reported(exc: CliError | KaboodleError) -> int:
    """Report a failure of ours (a :class:`CliError`, or a :class:`KaboodleError`, whose
    message says what to do) as one line; return its exit code."""
    if isinstance(exc, CliError):
        hint = f" (see '{exc.command} --help')" if exc.command else ""
        report(f"{exc}{hint}")
        return int(exc.code)
    report(str(exc))
    return int(ExitCode.ENVIRONMENT)
