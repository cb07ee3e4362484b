"""The fingerprint and address text must match the Rust crate byte for byte."""

from __future__ import annotations

import ipaddress
import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.fingerprint import fingerprint
from kaboodle.protocol.members import MemberTable, digest_of
from kaboodle.protocol.messages import MemberState, Update


def addr(text: str) -> Addr:
    return Addr.parse(text)


def test_worked_example_matches_rust() -> None:
    members = [(addr("[fe80::2]:6000"), b"b"), (addr("[fe80::1]:5000"), b"a")]
    assert fingerprint(members) == 0xE0114DFF


def test_no_separator_between_address_and_identity() -> None:
    assert fingerprint([(addr("[fe80::1]:500"), b"5")]) == 0xCDD9B08F
    assert fingerprint([(addr("[fe80::1]:5005"), b"")]) == 0xCDD9B08F


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("[2001:db8:0:0:1:0:0:1]:1", "[2001:db8::1:0:0:1]:1"),  # first longest run wins
        ("[2001:db8:0:1:1:1:1:1]:1", "[2001:db8:0:1:1:1:1:1]:1"),  # a single zero group stays
        ("[2001:0:0:1:0:0:0:1]:1", "[2001:0:0:1::1]:1"),  # the longer run, not the first
        ("[::ffff:1.2.3.4]:80", "[::ffff:1.2.3.4]:80"),  # IPv4-mapped
        ("[::1.2.3.4]:80", "[::102:304]:80"),  # IPv4-compatible prints as hex (Rust >= 1.72)
        ("[::2:3]:9", "[::2:3]:9"),  # glibc would print ::0.2.0.3
        ("[::]:0", "[::]:0"),
        ("[FE80::ABCD]:1", "[fe80::abcd]:1"),
        ("[fe80::1%eth0]:7", "[fe80::1]:7"),  # scope ids are not part of a member's address
        ("10.0.0.5:9000", "10.0.0.5:9000"),
    ],
)
def test_address_text_follows_rfc5952_as_rust_prints_it(text: str, shown: str) -> None:
    assert str(addr(text)) == shown


def test_ipv4_sorts_before_ipv6_then_by_octets_then_port() -> None:
    members = [
        (addr("[::1]:1"), b""),
        (addr("9.9.9.9:2"), b""),
        (addr("10.0.0.1:1"), b""),
        (addr("9.9.9.9:1"), b""),
    ]
    expected = zlib.crc32(b"9.9.9.9:19.9.9.9:210.0.0.1:1[::1]:1")
    assert fingerprint(members) == expected


@given(st.binary(min_size=16, max_size=16), st.integers(0, 65535))
def test_ipv6_text_round_trips_and_agrees_with_ipaddress(ip: bytes, port: int) -> None:
    a = Addr(ip, port)
    assert Addr.parse(str(a)) == a
    ours = a.host
    theirs = str(ipaddress.IPv6Address(ip))
    if ipaddress.IPv6Address(ip).ipv4_mapped is None and not (
        ip[:12] == bytes(12) and ip[12:14] != b"\0\0"
    ):
        assert ours == theirs


@pytest.mark.parametrize(
    "bad", ["", "1.2.3.4", "1.2.3.4:x", "::1:80", "[::1]:70000", "nothost:80", "[1.2.3]:4"]
)
def test_bad_address_text_is_a_value_error(bad: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        Addr.parse(bad)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 7),  # which member
            st.sampled_from(list(MemberState)),
            st.sampled_from([b"", b"a", b"bb"]),  # its identity
            st.booleans(),  # forget it instead (when it is in the table)
        ),
        max_size=40,
    )
)
def test_a_member_tables_fingerprint_follows_every_change(
    steps: list[tuple[int, MemberState, bytes, bool]],
) -> None:
    # Mixed families, so that the IPv4-before-IPv6 order is kept through the changes too.
    places = [addr(f"10.0.0.{i % 3}:{i}") if i % 2 else addr(f"[fd00::{i}]:7") for i in range(8)]
    table = MemberTable()
    for number, (which, state, identity, forget) in enumerate(steps):
        where = places[which]
        update = Update(addr=where, state=state, incarnation=number, identity=identity)
        if where not in table:
            table.add(update, now=0.0)
        elif forget:
            table.remove(where)
        else:
            table.put(update, now=0.0)
        counted = [(m.addr, m.identity) for m in table if m.counted]
        assert table.fingerprint() == fingerprint(counted)
        assert table.digest() == digest_of(counted)
