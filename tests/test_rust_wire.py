"""The rust-0.1 codec: the reference's hex vectors byte for byte, round trips, and strict
decoding of what the crate would take for a message."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import addrs

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.codec import DROP_REASONS, DecodeError
from kaboodle.protocol.rust.wire import (
    MAX_DATAGRAM,
    Ack,
    Envelope,
    Failed,
    Join,
    KnownPeers,
    KnownPeersRequest,
    Ping,
    PingRequest,
    Probe,
    ProbeResponse,
    decode_broadcast,
    decode_envelope,
    decode_probe_response,
    encode,
    encoded_peer_size,
)

FE80_1 = Addr.parse("[fe80::1]:5000")
FE80_2 = Addr.parse("[fe80::2]:6000")
V4 = Addr.parse("192.168.1.10:7475")
V6_1 = "01000000 fe800000000000000000000000000001 8813"


def hex_bytes(text: str) -> bytes:
    return bytes.fromhex(text.replace("…", ""))


# The vectors of shared/reference/rust-kaboodle-0.1.5-wire.md, section 2, from Rust bincode.
VECTORS = [
    (Join(FE80_1, b"node1"), "00000000" + V6_1 + "0500000000000000 6e6f646531"),
    (Join(V4, b"node1"), "00000000 00000000 c0a8010a 331d 0500000000000000 6e6f646531"),
    (Failed(FE80_1), "01000000" + V6_1),
    (Probe(V4), "02000000 00000000 c0a8010a 331d"),
    (ProbeResponse(b"node1"), "0500000000000000 6e6f646531"),
    (
        Envelope(b"node1", Ack(FE80_1, 0xDEADBEEF, 3)),
        "0500000000000000 6e6f646531 02000000" + V6_1 + "efbeadde 03000000",
    ),
    (
        Envelope(b"a", Ack(FE80_1, 0xE0114DFF, 2)),
        "0100000000000000 61 02000000" + V6_1 + "ff4d11e0 02000000",
    ),
    (Envelope(b"node1", Ping()), "0500000000000000 6e6f646531 00000000"),
    (
        Envelope(b"a", KnownPeersRequest(0xE0114DFF, 2)),
        "010000000000000061 04000000 ff4d11e0 02000000",
    ),
    (
        Envelope(b"a", KnownPeers(((FE80_2, b"b"),))),
        "010000000000000061 03000000 0100000000000000"
        " 01000000 fe800000000000000000000000000002 7017 0100000000000000 62",
    ),
    (
        Envelope(b"a", PingRequest(Addr.parse("10.0.0.5:9000"))),
        "010000000000000061 01000000 00000000 0a000005 2823",
    ),
]


@pytest.mark.parametrize(("msg", "wire"), VECTORS)
def test_the_crates_own_bytes(msg: object, wire: str) -> None:
    data = hex_bytes(wire)
    assert encode(msg) == data  # type: ignore[arg-type]
    if isinstance(msg, Envelope):
        assert decode_envelope(data) == msg
    elif isinstance(msg, ProbeResponse):
        assert decode_probe_response(data) == msg
    else:
        assert decode_broadcast(data) == msg


def test_the_reference_sizes() -> None:
    assert len(encode(Join(FE80_1, b"node1"))) == 39
    assert len(encode(Envelope(b"node1", Ack(FE80_1, 0xDEADBEEF, 3)))) == 47
    assert encoded_peer_size(V4, b"ab") == 20 and encoded_peer_size(FE80_1, b"") == 30
    peers = KnownPeers(((V4, b"ab"), (FE80_2, b"")))
    assert len(encode(Envelope(b"", peers))) == 8 + 4 + 8 + 20 + 30


identities = st.binary(max_size=64)
messages = st.one_of(
    st.builds(Ping),
    st.builds(PingRequest, addrs()),
    st.builds(Ack, addrs(), st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.builds(KnownPeers, st.lists(st.tuples(addrs(), identities), max_size=8).map(tuple)),
    st.builds(KnownPeersRequest, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
)


@given(identity=identities, msg=messages)
def test_envelopes_round_trip(identity: bytes, msg: object) -> None:
    envelope = Envelope(identity, msg)  # type: ignore[arg-type]
    assert decode_envelope(encode(envelope)) == envelope


@given(st.one_of(st.builds(Join, addrs(), identities), st.builds(Failed, addrs()),
                 st.builds(Probe, addrs())))  # fmt: skip
def test_broadcasts_round_trip(msg: object) -> None:
    assert decode_broadcast(encode(msg)) == msg  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("decode", "data", "reason"),
    [
        # What the crate takes for a message, zero-filled from its buffer (section 5.1).
        (decode_envelope, b"", "short"),
        (decode_broadcast, b"", "short"),
        (decode_broadcast, hex_bytes("00000000 01000000 fd00"), "malformed"),  # truncated Join
        (decode_probe_response, hex_bytes("0500000000000000 6e6f6465"), "malformed"),
        # Trailing bytes, which the crate ignores.
        (decode_envelope, hex_bytes("0500000000000000 6e6f646531 00000000 00"), "malformed"),
        (decode_broadcast, hex_bytes("02000000 00000000 c0a8010a 331d 00"), "malformed"),
        (decode_probe_response, hex_bytes("0100000000000000 61 00000000"), "malformed"),
        # Unknown variants and families.
        (decode_envelope, hex_bytes("0000000000000000 05000000"), "type"),
        (decode_broadcast, hex_bytes("03000000 00000000 c0a8010a 331d"), "type"),
        (decode_broadcast, hex_bytes("02000000 02000000 c0a8010a 331d"), "invalid"),
        # Lengths beyond the datagram are refused before anything is read or allocated.
        (decode_envelope, hex_bytes("ffffffffffffffff 00000000"), "malformed"),
        (decode_envelope, hex_bytes("0000000000000000 03000000 ffffffff00000000"), "malformed"),
        (decode_envelope, b"\0" * (MAX_DATAGRAM + 1), "oversize"),
    ],
)
def test_what_the_crate_would_take_is_dropped_with_a_reason(
    decode: object, data: bytes, reason: str
) -> None:
    with pytest.raises(DecodeError) as info:
        decode(data)  # type: ignore[operator]
    assert info.value.reason == reason


@given(st.binary(max_size=200))
def test_any_bytes_raise_only_decode_error(data: bytes) -> None:
    for decode in (decode_broadcast, decode_envelope, decode_probe_response):
        try:
            msg = decode(data)
        except DecodeError as exc:
            assert exc.reason in DROP_REASONS
        else:
            assert encode(msg) == data  # strict: what decodes is exactly what encodes
