"""What goes wrong with a control socket: the errors both sides raise, and :func:`owner_text`
for the permission messages."""

from __future__ import annotations

import pwd
import stat
from pathlib import Path

from kaboodle.runtime.errors import KaboodleError

__all__ = [
    "ControlError",
    "ControlPermissionError",
    "NodeAlreadyRunningError",
    "NodeNotRunningError",
    "owner_text",
]


class NodeNotRunningError(KaboodleError):
    """No node serves the control socket: it is missing, or stale (its node died).

    Attributes:
        port: the discovery port asked about, or None when a socket path was given.
        path: the socket path tried, or None when none exists for the port.
    """

    def __init__(self, port: int | None, path: Path | None) -> None:
        self.port = port
        self.path = path
        if port is None:
            super().__init__(f"no kaboodle node is serving the control socket {path}")
        else:
            super().__init__(
                f"no kaboodle node is running on port {port} "
                f"(start one with 'kaboodle join --port {port}')"
            )


class NodeAlreadyRunningError(KaboodleError):
    """A live node already serves this control socket; it is never taken over."""


class ControlPermissionError(KaboodleError):
    """The operating system refused access to the control socket or its directory."""


class ControlError(KaboodleError):
    """The node answered with an error, broke the protocol, or did not answer in time."""


def owner_text(path: Path) -> str:
    """``belongs to alice, mode 600``: who may use ``path``, for permission errors."""
    try:
        info = path.stat()
    except OSError:
        return "cannot be read"
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = f"uid {info.st_uid}"
    return f"belongs to {owner}, mode {stat.S_IMODE(info.st_mode):o}"
