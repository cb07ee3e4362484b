"""Addresses of simulated processes: one IP per host, a new port for every life.

A host is a machine (or container) that keeps its IP; each time a node process starts on it, the
process binds a fresh ephemeral port, so a restarted node is a new member with a new key, as it
would be in production.
"""

from __future__ import annotations

from kaboodle.protocol.addr import Addr

__all__ = ["FIRST_PORT", "MAX_HOSTS", "MAX_LIVES", "sim_address"]

FIRST_PORT = 49152
"""The port of a host's first life: the start of the IANA ephemeral range."""

MAX_LIVES = 65536 - FIRST_PORT
"""How many lives one host can have before its ports run out."""

MAX_HOSTS = (1 << 24) - 2
"""How many hosts fit: the IPv4 plan uses 10.0.0.1 upwards, the IPv6 plan has room for more."""

_IPV6_PREFIX = bytes.fromhex("fd00" + "00" * 11)  # a ULA /64-ish prefix, padded to 13 bytes


def sim_address(host: int, life: int, *, ipv6: bool = True) -> Addr:
    """The address of ``host``'s ``life``-th process (both counted from 0).

    IPv6 addresses are ``[fd00::N]:port`` with N = host + 1, IPv4 ones ``10.x.y.z:port`` with
    x.y.z = host + 1, so no host gets a network or all-zero address.

    Raises:
        ValueError: host or life out of range.
    """
    if not 0 <= host < MAX_HOSTS:
        raise ValueError(f"host {host} is out of range 0..{MAX_HOSTS - 1}")
    if not 0 <= life < MAX_LIVES:
        raise ValueError(f"life {life} is out of range 0..{MAX_LIVES - 1}")
    number = (host + 1).to_bytes(3, "big")
    ip = _IPV6_PREFIX + number if ipv6 else b"\x0a" + number
    return Addr(ip, FIRST_PORT + life)
