"""Events: facts a node reports about the membership, named for what happened."""

from __future__ import annotations

from dataclasses import dataclass

from .addr import Addr
from .messages import MemberState, Tags

__all__ = [
    "Event",
    "FingerprintChanged",
    "PeerFailed",
    "PeerJoined",
    "PeerLeft",
    "PeerSuspected",
    "PeerUpdated",
    "RoundTrip",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerJoined:
    """A member this node did not count before is now alive (new, or back from the dead)."""

    addr: Addr
    identity: bytes
    incarnation: int
    tags: Tags = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerUpdated:
    """A live member changed its identity or tags, or refuted a suspicion.

    ``tags`` are the member's tags now, ``old_tags`` what they were before this update (equal
    when only the identity changed or a suspicion was refuted).
    """

    addr: Addr
    identity: bytes
    incarnation: int
    state: MemberState
    tags: Tags = ()
    old_tags: Tags = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerSuspected:
    """A member missed its probes and is suspected; it still counts until it is declared failed."""

    addr: Addr
    incarnation: int
    identity: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerFailed:
    """A member was declared dead and no longer counts."""

    addr: Addr
    incarnation: int
    identity: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerLeft:
    """A member left gracefully and no longer counts."""

    addr: Addr
    incarnation: int
    identity: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundTrip:
    """A direct probe of ``addr`` was answered after ``seconds`` (a latency sample)."""

    addr: Addr
    seconds: float


@dataclass(frozen=True, slots=True, kw_only=True)
class FingerprintChanged:
    """This node's fingerprint of the membership changed (changes are coalesced briefly)."""

    fingerprint: int
    members: int


Event = (
    PeerJoined
    | PeerUpdated
    | PeerSuspected
    | PeerFailed
    | PeerLeft
    | RoundTrip
    | FingerprintChanged
)
"""Every event a node reports."""
