"""Network interfaces: list this machine's addresses and choose the one a node runs on.

Addresses come from ``ifaddr`` (as in python-zeroconf), which also gives each adapter's index: what
IPV6_JOIN_GROUP and IPV6_MULTICAST_IF take, and the scope a link-local address needs.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

import ifaddr

from kaboodle.runtime.errors import KaboodleError

__all__ = [
    "Interface",
    "change_feed",
    "choose_interface",
    "find_address",
    "interface_index",
    "list_addresses",
]

_HOW_TO_CHOOSE = "choose one with --interface NAME|IP|ipv4|ipv6"
_FAMILY_KEYWORDS = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6}

# rtnetlink's multicast groups (linux/rtnetlink.h): links, and IPv4 and IPv6 addresses.
_RTMGRP_LINK = 0x1
_RTMGRP_IPV4_IFADDR = 0x10
_RTMGRP_IPV6_IFADDR = 0x100


@dataclass(frozen=True, slots=True, kw_only=True)
class Interface:
    """One address of one network interface: where a node binds, sends and joins its group.

    Attributes:
        name: the interface name, e.g. ``eth0``.
        index: the interface index (``if_nametoindex``), or 0 if it could not be found.
        ip: the address in canonical text, without a ``%scope`` suffix.
        family: ``socket.AF_INET6`` or ``socket.AF_INET``.
        scope_id: the interface index for an IPv6 link-local address (fe80::/10), else 0.
        prefix: the network prefix length, e.g. 24 or 64.
    """

    name: str
    index: int
    ip: str
    family: int
    scope_id: int
    prefix: int

    @property
    def is_ipv6(self) -> bool:
        """Whether this is an IPv6 address."""
        return self.family == socket.AF_INET6

    @property
    def is_link_local(self) -> bool:
        """Whether the address is link-local: fe80::/10, or 169.254.0.0/16 for IPv4."""
        return ipaddress.ip_address(self.ip).is_link_local

    @property
    def is_loopback(self) -> bool:
        """Whether the address is a loopback one (127.0.0.0/8 or ::1)."""
        return ipaddress.ip_address(self.ip).is_loopback

    @property
    def address_text(self) -> str:
        """The address as a person types it: ``ip%scope`` when it has a scope, else the ip."""
        return f"{self.ip}%{self.scope_id}" if self.is_ipv6 and self.scope_id else self.ip

    @property
    def broadcast(self) -> str | None:
        """The IPv4 directed broadcast of the subnet (top address for /31, /32); None for IPv6."""
        if self.is_ipv6:
            return None
        network = ipaddress.IPv4Network(f"{self.ip}/{self.prefix}", strict=False)
        return str(network.broadcast_address)

    def sockaddr(self, port: int) -> tuple[str, int] | tuple[str, int, int, int]:
        """The socket address of this interface's address and ``port``, for bind or sendto.

        Args:
            port: the UDP port, 0 for an ephemeral one.

        Returns:
            ``(ip, port)`` for IPv4; ``(ip, port, 0, scope_id)`` for IPv6 (flowinfo 0).
        """
        if self.is_ipv6:
            return (self.ip, port, 0, self.scope_id)
        return (self.ip, port)


def list_addresses(adapters: Iterable[ifaddr.Adapter] | None = None) -> list[Interface]:
    """Every address of every interface, one entry per (adapter, address), in ifaddr's order.

    Addresses that do not parse are skipped. ifaddr cannot tell a tentative IPv6 address (still
    in duplicate address detection) from a usable one, so those are listed too.

    Args:
        adapters: the adapters to read instead of this machine's (for tests). Their ``index``
            is used when set, else the name is looked up here, else the index is 0.

    Returns:
        The addresses, possibly none.

    Raises:
        KaboodleError: the operating system would not list its interfaces.
    """
    if adapters is None:
        try:
            adapters = ifaddr.get_adapters()
        except OSError as exc:
            msg = f"cannot list this machine's network interfaces (getifaddrs: {exc}); check its"
            raise KaboodleError(f"{msg} permissions, or name an address with --interface") from exc
    found: list[Interface] = []
    for adapter in adapters:
        index = adapter.index if adapter.index is not None else (interface_index(adapter.name) or 0)
        for entry in adapter.ips:
            address = _from_ifaddr(adapter.name, index, entry)
            if address is not None:
                found.append(address)
    return found


def choose_interface(
    spec: str | None = None, adapters: Iterable[ifaddr.Adapter] | None = None
) -> Interface:
    """Choose the interface address a node runs on.

    ``spec`` is one of:

    - None or empty (the seed's rule): the first non-loopback interface with an IPv6 address,
      its global or ULA address if any, else its link-local one (with its scope); failing that,
      the first non-loopback interface with an IPv4 address.
    - ``"ipv6"`` or ``"ipv4"``: the same rule, restricted to that family.
    - an IP address, with an optional ``%scope`` (name or index): the interface that has it.
    - an interface name (``lo`` too): its IPv6 global/ULA address, else IPv4, else IPv6
      link-local. IPv4 beats link-local here because a link-local address means something only
      with a scope id, which is local to each machine and never travels on the wire.

    Among equally good addresses of an interface, the first one listed wins.

    Args:
        spec: what to choose, as above.
        adapters: adapters to choose among instead of this machine's (for tests).

    Returns:
        The chosen address.

    Raises:
        KaboodleError: nothing fits (the message lists the interfaces and addresses that do
            exist), or an IP address without a scope is on several interfaces.
    """
    addresses = list_addresses(adapters)
    text = (spec or "").strip()
    chosen: Interface | None
    if not text:
        chosen = _first_outside_loopback(addresses, (socket.AF_INET6, socket.AF_INET))
        problem = "no interface other than loopback has an IPv4 or IPv6 address"
    elif text.lower() in _FAMILY_KEYWORDS:
        chosen = _first_outside_loopback(addresses, (_FAMILY_KEYWORDS[text.lower()],))
        problem = f"no interface other than loopback has an IPv{text[-1]} address"
    else:
        chosen = _by_ip(addresses, text)
        if chosen is None:
            named = [a for a in addresses if a.name == text and _usable(a)]
            chosen = min(named, key=_named_rank, default=None)
        problem = f"no interface matches {text!r}"
    if chosen is None:
        raise KaboodleError(
            f"{problem}; interfaces here: {_inventory(addresses)}; {_HOW_TO_CHOOSE}"
        )
    return chosen


def find_address(ip: str, prefer: str = "") -> Interface | None:
    """The interface that has the address ``ip`` now, or None when no interface has it.

    The runtime polls this to notice its address coming back after its interface went away:
    with a new index, and possibly a new name (Docker may reconnect a container's network as
    eth1). ``prefer`` names the interface to pick when several have the address (link-local).
    """
    matches = [a for a in list_addresses() if a.ip == ip]
    preferred = [a for a in matches if a.name == prefer]
    candidates = preferred or matches
    return candidates[0] if candidates else None


def interface_index(name: str) -> int | None:
    """The current index of the interface called ``name``.

    The runtime polls this to notice an interface that came back with a new index (a container
    reconnected to its network) and has lost its multicast memberships.

    Args:
        name: the interface name, e.g. ``eth0``.

    Returns:
        The index, or None if no interface has that name now.
    """
    try:
        return socket.if_nametoindex(name)
    except (OSError, ValueError):  # ValueError: a name with a NUL byte in it
        return None


def change_feed() -> socket.socket | None:
    """A non-blocking socket that becomes readable whenever a link or an address of this
    network namespace changes (Linux rtnetlink), or None where there is no such feed.

    With it the runtime checks its interface when something changed rather than every few
    seconds: an idle node's CPU is mostly its wake-ups. What it reads need not be parsed;
    that something changed is all it says.
    """
    family = getattr(socket, "AF_NETLINK", None)
    if family is None:
        return None
    groups = _RTMGRP_LINK | _RTMGRP_IPV4_IFADDR | _RTMGRP_IPV6_IFADDR
    try:
        sock = socket.socket(family, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    except OSError:
        return None
    try:
        sock.bind((0, groups))
    except OSError:
        sock.close()
        return None
    sock.setblocking(False)
    return sock


def _from_ifaddr(name: str, index: int, entry: ifaddr.IP) -> Interface | None:
    """Convert one ifaddr address (IPv4 text or IPv6 (ip, flowinfo, scope)); None if bad."""
    text, scope = (entry.ip[0], entry.ip[2]) if isinstance(entry.ip, tuple) else (entry.ip, 0)
    try:
        ip = ipaddress.ip_address(text.partition("%")[0])
    except ValueError:
        return None
    if not 0 <= entry.network_prefix <= ip.max_prefixlen:
        return None
    link_local_v6 = ip.version == 6 and ip.is_link_local
    return Interface(
        name=name,
        index=index,
        ip=str(ip),
        family=socket.AF_INET6 if ip.version == 6 else socket.AF_INET,
        # The index is the scope on every platform that matters; the kernel's own scope from
        # the sockaddr stands in when the index could not be looked up.
        scope_id=(index or scope) if link_local_v6 else 0,
        prefix=entry.network_prefix,
    )


def _usable(address: Interface) -> bool:
    """Whether the address can be bound: a link-local IPv6 address needs its scope."""
    return not (address.is_ipv6 and address.is_link_local and address.scope_id == 0)


def _named_rank(address: Interface) -> tuple[int, bool]:
    """Order within a named interface: IPv6 global/ULA, IPv4, IPv6 link-local."""
    if address.is_ipv6:
        return (2 if address.is_link_local else 0, False)
    return (1, address.is_link_local)  # a routable IPv4 before a 169.254 one


def _first_outside_loopback(
    addresses: list[Interface], families: tuple[int, ...]
) -> Interface | None:
    """The best address of the first non-loopback interface with one of ``families``.

    Families are tried in order; within an interface, routable addresses beat link-local ones.
    """
    # An interface with any loopback address is the loopback interface, whatever else (an
    # anycast /32, say) is configured on it: nothing sent there reaches another machine.
    loopback = {a.name for a in addresses if a.is_loopback}
    for family in families:
        for name in _names(addresses):
            if name in loopback:
                continue
            candidates = [a for a in addresses if a.name == name and a.family == family]
            best = min(filter(_usable, candidates), key=lambda a: a.is_link_local, default=None)
            if best is not None:
                return best
    return None


def _by_ip(addresses: list[Interface], text: str) -> Interface | None:
    """The address equal to ``text`` (``ip`` or ``ip%scope``), or None if it is not an IP."""
    ip_text, _, scope = text.partition("%")
    try:
        ip = str(ipaddress.ip_address(ip_text))
    except ValueError:
        return None
    candidates = (a for a in addresses if a.ip == ip and _usable(a))
    matches = [a for a in candidates if not scope or scope in (a.name, str(a.index))]
    names = _names(matches)
    if len(names) > 1:
        raise KaboodleError(
            f"{ip} is on several interfaces ({', '.join(names)}); "
            f"add the one you mean as a scope, as in {ip}%{names[0]}"
        )
    return matches[0] if matches else None


def _names(addresses: list[Interface]) -> list[str]:
    """The interface names, each once, in order of first appearance."""
    return list(dict.fromkeys(a.name for a in addresses))


def _inventory(addresses: list[Interface]) -> str:
    """``lo (127.0.0.1, ::1), eth0 (...)``: what exists, for error messages."""
    listed = ", ".join(
        f"{name} ({', '.join(a.address_text for a in addresses if a.name == name)})"
        for name in _names(addresses)
    )
    return listed or "none with an address"
