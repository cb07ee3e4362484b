"""Choosing the interface: synthetic ifaddr adapters, plus one look at the real machine."""

from __future__ import annotations

import socket

import ifaddr
import pytest

from kaboodle.runtime.errors import KaboodleError
from kaboodle.runtime.interfaces import (
    Interface,
    choose_interface,
    find_address,
    interface_index,
    list_addresses,
)


def adapter(name: str, index: int, *addresses: str) -> ifaddr.Adapter:
    """An ifaddr adapter; each address is ``ip/prefix``, IPv6 ones carrying ifaddr's tuple."""
    ips = []
    for text in addresses:
        ip, _, prefix = text.partition("/")
        if ":" in ip:
            scope = index if ip.startswith("fe80") else 0
            ips.append(ifaddr.IP((ip, 0, scope), int(prefix), name))
        else:
            ips.append(ifaddr.IP(ip, int(prefix), name))
    return ifaddr.Adapter(name, name, ips, index=index)


LO = adapter("lo", 1, "127.0.0.1/8", "::1/128")
# Link-local listed first on purpose: the ULA must still win.
ETH0 = adapter("eth0", 2, "172.18.0.2/16", "fe80::42:acff:fe12:2/64", "fd00::2/64")
ETH1 = adapter("eth1", 3, "10.1.2.3/24", "fe80::1/64")
V4_ONLY = adapter("eth2", 4, "192.168.7.9/24")
LL_ONLY = adapter("wlan0", 5, "fe80::99/64")
MACHINE = [LO, ETH0, ETH1]


def test_default_picks_first_non_loopback_with_ipv6_preferring_ula_over_link_local() -> None:
    chosen = choose_interface(adapters=MACHINE)
    assert (chosen.name, chosen.ip, chosen.index, chosen.scope_id) == ("eth0", "fd00::2", 2, 0)
    assert chosen.family == socket.AF_INET6
    assert chosen.prefix == 64


def test_default_prefers_an_ipv6_interface_that_comes_later_over_an_ipv4_one() -> None:
    chosen = choose_interface(adapters=[LO, V4_ONLY, ETH1])
    assert (chosen.name, chosen.ip) == ("eth1", "fe80::1")


def test_link_local_is_chosen_with_its_scope() -> None:
    chosen = choose_interface(adapters=[LO, LL_ONLY])
    assert chosen.address_text == "fe80::99%5"
    assert chosen.sockaddr(7475) == ("fe80::99", 7475, 0, 5)


def test_scope_falls_back_to_the_index_when_ifaddr_gives_none() -> None:
    bare = ifaddr.Adapter("wlan1", "wlan1", [ifaddr.IP(("fe80::7", 0, 0), 64, "wlan1")], index=9)
    assert choose_interface(adapters=[bare]).scope_id == 9


def test_default_falls_back_to_ipv4_when_no_interface_has_ipv6() -> None:
    chosen = choose_interface(adapters=[LO, V4_ONLY])
    assert (chosen.name, chosen.ip, chosen.family) == ("eth2", "192.168.7.9", socket.AF_INET)


def test_default_skips_loopback_and_says_so_when_that_is_all_there_is() -> None:
    with pytest.raises(KaboodleError) as caught:
        choose_interface(adapters=[LO])
    message = str(caught.value)
    assert "other than loopback" in message
    assert "lo (127.0.0.1, ::1)" in message
    assert "--interface NAME|IP|ipv4|ipv6" in message


def test_loopback_works_when_named() -> None:
    chosen = choose_interface("lo", adapters=MACHINE)
    assert (chosen.name, chosen.ip) == ("lo", "::1")
    assert chosen.is_loopback


def test_named_interface_prefers_ula_then_ipv4_then_link_local() -> None:
    assert choose_interface("eth0", adapters=MACHINE).ip == "fd00::2"
    assert choose_interface("eth1", adapters=MACHINE).ip == "10.1.2.3"
    assert choose_interface("wlan0", adapters=[LL_ONLY]).ip == "fe80::99"


@pytest.mark.parametrize(
    ("spec", "name", "ip"),
    [
        ("10.1.2.3", "eth1", "10.1.2.3"),
        ("fd00::2", "eth0", "fd00::2"),
        ("FD00:0:0::2", "eth0", "fd00::2"),  # any spelling of the same address
        ("fe80::42:acff:fe12:2%2", "eth0", "fe80::42:acff:fe12:2"),
        ("fe80::1%eth1", "eth1", "fe80::1"),
        ("127.0.0.1", "lo", "127.0.0.1"),
    ],
)
def test_by_ip(spec: str, name: str, ip: str) -> None:
    chosen = choose_interface(spec, adapters=MACHINE)
    assert (chosen.name, chosen.ip) == (name, ip)


def test_by_ip_with_the_wrong_scope_does_not_match() -> None:
    with pytest.raises(KaboodleError, match="no interface matches 'fe80::1%2'"):
        choose_interface("fe80::1%2", adapters=MACHINE)


def test_the_same_link_local_address_on_two_interfaces_needs_a_scope() -> None:
    twins = [adapter("eth0", 2, "fe80::1/64"), adapter("eth1", 3, "fe80::1/64")]
    with pytest.raises(KaboodleError, match=r"several interfaces \(eth0, eth1\).*fe80::1%eth0"):
        choose_interface("fe80::1", adapters=twins)
    assert choose_interface("fe80::1%3", adapters=twins).name == "eth1"


def test_family_keywords() -> None:
    assert choose_interface("ipv4", adapters=MACHINE).ip == "172.18.0.2"
    assert choose_interface("IPv6", adapters=MACHINE).ip == "fd00::2"
    assert choose_interface("ipv6", adapters=[LO, V4_ONLY, ETH1]).ip == "fe80::1"
    with pytest.raises(KaboodleError, match="has an IPv6 address"):
        choose_interface("ipv6", adapters=[LO, V4_ONLY])


def test_no_match_lists_every_interface_and_how_to_choose() -> None:
    with pytest.raises(KaboodleError) as caught:
        choose_interface("eth9", adapters=MACHINE)
    message = str(caught.value)
    assert "no interface matches 'eth9'" in message
    assert "lo (127.0.0.1, ::1)" in message
    assert "eth0 (172.18.0.2, fe80::42:acff:fe12:2%2, fd00::2)" in message
    assert "eth1 (10.1.2.3, fe80::1%3)" in message
    assert "--interface NAME|IP|ipv4|ipv6" in message


def test_no_interfaces_at_all() -> None:
    with pytest.raises(KaboodleError, match="interfaces here: none"):
        choose_interface(adapters=[])


def test_unparsable_addresses_are_skipped_and_the_rest_kept_in_order() -> None:
    odd = ifaddr.Adapter(
        "eth0",
        "eth0",
        [
            ifaddr.IP("not-an-ip", 24, "eth0"),
            ifaddr.IP("10.0.0.1", 99, "eth0"),  # impossible prefix
            ifaddr.IP(("fd00::5", 0, 0), 64, "eth0"),
            ifaddr.IP("10.0.0.2", 8, "eth0"),
        ],
        index=2,
    )
    assert [a.ip for a in list_addresses([odd])] == ["fd00::5", "10.0.0.2"]


def test_unknown_adapter_index_is_tolerated() -> None:
    ghost = ifaddr.Adapter("kaboodle-ghost0", "ghost", [ifaddr.IP("10.9.9.9", 8, "ghost")])
    assert list_addresses([ghost])[0].index == 0


def test_sockaddr_shapes() -> None:
    v4 = Interface(name="e", index=2, ip="10.1.2.3", family=socket.AF_INET, scope_id=0, prefix=24)
    v6 = Interface(name="e", index=2, ip="fe80::1", family=socket.AF_INET6, scope_id=2, prefix=64)
    assert v4.sockaddr(7475) == ("10.1.2.3", 7475)
    assert v6.sockaddr(0) == ("fe80::1", 0, 0, 2)
    assert not v4.is_ipv6
    assert v6.is_ipv6
    assert v6.is_link_local


@pytest.mark.parametrize(
    ("ip", "prefix", "broadcast"),
    [
        ("10.1.2.3", 24, "10.1.2.255"),
        ("172.18.0.2", 16, "172.18.255.255"),
        ("192.168.7.9", 30, "192.168.7.11"),
        ("10.0.0.1", 32, "10.0.0.1"),
    ],
)
def test_broadcast(ip: str, prefix: int, broadcast: str) -> None:
    iface = Interface(name="x", index=1, ip=ip, family=socket.AF_INET, scope_id=0, prefix=prefix)
    assert iface.broadcast == broadcast


def test_no_broadcast_for_ipv6() -> None:
    assert choose_interface("eth0", adapters=MACHINE).broadcast is None


def test_the_real_machine_has_loopback() -> None:
    addresses = list_addresses()
    assert any(a.is_loopback for a in addresses)
    lo = next(a for a in addresses if a.is_loopback)
    chosen = choose_interface(lo.name)
    assert chosen.name == lo.name
    assert chosen.is_loopback
    assert chosen.index == interface_index(lo.name) != 0


def test_interface_index_of_a_missing_interface_is_none() -> None:
    assert interface_index("kaboodle-ghost0") is None


def test_an_os_that_will_not_list_interfaces_gives_a_kaboodle_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse() -> list[ifaddr.Adapter]:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(ifaddr, "get_adapters", refuse)
    with pytest.raises(KaboodleError, match="cannot list this machine's network interfaces"):
        choose_interface()


def test_find_address_names_the_interface_that_has_an_address_now() -> None:
    loopback = next(a for a in list_addresses() if a.ip == "127.0.0.1")
    found = find_address("127.0.0.1", prefer=loopback.name)
    assert found is not None and (found.name, found.index) == (loopback.name, loopback.index)
    assert find_address("203.0.113.77") is None  # TEST-NET-3: on no interface here
