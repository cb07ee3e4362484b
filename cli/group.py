"""The ``kaboodle`` app's command group: every error as one line and a documented exit code."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, cast

import typer
from typer.core import TyperGroup

from kaboodle.runtime.errors import KaboodleError

from .errors import CliError, ExitCode, report, reported

__all__ = ["OneLineErrorsGroup"]

# Typer vendors Click from 0.26 on (typer._click, private) and used the click package before:
# find Click's base exception through the public BadParameter, whichever it is.
_CLICK_ERROR = cast(
    type[Exception],
    next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"),
)


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
        except (CliError, KaboodleError) as exc:
            sys.exit(reported(exc))
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
