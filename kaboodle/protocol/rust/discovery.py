"""Probing a rust-0.1 mesh without joining it, as the crate's ``--probe`` does: multicast a
:class:`~.wire.Probe` naming the prober's own address; a member answers there with a
:class:`~.wire.ProbeResponse`, which carries its identity only."""

from __future__ import annotations

from ..addr import Addr
from ..codec import DecodeError
from ..discovery import FoundMember
from . import wire

__all__ = ["probe_datagram", "read_probe_response"]


def probe_datagram(prober: Addr) -> bytes:
    """The datagram to multicast from the socket at ``prober``."""
    return wire.encode(wire.Probe(prober))


def read_probe_response(src: Addr, data: bytes) -> FoundMember | None:
    """The member that answered from ``src``; None for anything else. The crate's answer
    has no fingerprint and no member count."""
    try:
        response = wire.decode_probe_response(data)
    except DecodeError:
        return None
    return FoundMember(addr=src, identity=response.identity, fingerprint=None, members=None)
