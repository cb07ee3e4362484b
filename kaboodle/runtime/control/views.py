"""The JSON views of a node: the one schema of the objects the control socket, ``kaboodle join
--json-logs`` and ``kaboodle watch --json`` carry (docs/cli.md documents it).

A view reads a node through :class:`ObservedNode`, what it and the server need of one, so this
module knows no concrete node class. :data:`PROTOCOL` is the control protocol's version.
"""

from __future__ import annotations

import base64
import os
from collections import Counter
from collections.abc import Mapping
from typing import Any, Protocol, TypedDict

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.coordinate import Coordinate
from kaboodle.protocol.events import (
    Event,
    FingerprintChanged,
    PeerFailed,
    PeerJoined,
    PeerLeft,
    PeerSuspected,
    PeerUpdated,
    RoundTrip,
)
from kaboodle.protocol.messages import MemberState
from kaboodle.runtime.interfaces import Interface
from kaboodle.runtime.peer_info import PeerInfo
from kaboodle.runtime.subscriptions import Subscription
from kaboodle.version import __version__

__all__ = [
    "PROTOCOL",
    "ObservedNode",
    "PeerJson",
    "ViewJson",
    "event_json",
    "fingerprint_text",
    "identity_json",
    "info_json",
    "keys_json",
    "members_by_state",
    "peer_json",
    "view_json",
]

PROTOCOL = 1
"""The version of the control protocol, reported by ``info``; raised only for incompatible
changes (new commands and new keys are compatible)."""


class ObservedNode(Protocol):
    """What the views and the control server read from a node (a running
    :class:`~kaboodle.Kaboodle` is one)."""

    @property
    def wire(self) -> str:
        """The wire protocol it speaks."""
        ...

    @property
    def uptime(self) -> float:
        """Seconds since it started."""
        ...

    @property
    def stats(self) -> Counter[str]:
        """Its counters: datagrams by kind, drops by reason, refutations..."""
        ...

    @property
    def running(self) -> bool:
        """True while the node runs."""
        ...

    @property
    def self_addr(self) -> Addr:
        """The node's member address."""
        ...

    @property
    def port(self) -> int:
        """The discovery port."""
        ...

    @property
    def identity(self) -> bytes:
        """The node's identity."""
        ...

    @property
    def interface(self) -> Interface:
        """The network interface the node uses."""
        ...

    @property
    def tags(self) -> Mapping[str, str]:
        """The node's tags."""
        ...

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Replace the node's tags (ValueError over the cap)."""
        ...

    def fingerprint(self) -> int:
        """The fingerprint of the node's view."""
        ...

    def peers(self) -> Mapping[Addr, bytes]:
        """The members the node counts, self included, to their identity."""
        ...

    def peer_states(self) -> Mapping[Addr, PeerInfo]:
        """Every member the node knows, dead and left ones included while remembered."""
        ...

    @property
    def label(self) -> str:
        """The mesh label."""
        ...

    verify_incoming: bool
    """With keys, whether plain datagrams are refused."""
    verify_outgoing: bool
    """With keys, whether what the node sends is encrypted."""

    def keys(self) -> list[str]:
        """The ids of the installed keys, the primary one first."""
        ...

    def install_key(self, key: bytes | str) -> None:
        """Install an encryption key."""
        ...

    def use_key(self, key: bytes | str) -> None:
        """Make an installed key the primary one."""
        ...

    def remove_key(self, key: bytes | str) -> None:
        """Remove an installed key that is not the primary one."""
        ...

    def events(self) -> Subscription:
        """A new subscription to the node's events."""
        ...


class CoordinateJson(TypedDict):
    """A network coordinate as JSON: seconds, but ``error`` (relative)."""

    vec: list[float]
    height: float
    error: float
    adjustment: float


class PeerJson(TypedDict):
    """One member in a view: the documented shape of ``peers[]`` (docs/cli.md)."""

    addr: str
    identity: str | None
    identity_b64: str
    state: str
    incarnation: int | None
    latency_ms: float | None
    rtt_estimate_ms: float | None
    coordinate: CoordinateJson | None
    tags: dict[str, str]


class ViewJson(TypedDict):
    """A node's view: the documented shape of ``kaboodle peers --json`` (docs/cli.md)."""

    self: str
    fingerprint: str
    peers: list[PeerJson]


def fingerprint_text(fingerprint: int) -> str:
    """``0x`` and 8 lowercase hex digits, always: the fingerprint as the CLI and JSON show it."""
    return f"0x{fingerprint & 0xFFFFFFFF:08x}"


def identity_json(identity: bytes) -> tuple[str | None, str]:
    """(UTF-8 text or None when the bytes are not UTF-8, base64) of an identity."""
    try:
        text: str | None = identity.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    return text, base64.b64encode(identity).decode("ascii")


def peer_json(addr: Addr, info: PeerInfo) -> PeerJson:
    """One member as JSON."""
    text, b64 = identity_json(info.identity)
    return {
        "addr": str(addr),
        "identity": text,
        "identity_b64": b64,
        "state": info.state.name.lower(),
        "incarnation": info.incarnation,
        "latency_ms": _ms(info.latency),
        "rtt_estimate_ms": _ms(info.rtt_estimate),
        "coordinate": None if info.coordinate is None else coordinate_json(info.coordinate),
        "tags": dict(info.tags),
    }


def coordinate_json(coordinate: Coordinate) -> CoordinateJson:
    """A coordinate as JSON, each value to 6 significant digits (peers send theirs in half
    precision: more digits would be noise)."""
    return {
        "vec": [_digits(x) for x in coordinate.vec],
        "height": _digits(coordinate.height),
        "error": _digits(coordinate.error),
        "adjustment": _digits(coordinate.adjustment),
    }


def _digits(value: float) -> float:
    return float(f"{value:.6g}")


def coordinate_from_json(data: CoordinateJson) -> Coordinate:
    """The coordinate :func:`coordinate_json` made.

    Raises:
        KeyError, TypeError, ValueError: ``data`` is not such an object.
    """
    return Coordinate(
        vec=tuple(float(x) for x in data["vec"]),
        height=float(data["height"]),
        error=float(data["error"]),
        adjustment=float(data["adjustment"]),
    )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)


def view_json(kb: ObservedNode) -> ViewJson:
    """Everything ``kb`` knows, self included, dead and left members while remembered; in the
    fingerprint's order (IPv4 before IPv6, then address bytes, then port)."""
    states = kb.peer_states()
    return {
        "self": str(kb.self_addr),
        "fingerprint": fingerprint_text(kb.fingerprint()),
        "peers": [peer_json(a, states[a]) for a in sorted(states, key=lambda a: a.sort_key)],
    }


def event_json(event: Event) -> dict[str, Any] | None:
    """The event as the JSON object ``join --json-logs`` and ``watch`` print; None for internal
    events (latency samples)."""
    if isinstance(event, RoundTrip):
        return None
    if isinstance(event, FingerprintChanged):
        return {
            "event": "fingerprint",
            "fingerprint": fingerprint_text(event.fingerprint),
            "members": event.members,
        }
    kind = {
        PeerJoined: "joined",
        PeerUpdated: "updated",
        PeerSuspected: "suspected",
        PeerFailed: "failed",
        PeerLeft: "left",
    }[type(event)]
    out: dict[str, Any] = {"event": kind, "addr": str(event.addr)}
    out["identity"], out["identity_b64"] = identity_json(event.identity)
    out["incarnation"] = event.incarnation
    if isinstance(event, PeerJoined):
        out["tags"] = dict(event.tags)
    elif isinstance(event, PeerUpdated):
        out["state"] = event.state.name.lower()
        out["tags"] = dict(event.tags)
        out["old_tags"] = dict(event.old_tags)
    return out


def keys_json(node: ObservedNode) -> dict[str, Any]:
    """The node's keys as ids (never the keys), its label and its verify switches: the
    ``keys`` answer and ``kaboodle keys list --json``."""
    ids = node.keys()
    return {
        "keys": ids,
        "primary": ids[0] if ids else None,
        "label": node.label,
        "verify_incoming": node.verify_incoming,
        "verify_outgoing": node.verify_outgoing,
    }


def info_json(kb: ObservedNode) -> dict[str, Any]:
    """What the node is: the ``info`` answer, and what ``kaboodle join`` prints first."""
    text, b64 = identity_json(kb.identity)
    iface = kb.interface
    return {
        "protocol": PROTOCOL,
        "version": __version__,
        "pid": os.getpid(),
        "port": kb.port,
        "self": str(kb.self_addr),
        "identity": text,
        "identity_b64": b64,
        "interface": {"name": iface.name, "ip": iface.ip, "index": iface.index},
        "encryption": keys_json(kb),
        "wire": kb.wire,
    }


def members_by_state(peers: Mapping[Addr, PeerInfo]) -> dict[str, int]:
    """How many of ``peers`` are in each state, every state named (alive, suspect, dead, left)."""
    counts = Counter(info.state for info in peers.values())
    return {state.name.lower(): counts[state] for state in MemberState}


def status_json(kb: ObservedNode, profile: str | None) -> dict[str, Any]:
    """The ``info`` answer (``kaboodle info``): what the node is (:func:`info_json`), its
    profile when known, its members by state, uptime, and every counter it keeps."""
    status = info_json(kb)
    if profile is not None:
        status["profile"] = profile
    status["members"] = members_by_state(kb.peer_states())
    status["uptime_s"] = round(kb.uptime, 3)
    status["stats"] = dict(sorted(kb.stats.items()))
    return status
