"""Watching a node from asyncio: :func:`stream` yields its views and events as they come."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from .client import connect_error, reply_object
from .errors import ControlError
from .lines import REPLY_LIMIT, json_line

__all__ = ["stream"]


async def stream(
    path: Path, *, port: int | None = None, interval: float = 1.0
) -> AsyncIterator[dict[str, Any]]:
    """Watch the node on ``path``: yields ``{"type": "view", ...}`` and ``{"type": "event",
    ...}`` objects until the node stops; the last is ``{"type": "stopped"}``.

    Raises:
        NodeNotRunningError, ControlPermissionError: as :func:`.client.request`.
        ControlError: the node refused, or the connection broke before the node said it stopped.
    """
    try:
        reader, writer = await asyncio.open_unix_connection(os.fspath(path), limit=REPLY_LIMIT)
    except OSError as exc:
        raise connect_error(exc, path, port) from None
    try:
        writer.write(json_line({"cmd": "watch", "interval": interval}))
        await writer.drain()
        first = await _next_object(reader, path, "closed the connection unanswered")
        if not first.get("ok"):
            raise ControlError(f"the node on {path} refused to be watched: {first.get('error')}")
        while True:
            item = await _next_object(reader, path, "went away without leaving (killed?)")
            yield item
            if item.get("type") == "stopped":
                return
    finally:
        writer.close()


async def _next_object(reader: asyncio.StreamReader, path: Path, at_eof: str) -> dict[str, Any]:
    try:
        line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError):
        raise ControlError(f"a line from the node on {path} exceeds {REPLY_LIMIT} bytes") from None
    except ConnectionError:
        line = b""
    return reply_object(line, path, at_eof)
