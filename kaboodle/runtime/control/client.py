"""The control socket's client: :func:`request` asks the node on a socket one thing,
:func:`stream` watches it. Both raise the errors of :mod:`.errors` for what the user can fix.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from .errors import ControlError, ControlPermissionError, NodeNotRunningError, owner_text
from .views import json_line

__all__ = ["request", "stream"]

_REPLY_LIMIT = 256 * 1024 * 1024  # a view of 10,000 members is a few MB; leave room


async def _connect(
    path: Path, port: int | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    try:
        return await asyncio.open_unix_connection(os.fspath(path), limit=_REPLY_LIMIT)
    except (FileNotFoundError, ConnectionRefusedError):
        # Refused: the file is there but nobody listens, a node that died (stale).
        raise NodeNotRunningError(port, path) from None
    except PermissionError:
        raise ControlPermissionError(
            f"permission denied on the control socket {path} ({owner_text(path)}); "
            "run this command as the user who started the node"
        ) from None
    except OSError as exc:
        raise ControlError(f"cannot reach the control socket {path}: {exc.strerror}") from None


async def _read_object(reader: asyncio.StreamReader, path: Path, at_eof: str) -> dict[str, Any]:
    """The next line from the node, as an object; ``at_eof`` says what an early end means."""
    try:
        line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError):
        raise ControlError(f"a line from the node on {path} exceeds {_REPLY_LIMIT} bytes") from None
    except ConnectionError:
        line = b""
    if not line:
        raise ControlError(f"the node on {path} {at_eof}")
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise ControlError(f"the node on {path} sent a line that is not a JSON object")
    return obj


async def request(
    path: Path,
    cmd: str,
    *,
    port: int | None = None,
    timeout: float = 5.0,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Send one request to the node on ``path`` and return its answer (without ``"ok"``).

    Args:
        path: the control socket (from :func:`locate`, or given by the user).
        cmd: ``info``, ``peers``, ``fingerprint``, ``tags``, ``leave``, ``keys``,
            ``key-install``, ``key-use``, ``key-remove`` or ``key-verify`` (docs/cli.md).
        port: the discovery port, for error messages.
        timeout: seconds to wait for the whole exchange (``leave`` waits for the node to go).
        fields: the request's other fields (``key``, ``incoming``, ``outgoing``, ``set``,
            ``delete``).

    Raises:
        NodeNotRunningError: nobody serves the socket (missing or stale).
        ControlPermissionError: the socket may not be opened by this user.
        ControlError: the node refused the request, or did not answer in time.
    """
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await _connect(path, port)
            try:
                writer.write(json_line({**(fields or {}), "cmd": cmd}))
                await writer.drain()
                reply = await _read_object(reader, path, "closed the connection unanswered")
            finally:
                writer.close()
    except TimeoutError:
        raise ControlError(f"the node on {path} did not answer within {timeout:g} s") from None
    except ConnectionError as exc:
        raise ControlError(f"lost the connection to the node on {path}: {exc}") from None
    if not reply.pop("ok", False):
        raise ControlError(f"the node on {path} refused {cmd!r}: {reply.get('error')}")
    return reply


async def stream(
    path: Path, *, port: int | None = None, interval: float = 1.0
) -> AsyncIterator[dict[str, Any]]:
    """Watch the node on ``path``: yields ``{"type": "view", ...}`` and ``{"type": "event",
    ...}`` objects until the node stops; the last is ``{"type": "stopped"}``.

    Raises:
        NodeNotRunningError, ControlPermissionError: as :func:`request`.
        ControlError: the node refused, or the connection broke before the node said it stopped.
    """
    reader, writer = await _connect(path, port)
    try:
        writer.write(json_line({"cmd": "watch", "interval": interval}))
        await writer.drain()
        first = await _read_object(reader, path, "closed the connection unanswered")
        if not first.get("ok"):
            raise ControlError(f"the node on {path} refused to be watched: {first.get('error')}")
        while True:
            item = await _read_object(reader, path, "went away without leaving (killed?)")
            yield item
            if item.get("type") == "stopped":
                return
    finally:
        writer.close()
