"""What a node knows about one member: :class:`PeerInfo`, the values of ``peer_states()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kaboodle.protocol.coordinate import Coordinate
from kaboodle.protocol.messages import MemberState

__all__ = ["PeerInfo"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerInfo:
    """What this node knows about one member."""

    state: MemberState
    identity: bytes
    incarnation: int
    tags: Mapping[str, str]
    latency: float | None
    """Moving average of direct probe round trips, in seconds; None before the first."""
    last_heard: float | None
    """Wall-clock time (``time.time()``) of the last datagram from it; None if never."""
    rtt_estimate: float | None = None
    """Round trip to it estimated from network coordinates, in seconds; None for this node
    itself, with proximity off, or before it has answered one of our probes."""
    coordinate: Coordinate | None = None
    """Its network coordinate as it last sent it (this node's own for itself); None when
    unknown or with proximity off."""
