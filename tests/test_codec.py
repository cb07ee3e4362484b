"""The wire codec: round trips, pinned bytes, hostile input and the size arithmetic."""

from __future__ import annotations

from dataclasses import replace

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import addrs, messages, mutations, update_lists, updates

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.codec import (
    DROP_REASONS,
    MAX_DATAGRAM,
    MAX_IDENTITY,
    MAX_UPDATES,
    DecodeError,
    MessageType,
    base_size,
    decode,
    encode,
    update_size,
)
from kaboodle.protocol.coordinate import Coordinate
from kaboodle.protocol.messages import (
    Ack,
    Announce,
    Gossip,
    MemberState,
    Message,
    Nack,
    Ping,
    PingReq,
    Probe,
    ProbeReply,
    Sync,
    Update,
)

HEADER = b"KB\x01"
A = Addr(b"\x0a\x00\x00\x01", 7475)
A_WIRE = b"\x0a\x00\x00\x01\x1d\x33"


def raw(*body: object) -> bytes:
    """A datagram with a hand-built body, to reach checks that encode never trips."""
    return HEADER + msgpack.packb(list(body), use_bin_type=True)


def update_body(**overrides: object) -> list[object]:
    fields: dict[str, object] = {
        "addr": A_WIRE,
        "state": 0,
        "incarnation": 1,
        "identity": b"",
        "tags": [],
        "origin": None,
    }
    fields.update(overrides)
    return list(fields.values())


def reason(data: bytes) -> str:
    with pytest.raises(DecodeError) as info:
        decode(data)
    assert info.value.reason in DROP_REASONS
    return info.value.reason


# ------------------------------------------------------------------------------------ round trips


@settings(max_examples=300)
@given(messages())
def test_every_message_round_trips(msg: Message) -> None:
    assert decode(encode(msg)) == msg


def test_pinned_bytes() -> None:
    assert encode(Ping(seq=1)) == HEADER + bytes.fromhex("93 00 01 90")
    update = Update(
        addr=A,
        state=MemberState.SUSPECT,
        incarnation=2,
        identity=b"id",
        tags=(("k", "v"),),
        origin=Addr(b"\x0a\x00\x00\x02", 7475),
    )
    ack = Ack(seq=7, fingerprint=0xDEADBEEF, members=3, updates=(update,))
    assert encode(ack) == HEADER + bytes.fromhex(
        "96 02 07 cedeadbeef 03 c0 91"
        " 96 c406 0a000001 1d33 01 02 c402 6964 92 a16b a176 c406 0a000002 1d33"
    )
    assert decode(encode(ack)) == ack
    located = Ack(
        seq=7,
        fingerprint=1,
        members=1,
        coordinate=Coordinate(vec=(1.0, -2.0), height=0.5, error=0.25, adjustment=0.0),
    )
    assert encode(located) == HEADER + bytes.fromhex(
        "96 02 07 01 01 c40a 003c 00c0 0038 0034 0000 90"
    )
    assert decode(encode(located)) == located


@pytest.mark.parametrize(
    ("msg", "code"),
    [
        (Ping(seq=0), MessageType.PING),
        (PingReq(seq=0, target=A), MessageType.PING_REQ),
        (Ack(seq=0, fingerprint=0, members=0), MessageType.ACK),
        (Nack(seq=0), MessageType.NACK),
        (Gossip(updates=()), MessageType.GOSSIP),
        (Announce(member=Update(addr=A, state=MemberState.ALIVE, incarnation=0)), 5),
        (Probe(nonce=0), MessageType.PROBE),
        (ProbeReply(nonce=0, identity=b"", fingerprint=0, members=0), MessageType.PROBE_REPLY),
        (Sync(exchange=0, index=0, count=1, reply=True, fingerprint=0, members=()), 8),
    ],
)
def test_type_codes(msg: Message, code: int) -> None:
    assert msgpack.unpackb(encode(msg)[3:])[0] == code == MessageType(code)


def test_addresses_and_updates_are_interned() -> None:
    data = encode(PingReq(seq=1, target=Addr(b"\xc0\xa8\x00\x09", 1)))
    first, second = decode(data), decode(data)
    assert isinstance(first, PingReq) and isinstance(second, PingReq)
    assert first.target is second.target
    data = raw(4, [update_body(incarnation=12345, tags=["k", "v"])])
    first, second = decode(data), decode(data)
    assert isinstance(first, Gossip) and isinstance(second, Gossip)
    assert first.updates[0] is second.updates[0]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"state": True}, "malformed"),
        ({"incarnation": 1.0}, "malformed"),
        ({"tags": "kv"}, "malformed"),
        ({"tags": ["k", ["v"]]}, "invalid"),
    ],
)
def test_interned_updates_do_not_widen_types(overrides: dict[str, object], expected: str) -> None:
    # Each variant equals (or iterates like) a valid update that is already cached.
    valid = {"state": 1, "incarnation": 1, "tags": ["k", "v"]}
    assert decode(raw(4, [update_body(**valid)]))
    assert reason(raw(4, [update_body(**{**valid, **overrides})])) == expected


# ---------------------------------------------------------------------------------- hostile input


@settings(max_examples=300)
@given(st.binary(max_size=64) | st.binary(max_size=64).map(lambda b: HEADER + b))
def test_random_bytes_raise_only_decode_error(data: bytes) -> None:
    try:
        decode(data)
    except DecodeError as exc:
        assert exc.reason in DROP_REASONS


@settings(max_examples=300)
@given(mutations(messages(max_updates=3).map(encode)))
def test_mutated_datagrams_raise_only_decode_error(datagram: bytes) -> None:
    try:
        mutated = decode(datagram)
    except DecodeError as exc:
        assert exc.reason in DROP_REASONS
    else:
        # As bytes: a mutated coordinate may hold NaN, which equals nothing, itself included.
        again = encode(mutated)
        assert encode(decode(again)) == again


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "short"),
        (b"KB", "short"),
        (b"XB\x01\x93\x00\x01\x90", "magic"),
        (b"KB\x02\x93\x00\x01\x90", "version"),
        (b"KB\x00\x93\x00\x01\x90", "version"),
        (HEADER + bytes(MAX_DATAGRAM), "oversize"),
        (b"\xff" * (64 * 1024 + 1), "oversize"),  # before any other check
        (HEADER, "malformed"),
        (HEADER + b"\x93\x00\x01", "malformed"),  # truncated
        (encode(Ping(seq=1)) + b"\x00", "malformed"),  # trailing garbage
        (raw(9, 1, []), "type"),
        (raw(200), "type"),
        (raw(-1, 1, []), "type"),
        (HEADER + b"\x01", "malformed"),  # not an array
        (HEADER + b"\x90", "malformed"),  # empty array
        (raw("0", 1, []), "malformed"),
        (raw(True, 1, []), "malformed"),
        (raw(0, 1), "malformed"),  # arity
        (raw(0, 1, [], None), "malformed"),
        (raw(0, 1.0, []), "malformed"),
        (raw(0, True, []), "malformed"),
        (raw(0, 1, ""), "malformed"),
        (raw(0, 1, [update_body()[:5]]), "malformed"),
        (raw(0, 1, [[*update_body(), None]]), "malformed"),
        (raw(0, 1, [update_body(addr="10.0.0.1")]), "malformed"),
        (raw(0, 1, [update_body(addr=[1])]), "malformed"),
        (raw(0, 1, [update_body(identity="id")]), "malformed"),
        (raw(0, 1, [update_body(tags="ab")]), "malformed"),
        (raw(0, 1, [update_body(tags=["k"])]), "malformed"),
        (raw(0, 1, [update_body(state=False)]), "malformed"),
        (HEADER + b"\x93\x00\x01\x81\xa1k\x01", "malformed"),  # map
        (HEADER + b"\x93\x00\x01\xd4\x01\x00", "malformed"),  # extension type
        (HEADER + b"\x93\x00\x01\xa2\xff\xfe", "malformed"),  # invalid UTF-8
        (HEADER + b"\x91" * 60000 + b"\x00", "malformed"),  # nested too deep
        (raw(0, -1, []), "invalid"),
        (raw(2, 1, 2**32, 0, None, []), "invalid"),  # fingerprint beyond uint32
        (raw(0, 1, [update_body(addr=A_WIRE + b"\x00")]), "invalid"),  # 5-byte IP
        (raw(1, 1, b"\x00" * 4, []), "invalid"),  # target without a port
        (raw(0, 1, [update_body(state=4)]), "invalid"),
        (raw(0, 1, [update_body(state=-1)]), "invalid"),
        (raw(0, 1, [update_body(incarnation=-1)]), "invalid"),
        (raw(0, 1, [update_body(identity=bytes(MAX_IDENTITY + 1))]), "invalid"),
        (raw(7, 1, bytes(MAX_IDENTITY + 1), 0, 0), "invalid"),
        (raw(0, 1, [update_body(tags=["b", "1", "a", "2"])]), "invalid"),  # unsorted
        (raw(0, 1, [update_body(tags=["a", "1", "a", "2"])]), "invalid"),  # duplicate
        (raw(0, 1, [update_body(tags=["a", 1])]), "invalid"),
        (raw(0, 1, [update_body(tags=[b"a", "1"])]), "invalid"),
        (raw(0, 1, [update_body(tags=[s for i in range(65) for s in (f"{i:03}", "")])]), "invalid"),
        (raw(0, 1, [update_body(tags=["k", "é" * 2048])]), "invalid"),  # 4097 UTF-8 bytes
        (raw(4, [update_body()] * (MAX_UPDATES + 1)), "invalid"),
        (raw(8, 1, 1, 1, False, 0, []), "invalid"),  # index == count
        (raw(8, 1, 0, 4097, False, 0, []), "invalid"),
        (raw(8, 1, 0, 1, 0, 0, []), "malformed"),  # reply is not a bool
        (raw(2, 1, 0, 0, []), "malformed"),  # an ack without its coordinate field
        (raw(2, 1, 0, 0, [1.0], []), "malformed"),  # a coordinate is bin, not an array
        (raw(2, 1, 0, 0, bytes(6), []), "invalid"),  # fewer than 1 dimension + 3
        (raw(2, 1, 0, 0, bytes(9), []), "invalid"),  # not whole half floats
        (raw(2, 1, 0, 0, bytes(2 * 20), []), "invalid"),  # more than 16 dimensions
    ],
)
def test_drop_reasons(data: bytes, expected: str) -> None:
    assert reason(data) == expected


def test_limits_are_inclusive() -> None:
    tags = [s for i in range(64) for s in (f"{i:03}", "")]
    assert decode(raw(0, 1, [update_body(tags=tags, identity=bytes(MAX_IDENTITY))]))
    assert decode(raw(0, 1, [update_body(tags=["k", "é" * 2047 + "a"])]))
    assert decode(raw(4, [update_body()] * MAX_UPDATES))
    assert decode(raw(8, 2**64 - 1, 4095, 4096, True, 2**32 - 1, []))


@pytest.mark.parametrize(
    "msg",
    [
        PingReq(seq=1, target=Addr(b"\x0a\x00\x00\x01", 70000)),
        PingReq(seq=1, target=Addr(b"\x0a\x00\x00\x01", -1)),
        PingReq(seq=1, target=Addr(b"\x0a\x00\x00", 1)),
        Ping(seq=2**64),
    ],
)
def test_encode_rejects_values_without_a_wire_form(msg: Message) -> None:
    # A bad port cannot reach decode: the wire has exactly 16 bits for it.
    with pytest.raises(ValueError):
        encode(msg)


def test_encode_rejects_non_messages() -> None:
    with pytest.raises(TypeError):
        encode(A)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ sizes


@settings(max_examples=200)
@given(messages(max_updates=0), update_lists(max_size=40))
def test_size_bound(msg: Message, ups: tuple[Update, ...]) -> None:
    if isinstance(msg, Ping | PingReq | Ack | Nack | Gossip):
        msg = replace(msg, updates=ups)
    elif isinstance(msg, Sync):
        msg = replace(msg, members=ups)
    else:
        ups = ()
    size = len(encode(msg))
    total = base_size(msg) + sum(map(update_size, ups))
    assert size <= total + 2
    assert size == total + (2 if len(ups) >= 16 else 0)


@given(updates())
def test_update_size_matches_announce(update: Update) -> None:
    # Announce carries one bare update after a 2-byte array header and a 1-byte type code.
    assert len(encode(Announce(member=update))) == len(HEADER) + 2 + update_size(update)


@given(addrs())
def test_addresses_round_trip_in_pings(addr: Addr) -> None:
    assert decode(encode(PingReq(seq=0, target=addr))) == PingReq(seq=0, target=addr)


@pytest.mark.parametrize("count", [0, 1, 15, 16, 17, 300])
def test_size_bound_around_the_array16_step(count: int) -> None:
    ups = tuple(
        Update(addr=A, state=MemberState.ALIVE, incarnation=i, identity=b"n%d" % i)
        for i in range(count)
    )
    for msg in (
        Gossip(updates=ups),
        Sync(exchange=1, index=0, count=1, reply=False, fingerprint=0, members=ups),
    ):
        total = base_size(msg) + sum(map(update_size, ups))
        assert len(encode(msg)) == total + (2 if count >= 16 else 0) <= total + 2
