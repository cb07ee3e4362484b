"""UDP sockets: the node's unicast socket and the discovery group's receive socket.

Every message a node sends leaves from its unicast socket, multicasts and broadcasts included,
so that a datagram's UDP source is always the sender's member address. The group socket only
listens: bound to the user's port (shared by every node on the host through SO_REUSEPORT),
joined to ff02::1213:1989 on the chosen interface, or receiving IPv4 broadcasts.
"""

from __future__ import annotations

import errno
import socket
import struct
import time

from kaboodle.protocol.addr import Addr

from .errors import KaboodleError
from .interfaces import Interface

__all__ = [
    "GROUP_V4",
    "GROUP_V6",
    "RECV_BUFFER",
    "Sockets",
    "addr_of",
    "group_sockaddr",
    "open_prober",
    "open_sockets",
]

GROUP_V6 = "ff02::1213:1989"
"""The discovery group (link-local scope), as the Rust crate uses it."""
GROUP_V4 = "255.255.255.255"
"""IPv4 has no group: discovery broadcasts on the subnet instead."""
RECV_BUFFER = 65536
"""Large enough for any UDP datagram, so an oversized one is read whole and counted."""

_BIND_RETRY_SECONDS = 5.0  # a fresh IPv6 address is "tentative" (unbindable) during DAD


class Sockets:
    """The two sockets of a node on one interface."""

    def __init__(self, iface: Interface, unicast: socket.socket, group: socket.socket) -> None:
        self.iface = iface
        self.unicast = unicast
        self.group = group
        host, port = unicast.getsockname()[:2]
        self.self_addr = Addr.from_ip(host, port)
        """The address others know this node by: the unicast socket's."""
        self.group_port = group.getsockname()[1]

    def sockaddr(self, addr: Addr) -> tuple[str, int] | tuple[str, int, int, int]:
        """Where to send to reach ``addr`` (link-local IPv6 needs our interface as scope)."""
        # inet_ntop, not addr.host: any text form will do for the socket, and this runs for
        # every datagram sent.
        if addr.is_ipv6:
            link_local = addr.ip[0] == 0xFE and addr.ip[1] & 0xC0 == 0x80  # fe80::/10
            scope = self.iface.index if link_local else 0
            return (socket.inet_ntop(socket.AF_INET6, addr.ip), addr.port, 0, scope)
        return (socket.inet_ntop(socket.AF_INET, addr.ip), addr.port)

    def group_sockaddr(self) -> tuple[str, int] | tuple[str, int, int, int]:
        """Where discovery datagrams go."""
        return group_sockaddr(self.iface, self.group_port)

    def rejoin(self, iface: Interface) -> None:
        """Our address is back on ``iface`` (a new index, maybe a new name): send and listen
        for the group there.

        Raises:
            OSError: the kernel refused (the interface is not usable yet).
        """
        if iface.is_ipv6:
            self.unicast.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, iface.index)
            _join_v6(self.group, iface.index)
        self.iface = iface

    def close(self) -> None:
        """Close both sockets."""
        self.unicast.close()
        self.group.close()


def addr_of(sockaddr: tuple[str, int] | tuple[str, int, int, int]) -> Addr:
    """The member address of a datagram's source (a scope id is dropped, as the key has none)."""
    host = sockaddr[0]
    if ":" in host:
        return Addr(socket.inet_pton(socket.AF_INET6, host.partition("%")[0]), sockaddr[1])
    return Addr(socket.inet_pton(socket.AF_INET, host), sockaddr[1])


def group_sockaddr(iface: Interface, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
    """Where discovery datagrams go on ``iface``: the IPv6 group, or the IPv4 broadcast."""
    if iface.is_ipv6:
        return (GROUP_V6, port, 0, iface.index)
    return (GROUP_V4, port)


def open_prober(iface: Interface) -> socket.socket:
    """A socket that can send to the discovery group but is no member: for probing.

    Raises:
        KaboodleError: the socket cannot be bound.
    """
    return _bind_unicast(iface, 0)


def open_sockets(iface: Interface, port: int, unicast_port: int = 0) -> Sockets:
    """Open the unicast socket on ``iface`` and the group socket on ``port``.

    Raises:
        KaboodleError: a socket could not be opened or bound; the message says why and what
            to do.
    """
    unicast = _bind_unicast(iface, unicast_port)
    try:
        group = _open_group(iface, port)
    except BaseException:
        unicast.close()
        raise
    return Sockets(iface, unicast, group)


def _bind_unicast(iface: Interface, port: int) -> socket.socket:
    sock = socket.socket(iface.family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        if iface.is_ipv6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, iface.index)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
            # Loop our multicasts back so that other nodes on this host hear them too.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, 1)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
        deadline = time.monotonic() + _BIND_RETRY_SECONDS
        while True:
            try:
                sock.bind(iface.sockaddr(port))
                return sock
            except OSError as error:
                if error.errno != errno.EADDRNOTAVAIL or time.monotonic() > deadline:
                    raise
                time.sleep(0.1)  # the address is still tentative; it will be usable shortly
    except OSError as error:
        sock.close()
        raise KaboodleError(
            f"cannot bind a UDP socket to {iface.ip} port {port} on {iface.name}: "
            f"{error.strerror} (choose another interface or port with --interface/--unicast-port)"
        ) from error


def _open_group(iface: Interface, port: int) -> socket.socket:
    sock = socket.socket(iface.family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Every node on this host listens on the same port and each must hear every announce.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        if iface.is_ipv6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(("::", port))
            _join_v6(sock, iface.index)
        else:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.bind(("", port))
    except OSError as error:
        sock.close()
        hint = (
            "another program holds the port without SO_REUSEPORT"
            if error.errno in (errno.EADDRINUSE,)
            else "check that the interface is up and has multicast enabled"
        )
        raise KaboodleError(
            f"cannot listen for discovery on port {port} of {iface.name}: {error.strerror} ({hint})"
        ) from error
    return sock


def _join_v6(sock: socket.socket, index: int) -> None:
    membership = struct.pack("16sI", socket.inet_pton(socket.AF_INET6, GROUP_V6), index)
    try:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, membership)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:  # already a member on this interface
            raise
