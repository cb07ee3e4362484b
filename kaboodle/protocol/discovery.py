"""Probing without joining: find one member of a mesh and learn its identity.

The prober multicasts a :class:`Probe` with a random nonce; a few members answer with a
:class:`ProbeReply` sent to the probe's UDP source, whose own source address is the member's
address. The prober never becomes a member, and nobody adds it to a view.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import codec
from .addr import Addr
from .messages import Probe, ProbeReply

__all__ = ["PROBE_SIZE", "FoundMember", "probe_datagram", "read_probe_reply"]

PROBE_SIZE = 600
"""Bytes of a probe datagram: more than any reply (whose identity is at most 256 bytes), so
that members answer it (they answer no probe smaller than their reply)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundMember:
    """A member that answered a probe, and its view of the mesh (the fingerprint and member
    count are None from a rust-0.1 member, whose answer carries neither)."""

    addr: Addr
    identity: bytes
    fingerprint: int | None
    members: int | None


def probe_datagram(nonce: int) -> bytes:
    """The datagram to multicast to find a member; ``nonce`` is random, 0 <= nonce < 2**64."""
    probe = Probe(nonce=nonce, padding=bytes(PROBE_SIZE))
    over = len(codec.encode(probe)) - PROBE_SIZE  # the header, the nonce, the bin's length
    return codec.encode(Probe(nonce=nonce, padding=bytes(PROBE_SIZE - over)))


def read_probe_reply(src: Addr, data: bytes, nonce: int) -> FoundMember | None:
    """The member that sent ``data`` from ``src``, if it is the answer to our probe ``nonce``;
    None for anything else (including malformed datagrams)."""
    try:
        msg = codec.decode(data)
    except codec.DecodeError:
        return None
    if not isinstance(msg, ProbeReply) or msg.nonce != nonce:
        return None
    return FoundMember(
        addr=src, identity=msg.identity, fingerprint=msg.fingerprint, members=msg.members
    )
