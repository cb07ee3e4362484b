"""The control socket: how ``kaboodle peers`` and friends talk to the node ``kaboodle join`` runs.

Serf's shape (``serf agent`` serves an RPC address, ``serf members`` asks it), on a Unix stream
socket of mode 0600, one per discovery port, so several nodes on one host coexist. The
protocol is JSON lines: a client writes one request object per line, the node answers each
with one object per line. docs/cli.md documents it; :data:`PROTOCOL` is its version.

This package is the public face; its modules are:

- :mod:`.views`: the JSON views of a node (:func:`view_json`, :func:`event_json`,
  :func:`info_json`...), the one schema every side writes, read from an :class:`ObservedNode`;
- :mod:`.server`: :class:`ControlServer`, which serves one node's socket (a node makes its own
  with :meth:`kaboodle.Kaboodle.control_server`);
- :mod:`.client`: :func:`request`, which asks the node on a socket one thing (blocking, so
  that asking is cheap), and :mod:`.stream`: :func:`stream`, which watches it from asyncio;
- :mod:`.lines`: the framing both sides write, one JSON object per line;
- :mod:`.errors`: what goes wrong (:class:`NodeNotRunningError`, :class:`ControlError`...) and
  :func:`owner_text` for permission messages.

Where the sockets live is the command line's convention (cli/paths.py); here a socket is a path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaboodle.lazy import lazy_getattr

if TYPE_CHECKING:
    from .client import request
    from .errors import (
        ControlError,
        ControlPermissionError,
        NodeAlreadyRunningError,
        NodeNotRunningError,
        owner_text,
    )
    from .server import ControlServer
    from .stream import stream
    from .views import (
        PROTOCOL,
        ObservedNode,
        PeerJson,
        ViewJson,
        event_json,
        fingerprint_text,
        identity_json,
        info_json,
        keys_json,
        peer_json,
        view_json,
    )

__all__ = [
    "PROTOCOL",
    "ControlError",
    "ControlPermissionError",
    "ControlServer",
    "NodeAlreadyRunningError",
    "NodeNotRunningError",
    "ObservedNode",
    "PeerJson",
    "ViewJson",
    "event_json",
    "fingerprint_text",
    "identity_json",
    "info_json",
    "keys_json",
    "owner_text",
    "peer_json",
    "request",
    "stream",
    "view_json",
]

# Imported on first use: a client that asks a node needs neither the server nor asyncio.
_LAZY = {
    "request": ".client",
    "stream": ".stream",
    "ControlError": ".errors",
    "ControlPermissionError": ".errors",
    "NodeAlreadyRunningError": ".errors",
    "NodeNotRunningError": ".errors",
    "owner_text": ".errors",
    "ControlServer": ".server",
    "PROTOCOL": ".views",
    "ObservedNode": ".views",
    "PeerJson": ".views",
    "ViewJson": ".views",
    "event_json": ".views",
    "fingerprint_text": ".views",
    "identity_json": ".views",
    "info_json": ".views",
    "keys_json": ".views",
    "peer_json": ".views",
    "view_json": ".views",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
