"""``kaboodle watch``: follow the local node as the mesh changes.

On a terminal, a live table like the seed's demo panes (members, fingerprint, latest events);
anywhere else (a pipe, a file, a log collector), one plain line per event.
"""

from typing import Annotated

import typer

from kaboodle.runtime.control.errors import ControlError, NodeNotRunningError

from .client import node_path, not_running
from .errors import CliError, ExitCode
from .options import DEFAULT_PORT, PortOption, SocketOption

__all__ = ["watch"]


def watch(
    *,
    port: PortOption = DEFAULT_PORT,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the control stream as JSON lines.")
    ] = False,
    interval: Annotated[
        float,
        typer.Option(
            min=0.1, max=60.0, metavar="SECONDS", help="Seconds between refreshes without events."
        ),
    ] = 1.0,
    control: SocketOption = None,
) -> None:
    """Follow the local node: a live table on a terminal, plain lines elsewhere. Ctrl-C ends it."""
    import asyncio

    from rich.console import Console

    from . import follow

    path = node_path(port, control)
    console = Console(highlight=False, soft_wrap=True)
    if as_json:
        show = follow.json_lines
    elif console.is_terminal:
        show = follow.live
    else:
        show = follow.plain_lines
    try:
        asyncio.run(show(path, port, interval, console))
    except KeyboardInterrupt:
        return  # the user ended it: not a failure
    except NodeNotRunningError:
        raise not_running(port, control, probe_hint=False) from None
    except ControlError as exc:
        raise CliError(str(exc), ExitCode.NOT_FOUND) from None
