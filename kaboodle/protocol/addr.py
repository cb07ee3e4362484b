"""Member addresses: the key of the member table, and their text form.

A member is keyed by the family, IP and port of its unicast socket. Link-local scope ids are
deliberately not part of the key: they are local to the machine that prints them, never travel
on the wire, and would make the same peer look different to different nodes.
"""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

__all__ = ["Addr", "address_text"]


class Addr(NamedTuple):
    """A member's unicast address: packed IP octets (4 or 16 bytes) and a UDP port."""

    ip: bytes
    port: int

    @classmethod
    def parse(cls, text: str) -> Addr:
        """Parse ``a.b.c.d:port`` or ``[v6]:port`` (a ``%scope`` suffix is accepted and dropped).

        Raises:
            ValueError: the text is not an IP address with a port in 0..65535.
        """
        host, sep, port_text = text.rpartition(":")
        if not sep or not port_text.isdigit():
            raise ValueError(f"expected HOST:PORT, got {text!r}")
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        elif ":" in host:
            raise ValueError(f"an IPv6 address needs brackets, as in [::1]:7475, got {text!r}")
        return cls.from_ip(host, int(port_text))

    @classmethod
    def from_ip(cls, host: str, port: int) -> Addr:
        """Build an address from IP text (a ``%scope`` suffix is dropped) and a port.

        Raises:
            ValueError: the host is not an IP address or the port is out of range.
        """
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"port {port} is out of range 0..65535")
        ip = ipaddress.ip_address(host.partition("%")[0])
        return cls(ip.packed, port)

    @property
    def is_ipv6(self) -> bool:
        """True for an IPv6 address."""
        return len(self.ip) == 16

    @property
    def host(self) -> str:
        """The IP as text, in the form this module prints it (no brackets, no port)."""
        return _ip_text(self.ip)

    @property
    def sort_key(self) -> bytes:
        """The fingerprint order: every IPv4 before every IPv6, then IP octets, then port."""
        return bytes((len(self.ip),)) + self.ip + self.port.to_bytes(2, "big")

    def __str__(self) -> str:
        return address_text(self)

    def __repr__(self) -> str:
        return f"Addr({address_text(self)!r})"


def address_text(addr: Addr) -> str:
    """The address as the Rust crate displays it: ``a.b.c.d:port`` or ``[v6]:port``.

    IPv6 follows RFC 5952 as Rust's ``Display`` does: lowercase hex without leading zeros, the
    first longest run of two or more zero groups written as ``::``, IPv4-mapped addresses as
    ``::ffff:a.b.c.d`` and IPv4-compatible ones in hex.
    """
    if len(addr.ip) == 4:
        return f"{_ip_text(addr.ip)}:{addr.port}"
    return f"[{_ip_text(addr.ip)}]:{addr.port}"


def _ip_text(ip: bytes) -> str:
    if len(ip) == 4:
        return ".".join(str(octet) for octet in ip)
    if len(ip) != 16:
        raise ValueError(f"an IP address has 4 or 16 octets, not {len(ip)}")
    if ip[:12] == b"\0" * 10 + b"\xff\xff":
        return "::ffff:" + _ip_text(ip[12:])
    groups = [int.from_bytes(ip[i : i + 2], "big") for i in range(0, 16, 2)]
    best_start, best_len = -1, 1  # a run must be at least 2 groups long to become "::"
    run_start, run_len = 0, 0
    for index, group in enumerate(groups):
        if group == 0:
            if run_len == 0:
                run_start = index
            run_len += 1
            if run_len > best_len:
                best_start, best_len = run_start, run_len
        else:
            run_len = 0
    if best_start < 0:
        return ":".join(f"{g:x}" for g in groups)
    head = ":".join(f"{g:x}" for g in groups[:best_start])
    tail = ":".join(f"{g:x}" for g in groups[best_start + best_len :])
    return f"{head}::{tail}"
