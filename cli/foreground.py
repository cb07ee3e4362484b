"""A node in the foreground, as ``kaboodle join`` runs it: its control socket served, its story
told on stdout, and a graceful leave on SIGINT, SIGTERM or ``kaboodle leave``."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterable
from pathlib import Path

from kaboodle import Event, Kaboodle
from kaboodle.runtime.control import event_json, info_json

from .logs import NodeOutput

__all__ = ["run"]


async def run(kb: Kaboodle, path: Path, profile: str, out: NodeOutput) -> None:
    """Run ``kb`` until a signal or ``kaboodle leave`` asks it to go; then leave, and return."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Installed first: a signal that comes while the node starts still means "leave".
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = kb.control_server(path, on_leave=stop.set, profile=profile)
    # The socket first: a second join on this port must fail before it announces anything.
    server.claim()
    try:
        events = kb.events()  # subscribed before start, so no early event is missed
        await kb.start()
        try:
            await server.start()
            out.emit(
                {"event": "started", **info_json(kb), "profile": profile, "control": str(path)}
            )
            printer = asyncio.create_task(_print_events(events, out, stop))
            await stop.wait()
            server.leaving()
            out.emit({"event": "leaving"})
        finally:
            await kb.stop()  # graceful: peers record "left" at once
        await printer  # ends with the subscription, once the node has stopped
        out.emit({"event": "stopped"})
    finally:
        await server.close()


async def _print_events(events: AsyncIterable[Event], out: NodeOutput, stop: asyncio.Event) -> None:
    async for event in events:
        record = event_json(event)
        # Once leaving, the node's own view empties as it goes: not news about the mesh.
        if record is not None and not stop.is_set():
            out.emit(record)
