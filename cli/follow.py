"""How ``kaboodle watch`` shows a node's control stream: as JSON lines, as one plain line per
event, or as a live table on a terminal (like the seed's demo panes)."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.live import Live
from rich.text import Text

from kaboodle.runtime.control.stream import stream

from . import render

__all__ = ["json_lines", "live", "plain_lines"]

_RECENT = 8  # events kept under the live table


async def json_lines(path: Path, port: int, interval: float, console: Console) -> None:
    """The stream as it comes, one JSON object per line."""
    async for item in stream(path, port=port, interval=interval):
        typer.echo(json.dumps(item))


async def plain_lines(path: Path, port: int, interval: float, console: Console) -> None:
    """A summary of the first view, then one line per event: for pipes and files."""
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


async def live(path: Path, port: int, interval: float, console: Console) -> None:
    """The members, the fingerprint and the latest events, redrawn as they change."""
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
