"""Reaching the local node: find its control socket, ask, and turn failures into CLI errors."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kaboodle.runtime.control.client import request
from kaboodle.runtime.control.errors import ControlError, NodeNotRunningError

from .errors import CliError, ExitCode
from .paths import locate

__all__ = ["ask", "node_path", "not_running"]


def not_running(port: int, socket: Path | None, probe_hint: bool) -> CliError:
    """The error for a port (or socket) that no node serves, with what to do about it."""
    if socket is not None:
        return CliError(
            f"no kaboodle node is serving the control socket {socket}", ExitCode.NOT_FOUND
        )
    alternative = ", or use --probe" if probe_hint else ""
    return CliError(
        f"no kaboodle node is running on port {port} "
        f"(start one with 'kaboodle join --port {port}'{alternative})",
        ExitCode.NOT_FOUND,
    )


def node_path(port: int, socket: Path | None, probe_hint: bool = False) -> Path:
    """The control socket of the node on ``port`` (or ``socket`` itself when given).

    Raises:
        CliError: no node runs there.
        ControlPermissionError: a directory that may hold the socket cannot be searched.
    """
    if socket is not None:
        return socket
    try:
        return locate(port)
    except NodeNotRunningError:
        raise not_running(port, None, probe_hint) from None


def ask(
    port: int,
    socket: Path | None,
    cmd: str,
    *,
    probe_hint: bool = False,
    timeout: float = 5.0,
    fields: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Send ``cmd`` (with ``fields``) to the local node and return its answer.

    Raises:
        CliError: no node runs there (exit 1), or it failed to answer (exit 1).
        ControlPermissionError: the socket may not be opened (exit 3).
    """
    path = node_path(port, socket, probe_hint)
    try:
        return request(path, cmd, port=port, timeout=timeout, fields=fields)
    except NodeNotRunningError:
        raise not_running(port, socket, probe_hint) from None
    except ControlError as exc:
        raise CliError(str(exc), ExitCode.NOT_FOUND) from None
