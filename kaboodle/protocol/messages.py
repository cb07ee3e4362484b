"""The protocol's messages: what travels in one datagram, before encoding.

Messages are frozen, slotted, keyword-only dataclasses compared with ``==``. The codec
(:mod:`kaboodle.protocol.codec`) turns them into bytes and back; nothing here knows about bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from .addr import Addr
from .coordinate import Coordinate

__all__ = [
    "Ack",
    "Announce",
    "Gossip",
    "MemberState",
    "Message",
    "Nack",
    "Ping",
    "PingReq",
    "Probe",
    "ProbeReply",
    "Sync",
    "Tags",
    "Update",
]

Tags = tuple[tuple[str, str], ...]
"""A member's tags: sorted (key, value) pairs, kept as a tuple so that updates stay hashable."""


class MemberState(IntEnum):
    """What a node believes about a member. Values are on the wire: only append."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2
    LEFT = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Update:
    """One fact about one member, as gossiped and as synced.

    ``origin`` is the member that raised a suspicion or declared a death (None for alive and left);
    independent origins are what shorten a suspicion.
    """

    addr: Addr
    state: MemberState
    incarnation: int
    identity: bytes = b""
    tags: Tags = ()
    origin: Addr | None = None

    @property
    def counted(self) -> bool:
        """Alive and suspect members count towards the fingerprint; dead and left do not."""
        return self.state <= MemberState.SUSPECT

    def changed(self, **fields: Any) -> Update:
        """A copy with some fields changed."""
        return replace(self, **fields)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ping:
    """A direct probe: "are you there?" The receiver answers with an :class:`Ack`."""

    seq: int
    updates: tuple[Update, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PingReq:
    """Ask the receiver to probe ``target`` on our behalf and answer Ack or Nack with ``seq``."""

    seq: int
    target: Addr
    updates: tuple[Update, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Ack:
    """The answer to a ping, carrying the sender's fingerprint and member count for repair, and
    its network coordinate (None when proximity is off), which the ping's round trip tests."""

    seq: int
    fingerprint: int
    members: int
    coordinate: Coordinate | None = None
    updates: tuple[Update, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Nack:
    """An intermediary's answer to a ping-req whose target did not answer in time."""

    seq: int
    updates: tuple[Update, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Gossip:
    """Updates sent on their own, between probes, so that news spreads faster than one period."""

    updates: tuple[Update, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Announce:
    """Multicast by a node about itself; ``member.addr`` must be the datagram's source."""

    member: Update


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """Multicast by a non-member that wants to find one member without joining.

    ``padding`` makes the probe at least as large as any answer to it: members answer only a
    probe no smaller than their reply, so a forged probe cannot turn them into amplifiers.
    """

    nonce: int
    padding: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeReply:
    """A member's answer to a :class:`Probe`, sent to the probe's UDP source only."""

    nonce: int
    identity: bytes
    fingerprint: int
    members: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Sync:
    """One part of a push-pull state exchange.

    A full state rarely fits one datagram, so it goes as ``count`` parts numbered by ``index``,
    all with the same ``exchange`` id. ``reply`` asks the receiver to push its own state back.
    """

    exchange: int
    index: int
    count: int
    reply: bool
    fingerprint: int
    members: tuple[Update, ...]


Message = Ping | PingReq | Ack | Nack | Gossip | Announce | Probe | ProbeReply | Sync
"""Every message the protocol sends or receives."""
