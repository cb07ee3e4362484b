"""Seeds: known addresses or DNS names to join through where multicast does not reach."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

from kaboodle.protocol.addr import Addr

__all__ = ["Seed", "parse_seed", "resolve_seeds"]


@dataclass(frozen=True, slots=True)
class Seed:
    """A seed as the user wrote it: a host (IP or DNS name) and a port."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_seed(text: str) -> Seed:
    """Parse ``host:port``, ``[v6]:port`` or ``a.b.c.d:port``; a DNS name may stand for host.

    Raises:
        ValueError: the text has no port, or the port is out of range.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise ValueError(f"seed {text!r}: write an IPv6 address in brackets, as [fd00::2]:7000")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"seed {text!r} is not HOST:PORT with a port in 1..65535")
    return Seed(host, int(port_text))


async def resolve_seeds(seeds: tuple[Seed, ...], family: int) -> list[Addr]:
    """Every address the seeds stand for in ``family`` (A records for IPv4, AAAA for IPv6).

    A name that does not resolve is skipped: it may exist later (a container not started yet),
    which is why the runtime resolves again now and then.
    """
    loop = asyncio.get_running_loop()
    found: list[Addr] = []
    for seed in seeds:
        try:
            infos = await loop.getaddrinfo(
                seed.host, seed.port, family=family, type=socket.SOCK_DGRAM
            )
        except (socket.gaierror, UnicodeError):
            continue
        for *_, sockaddr in infos:
            addr = Addr.from_ip(str(sockaddr[0]), int(sockaddr[1]))
            if addr not in found:
                found.append(addr)
    return found
