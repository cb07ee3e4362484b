"""The control socket's client: :func:`request` asks the node on a socket one thing.

It blocks, on a plain socket: the commands that ask (``kaboodle fingerprint`` in a healthcheck
every few seconds) must not pay for importing asyncio. Asyncio code runs it in a thread
(``asyncio.to_thread``); :mod:`.stream` watches a node from asyncio. Both raise the errors of
:mod:`.errors` for what the user can fix.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .errors import ControlError, ControlPermissionError, NodeNotRunningError, owner_text
from .lines import REPLY_LIMIT, json_line

__all__ = ["connect_error", "reply_object", "request"]


def connect_error(exc: OSError, path: Path, port: int | None) -> Exception:
    """What a failure to connect to the socket ``path`` means, for the user."""
    if isinstance(exc, FileNotFoundError | ConnectionRefusedError):
        # Refused: the file is there but nobody listens, a node that died (stale).
        return NodeNotRunningError(port, path)
    if isinstance(exc, PermissionError):
        return ControlPermissionError(
            f"permission denied on the control socket {path} ({owner_text(path)}); "
            "run this command as the user who started the node"
        )
    return ControlError(f"cannot reach the control socket {path}: {exc.strerror}")


def reply_object(line: bytes, path: Path, at_eof: str) -> dict[str, Any]:
    """A line from the node as an object; ``at_eof`` says what an empty line (the end) means.

    Raises:
        ControlError: the connection ended, or the line is not a JSON object.
    """
    if not line:
        raise ControlError(f"the node on {path} {at_eof}")
    try:
        obj = json.loads(line)
    except ValueError:
        obj = None
    if not isinstance(obj, dict):
        raise ControlError(f"the node on {path} sent a line that is not a JSON object")
    return obj


def request(
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
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        try:
            sock.settimeout(timeout)
            try:
                sock.connect(os.fspath(path))
            except TimeoutError:
                raise  # a full backlog: the node is there but does not answer (below)
            except OSError as exc:
                raise connect_error(exc, path, port) from None
            sock.sendall(json_line({**(fields or {}), "cmd": cmd}))
            line = _read_line(sock, deadline, path)
        except TimeoutError:
            raise ControlError(f"the node on {path} did not answer within {timeout:g} s") from None
        except ConnectionError as exc:
            raise ControlError(f"lost the connection to the node on {path}: {exc}") from None
    reply = reply_object(line, path, "closed the connection unanswered")
    if not reply.pop("ok", False):
        raise ControlError(f"the node on {path} refused {cmd!r}: {reply.get('error')}")
    return reply


def _read_line(sock: socket.socket, deadline: float, path: Path) -> bytes:
    """The first line the node sends (all it sent, if it closes before a newline)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(1 << 16)
        end = chunk.find(b"\n")
        if not chunk or end >= 0:
            chunks.append(chunk[: end + 1] if end >= 0 else chunk)
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > REPLY_LIMIT:
            raise ControlError(f"a line from the node on {path} exceeds {REPLY_LIMIT} bytes")
