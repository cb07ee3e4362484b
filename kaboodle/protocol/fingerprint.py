"""The membership fingerprint, defined exactly as the Rust crate defines it.

CRC-32 over the counted members sorted by (IPv4 before IPv6, IP octets, port); for each, the
address text followed by the identity bytes, with no separators.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

from .addr import Addr, address_text

__all__ = ["fingerprint", "fingerprint_chunk"]


def fingerprint_chunk(addr: Addr, identity: bytes) -> bytes:
    """The bytes one member contributes to the fingerprint."""
    return address_text(addr).encode("ascii") + identity


def fingerprint(members: Iterable[tuple[Addr, bytes]]) -> int:
    """The fingerprint of ``(address, identity)`` pairs, in any order; an unsigned 32-bit int."""
    ordered = sorted(members, key=lambda item: item[0].sort_key)
    return zlib.crc32(b"".join(fingerprint_chunk(addr, identity) for addr, identity in ordered))
