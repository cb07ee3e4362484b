"""How every ``kaboodle`` command fails: documented exit codes and a single line on stderr."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from enum import IntEnum
from typing import Any, cast

import typer
from typer.core import TyperGroup

from kaboodle.runtime.errors import KaboodleError

__all__ = ["CliError", "ExitCode", "OneLineErrorsGroup", "report"]


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


# Typer vendors Click from 0.26 on (typer._click, private) and used the click package before:
# find Click's base exception through the public BadParameter, whichever it is.
_CLICK_ERROR = cast(
    type[Exception],
    next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)


def report(message: str) -> None:
    """Print ``error: <message>`` on stderr, as one line whatever the message holds."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)


class OneLineErrorsGroup(TyperGroup):
    """The command group, with every error as one line and a documented exit code.

    Click shows a usage error as a usage synopsis, a hint and (with rich) a boxed panel; scripts
    and logs want one line. Errors of the environment (``KaboodleError``, whose messages say
    what to do) get exit code 3, with no traceback.
    """

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; on failure print one line and exit with its code."""
        if not standalone_mode:
            return super().main(
                args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra
            )
        try:
            result = super().main(
                args, prog_name, complete_var, False, windows_expand_args, **extra
            )
        except CliError as exc:
            hint = f" (see '{exc.command} --help')" if exc.command else ""
            report(f"{exc}{hint}")
            sys.exit(exc.code)
        except KaboodleError as exc:
            report(str(exc))
            sys.exit(ExitCode.ENVIRONMENT)
        except _CLICK_ERROR as exc:
            sys.exit(_click_error(exc))
        except typer.Abort:
            report("aborted")
            sys.exit(ExitCode.NOT_FOUND)
        # In this mode Click returns the code of a typer.Exit instead of exiting.
        sys.exit(result if isinstance(result, int) else ExitCode.OK)


def _click_error(exc: Exception) -> int:
    code = int(getattr(exc, "exit_code", ExitCode.USAGE))
    if type(exc).__name__ == "NoArgsIsHelpError":
        return code  # the help text is the message, and Typer has printed it already
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
    format_message = getattr(exc, "format_message", None)
    message = format_message() if callable(format_message) else str(exc)
    report(f"{message}{hint}")
    return code
