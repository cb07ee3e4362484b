"""``kaboodle watch``: follow the local node as the mesh changes.

On a terminal, a live table like the seed's demo panes (members, fingerprint, latest events);
anywhere else (a pipe, a file, a log collector), one plain line per event.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from kaboodle.runtime.control import ControlError, NodeNotRunningError, stream

from . import render
from .client import node_path, not_running
from .errors import CliError, ExitCode
from .options import DEFAULT_PORT, PortOption, SocketOption

__all__ = ["watch"]

_RECENT = 8  # events kept under the live table


def watch(
    *,
    port: PortOption = DEFAULT_PORT,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the control stream as JSON lines.")
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.1, max=60.0, help="Seconds between refreshes without events.")
    ] = 1.0,
    control: SocketOption = None,
) -> None:
    """Follow the local node: a live table on a terminal, plain lines elsewhere. Ctrl-C ends it."""
    path = node_path(port, control)
    console = Console(highlight=False, soft_wrap=True)
    if as_json:
        show = _json_lines
    elif console.is_terminal:
        show = _live
    else:
        show = _plain_lines
    try:
        asyncio.run(show(path, port, interval, console))
    except KeyboardInterrupt:
        return  # the user ended it: not a failure
    except NodeNotRunningError:
        raise not_running(port, control, probe_hint=False) from None
    except ControlError as exc:
        raise CliError(str(exc), ExitCode.NOT_FOUND) from None


async def _json_lines(path: Path, port: int, interval: float, console: Console) -> None:
    async for item in stream(path, port=port, interval=interval):
        typer.echo(json.dumps(item))


async def _plain_lines(path: Path, port: int, interval: float, console: Console) -> None:
    first = True
    async for item in stream(path, port=port, interval=interval):
        kind = item.get("type")
        if kind == "view" and first:
            first = False
            line = Text(f"watching port {port}: ")
            line.append_text(render.summary_line(item))
            console.print(line)
        elif kind == "event":
            console.print(render.event_line(item))
        elif kind == "stopped":
            console.print(render.event_line({"event": "stopped"}))


async def _live(path: Path, port: int, interval: float, console: Console) -> None:
    recent: deque[Text] = deque(maxlen=_RECENT)
    view: dict[str, Any] | None = None
    with Live(console=console, auto_refresh=False, transient=False) as live:
        async for item in stream(path, port=port, interval=interval):
            kind = item.get("type")
            if kind == "view":
                view = item
            elif kind == "event":
                recent.append(render.event_line(item))
            if view is not None:
                live.update(
                    render.watch_screen(view, recent, port, stopped=kind == "stopped"),
                    refresh=True,
                )
