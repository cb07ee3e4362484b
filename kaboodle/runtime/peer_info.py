"""What a node knows about one member: :class:`PeerInfo`, the values of ``peer_states()``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

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
