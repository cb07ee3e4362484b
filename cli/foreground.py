"""A node in the foreground, as ``kaboodle join`` runs it: its control socket served, its story
told on stdout, and a graceful leave on SIGINT, SIGTERM or ``kaboodle leave``."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kaboodle import Event, Kaboodle
from kaboodle.runtime.control import event_json, info_json

from .logs import NodeOutput

if TYPE_CHECKING:
    from kaboodle.runtime.metrics import MetricsServer

__all__ = ["run"]


async def run(
    kb: Kaboodle,
    path: Path,
    profile: str,
    out: NodeOutput,
    metrics: Callable[[Kaboodle], MetricsServer] | None = None,
) -> None:
    """Run ``kb`` until a signal or ``kaboodle leave`` asks it to go; then leave, and return.
    ``metrics`` serves the node's Prometheus metrics once it has started."""
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
        exporter: MetricsServer | None = None
        try:
            await server.start()
            exporter = None if metrics is None else metrics(kb)
            started = {"event": "started", **info_json(kb), "profile": profile}
            started["control"] = str(path)
            started["metrics_port"] = None if exporter is None else exporter.port
            out.emit(started)
            printer = asyncio.create_task(_print_events(events, out, stop))
            await stop.wait()
            server.leaving()
            out.emit({"event": "leaving"})
        finally:
            if exporter is not None:
                exporter.close()
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
