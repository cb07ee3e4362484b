"""The wire format: messages to datagrams and back.

A datagram is ``b"KB"``, one version byte (:data:`PROTOCOL_VERSION`) and one msgpack array: the
:class:`MessageType` code, then the message's fields in declaration order::

    Ping        [0, seq, updates]
    PingReq     [1, seq, target, updates]
    Ack         [2, seq, fingerprint, members, coordinate, updates]
    Nack        [3, seq, updates]
    Gossip      [4, updates]
    Announce    [5, update]
    Probe       [6, nonce, padding]
    ProbeReply  [7, nonce, identity, fingerprint, members]
    Sync        [8, exchange, index, count, reply, fingerprint, members]

``updates`` (and Sync's ``members``) is an array of updates; an update is
``[addr, state, incarnation, identity, tags, origin]`` with ``tags`` flat as
``[key1, value1, key2, value2, ...]`` sorted by key, and ``origin`` an address or nil. An address
is one bin of 6 or 18 bytes: the IP octets, then the port big-endian. ``identity`` and a
probe's ``padding`` are bin, tags
are str, ``reply`` is a bool; seq, nonce, exchange and incarnation are uint64, fingerprints and
member counts uint32. A coordinate is nil or one bin of little-endian IEEE half-precision
floats: the Euclidean components, then height, error and adjustment (2 x (dimensions + 3)
bytes; three significant digits are ample for estimates good to a few per cent).

:func:`decode` accepts any bytes and raises only :class:`DecodeError`, whose ``reason`` is one of
:data:`DROP_REASONS`, so that a receiver can count what it drops without trusting its peers.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum
from itertools import pairwise
from typing import Any

import msgpack

from .addr import Addr
from .coordinate import MAX_DIMENSIONS, Coordinate
from .messages import (
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
    Tags,
    Update,
)

__all__ = [
    "DROP_REASONS",
    "MAGIC",
    "MAX_DATAGRAM",
    "MAX_IDENTITY",
    "MAX_SYNC_PARTS",
    "MAX_TAGS",
    "MAX_TAGS_BYTES",
    "MAX_UPDATES",
    "PROTOCOL_VERSION",
    "DecodeError",
    "MessageType",
    "base_size",
    "decode",
    "encode",
    "message_kind",
    "update_size",
]

MAGIC = b"KB"
PROTOCOL_VERSION = 1
MAX_DATAGRAM = 65507
"""The largest UDP payload over IPv4; anything longer cannot have come from a peer."""
MAX_UPDATES = 4096
"""Most updates in one message (and members in one Sync part)."""
MAX_SYNC_PARTS = 4096
MAX_IDENTITY = 1024
MAX_TAGS = 64
MAX_TAGS_BYTES = 4096
"""Most UTF-8 bytes in one update's tag keys and values together."""

DROP_REASONS = ("short", "magic", "version", "oversize", "malformed", "type", "invalid")
"""Every :attr:`DecodeError.reason`:

- ``short``: fewer than 3 bytes, so not even a header.
- ``magic``: does not start with :data:`MAGIC`.
- ``version``: a protocol version this codec does not speak.
- ``oversize``: longer than :data:`MAX_DATAGRAM`.
- ``malformed``: not one msgpack array of the right shape and types (truncated, trailing bytes,
  wrong arity, an int where bytes belong...).
- ``type``: a message type code this codec does not know.
- ``invalid``: well-formed, but a value is out of range or breaks a limit.
"""

_U32 = 0xFFFF_FFFF
_U64 = 0xFFFF_FFFF_FFFF_FFFF
_HEADER = MAGIC + bytes((PROTOCOL_VERSION,))
_STATES = tuple(MemberState)
_ADDR_CACHE_MAX = 65536
_UPDATE_CACHE_MAX = 16384


class MessageType(IntEnum):
    """The first item of every body. Values are on the wire: only append."""

    PING = 0
    PING_REQ = 1
    ACK = 2
    NACK = 3
    GOSSIP = 4
    ANNOUNCE = 5
    PROBE = 6
    PROBE_REPLY = 7
    SYNC = 8


class DecodeError(ValueError):
    """A datagram that :func:`decode` drops.

    Attributes:
        reason: why, one of :data:`DROP_REASONS`; stable, meant for counters.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


# A shared Packer saves a third of the encode time over packb. Packing our plain types never calls
# back into Python, so one pack() runs atomically under the GIL, and autoreset also resets on error.
_pack = msgpack.Packer(use_bin_type=True).pack

# Many simulated nodes decode the same few addresses and the same gossiped updates; interning
# makes them share one object and skips re-checking and rebuilding it (a frozen dataclass is slow
# to build). Clearing when full bounds the memory an attacker can make us spend.
_ADDRS: dict[bytes, Addr] = {}
_UPDATES: dict[tuple[Any, ...], Update] = {}
_ADDR_BYTES: dict[Addr, bytes] = {}


# ---------------------------------------------------------------------------------------- encode


def _addr_bytes(addr: Addr) -> bytes:
    raw = _ADDR_BYTES.get(addr)
    if raw is None:
        ip, port = addr
        if len(ip) not in (4, 16) or not 0 <= port <= 0xFFFF:
            raise ValueError(f"cannot encode address {ip!r} port {port}")
        if len(_ADDR_BYTES) >= _ADDR_CACHE_MAX:
            _ADDR_BYTES.clear()
        raw = _ADDR_BYTES[addr] = ip + port.to_bytes(2, "big")
    return raw


def _update_fields(update: Update) -> list[Any]:
    origin = update.origin
    return [
        _ADDR_BYTES.get(update.addr) or _addr_bytes(update.addr),
        update.state,
        update.incarnation,
        update.identity,
        [item for pair in update.tags for item in pair] if update.tags else [],
        None if origin is None else (_ADDR_BYTES.get(origin) or _addr_bytes(origin)),
    ]


def _coordinate_bytes(coordinate: Coordinate | None) -> bytes | None:
    if coordinate is None:
        return None
    values = (*coordinate.vec, coordinate.height, coordinate.error, coordinate.adjustment)
    try:
        return struct.pack(f"<{len(values)}e", *values)
    except OverflowError as exc:  # beyond half precision's 65504: no real coordinate is
        raise ValueError(f"cannot encode coordinate: {exc}") from exc


def _ups(updates: tuple[Update, ...]) -> list[Any]:
    return [_update_fields(update) for update in updates]


_ENCODERS: dict[type, Callable[[Any], list[Any]]] = {
    Ping: lambda m: [0, m.seq, _ups(m.updates)],
    PingReq: lambda m: [1, m.seq, _addr_bytes(m.target), _ups(m.updates)],
    Ack: lambda m: [
        2,
        m.seq,
        m.fingerprint,
        m.members,
        _coordinate_bytes(m.coordinate),
        _ups(m.updates),
    ],
    Nack: lambda m: [3, m.seq, _ups(m.updates)],
    Gossip: lambda m: [4, _ups(m.updates)],
    Announce: lambda m: [5, _update_fields(m.member)],
    Probe: lambda m: [6, m.nonce, m.padding],
    ProbeReply: lambda m: [7, m.nonce, m.identity, m.fingerprint, m.members],
    Sync: lambda m: [8, m.exchange, m.index, m.count, m.reply, m.fingerprint, _ups(m.members)],
}


def _body(msg: Message) -> list[Any]:
    encoder = _ENCODERS.get(type(msg))
    if encoder is None:
        raise TypeError(f"not a message: {type(msg).__name__}")
    return encoder(msg)


def _packed(fields: list[Any]) -> bytes:
    try:
        return _pack(fields)
    except OverflowError as exc:  # an int beyond 64 bits; a bad str already raises ValueError
        raise ValueError(f"cannot encode: {exc}") from exc


def encode(msg: Message) -> bytes:
    """Encode one message as one datagram.

    Values are not checked against :func:`decode`'s limits: the caller builds its own messages,
    and keeps tags sorted by key as :data:`~kaboodle.protocol.messages.Tags` says.

    Args:
        msg: the message.

    Returns:
        The datagram: header and msgpack body.

    Raises:
        TypeError: ``msg`` is not a message.
        ValueError: a value has no wire form (an address that is not 4 or 16 octets with a port
            in 0..65535, an integer outside int64..uint64, a string that is not valid Unicode,
            a coordinate value beyond half precision).
    """
    return _HEADER + _packed(_body(msg))


_KINDS = {t.value: t.name.lower().replace("_", "-") for t in MessageType}


def message_kind(data: bytes) -> str:
    """The type of the message in a datagram, from a peek at its first bytes, for counters:
    ``ping``, ``ack``, ``gossip``... or ``unknown`` (the datagram is not decoded)."""
    if data[:3] != _HEADER or len(data) < 5:
        return "unknown"
    # The body is a msgpack array whose first item is the type: a fixarray (up to 15 items)
    # or an array 16; the type is a positive fixint either way.
    first = 4 if 0x90 <= data[3] <= 0x9F else 6 if data[3] == 0xDC and len(data) > 6 else None
    return "unknown" if first is None else _KINDS.get(data[first], "unknown")


def update_size(update: Update) -> int:
    """The exact number of bytes one update adds inside a message's updates array.

    Together with :func:`base_size` this lets a sender fill a datagram without encoding it:
    for a message with ``n <= 65535`` updates, ``len(encode(msg))`` is exactly
    ``base_size(msg) + sum(update_size(u) for u in updates)``, plus 2 when ``n >= 16`` because
    the array header grows from a 1-byte fixarray to a 3-byte array16. So
    ``len(encode(msg)) <= base_size(msg) + sum(update_size(u) for u in updates) + 2``.

    Args:
        update: the update.

    Returns:
        Its encoded size in bytes.

    Raises:
        ValueError: as :func:`encode`.
    """
    return len(_packed(_update_fields(update)))


def base_size(msg: Message) -> int:
    """The encoded size of ``msg`` with its updates (Sync: its members) left out.

    Args:
        msg: any message; messages without an updates array give ``len(encode(msg))``.

    Returns:
        The datagram size in bytes with an empty updates array.

    Raises:
        TypeError, ValueError: as :func:`encode`.
    """
    fields = _body(msg)
    if isinstance(msg, Ping | PingReq | Ack | Nack | Gossip | Sync):
        fields[-1] = []
    return len(_HEADER) + len(_packed(fields))


# ---------------------------------------------------------------------------------------- decode


def _malformed(detail: str) -> DecodeError:
    return DecodeError("malformed", detail)


def _invalid(detail: str) -> DecodeError:
    return DecodeError("invalid", detail)


def _uint(value: Any, limit: int) -> int:
    if type(value) is not int:  # also rejects bool, which int fields would otherwise accept
        raise _malformed(f"expected an integer, got {type(value).__name__}")
    if not 0 <= value <= limit:
        raise _invalid(f"{value} is out of range 0..{limit}")
    return value


def _addr(raw: Any) -> Addr:
    addr = _ADDRS.get(raw)  # an unhashable raw raises TypeError, which decode reports malformed
    if addr is None:
        if type(raw) is not bytes:
            raise _malformed(f"expected an address, got {type(raw).__name__}")
        if len(raw) not in (6, 18):
            raise _invalid(f"an address has 6 or 18 bytes, not {len(raw)}")
        if len(_ADDRS) >= _ADDR_CACHE_MAX:
            _ADDRS.clear()
        addr = _ADDRS[raw] = Addr(raw[:-2], int.from_bytes(raw[-2:], "big"))
    return addr


def _identity(raw: Any) -> bytes:
    if type(raw) is not bytes:
        raise _malformed(f"expected an identity, got {type(raw).__name__}")
    if len(raw) > MAX_IDENTITY:
        raise _invalid(f"identity of {len(raw)} bytes exceeds {MAX_IDENTITY}")
    return raw


def _padding(raw: Any) -> bytes:
    if type(raw) is not bytes:
        raise _malformed(f"expected padding bytes, got {type(raw).__name__}")
    return raw


def _tags(flat: list[Any]) -> Tags:
    if len(flat) % 2:
        raise _malformed("tags need an even number of items")
    if len(flat) > 2 * MAX_TAGS:
        raise _invalid(f"more than {MAX_TAGS} tags")
    if any(type(item) is not str for item in flat):
        raise _invalid("tag keys and values must be strings")
    keys = flat[0::2]
    # Strictly increasing keys rule out duplicates and make equal tag sets equal on the wire.
    # Code point order is UTF-8 byte order, so other implementations sort the same way.
    if any(a >= b for a, b in pairwise(keys)):
        raise _invalid("tag keys must be sorted and unique")
    if len("".join(flat).encode()) > MAX_TAGS_BYTES:
        raise _invalid(f"tags exceed {MAX_TAGS_BYTES} bytes")
    return tuple(zip(keys, flat[1::2], strict=True))


def _update(item: Any) -> Update:
    if type(item) is not list:
        raise _malformed("expected an update array")
    raw_addr, state, incarnation, identity, tags, raw_origin = item
    if type(state) is not int or type(incarnation) is not int or type(tags) is not list:
        raise _malformed("wrong field types in update")
    # Checking the int types first makes the key exact: a bool or float would equal the int in
    # a key, and a str would iterate like a tags list. Any other item that equals a cached key
    # is the same valid update, so a hit needs no further checks.
    key = (raw_addr, state, incarnation, identity, raw_origin, *tags)
    try:
        update = _UPDATES.get(key)
    except TypeError:  # an unhashable field: let the checks below name the reason
        update = None
    if update is None:
        if not 0 <= state < len(_STATES) or not 0 <= incarnation <= _U64:
            raise _invalid(f"state {state} or incarnation {incarnation} out of range")
        update = Update(
            addr=_ADDRS.get(raw_addr) or _addr(raw_addr),
            state=_STATES[state],
            incarnation=incarnation,
            identity=_identity(identity),
            tags=_tags(tags) if tags else (),
            origin=None if raw_origin is None else (_ADDRS.get(raw_origin) or _addr(raw_origin)),
        )
        if len(_UPDATES) >= _UPDATE_CACHE_MAX:
            _UPDATES.clear()
        _UPDATES[key] = update
    return update


def _coordinate(raw: Any) -> Coordinate | None:
    if raw is None:
        return None
    if type(raw) is not bytes:
        raise _malformed(f"expected a coordinate, got {type(raw).__name__}")
    count, rest = divmod(len(raw), 2)
    if rest or not 4 <= count <= MAX_DIMENSIONS + 3:
        raise _invalid(f"a coordinate of {len(raw)} bytes")
    # Values are taken as sent, NaN included: whether they are plausible is for the receiver
    # to judge (and count), not a reason to drop the ack they came on.
    *vec, height, error, adjustment = struct.unpack(f"<{count}e", raw)
    return Coordinate(vec=tuple(vec), error=error, adjustment=adjustment, height=height)


def _updates(raw: Any) -> tuple[Update, ...]:
    if type(raw) is not list:
        raise _malformed("expected an updates array")
    if len(raw) > MAX_UPDATES:
        raise _invalid(f"{len(raw)} updates exceed {MAX_UPDATES}")
    return tuple([_update(item) for item in raw])


def _sync(body: list[Any]) -> Sync:
    reply, count, index = body[4], _uint(body[3], MAX_SYNC_PARTS), _uint(body[2], _U64)
    if type(reply) is not bool:
        raise _malformed("reply must be a bool")
    if index >= count:
        raise _invalid(f"part {index} of {count}")
    return Sync(
        exchange=_uint(body[1], _U64),
        index=index,
        count=count,
        reply=reply,
        fingerprint=_uint(body[5], _U32),
        members=_updates(body[6]),
    )


# Indexed by MessageType: the body's length (type code included), and its decoder.
_DECODERS: tuple[tuple[int, Callable[[list[Any]], Message]], ...] = (
    (3, lambda b: Ping(seq=_uint(b[1], _U64), updates=_updates(b[2]))),
    (4, lambda b: PingReq(seq=_uint(b[1], _U64), target=_addr(b[2]), updates=_updates(b[3]))),
    (
        6,
        lambda b: Ack(
            seq=_uint(b[1], _U64),
            fingerprint=_uint(b[2], _U32),
            members=_uint(b[3], _U32),
            coordinate=_coordinate(b[4]),
            updates=_updates(b[5]),
        ),
    ),
    (3, lambda b: Nack(seq=_uint(b[1], _U64), updates=_updates(b[2]))),
    (2, lambda b: Gossip(updates=_updates(b[1]))),
    (2, lambda b: Announce(member=_update(b[1]))),
    (3, lambda b: Probe(nonce=_uint(b[1], _U64), padding=_padding(b[2]))),
    (
        5,
        lambda b: ProbeReply(
            nonce=_uint(b[1], _U64),
            identity=_identity(b[2]),
            fingerprint=_uint(b[3], _U32),
            members=_uint(b[4], _U32),
        ),
    ),
    (7, _sync),
)


def decode(data: bytes) -> Message:
    """Decode one datagram, from anyone.

    Args:
        data: the datagram, exactly as received.

    Returns:
        The message.

    Raises:
        DecodeError: the datagram is not a valid message; ``reason`` says why (see
            :data:`DROP_REASONS`). No other exception escapes, whatever the bytes.
    """
    if len(data) > MAX_DATAGRAM:  # first, so that no work is spent on an impossible datagram
        raise DecodeError("oversize", f"{len(data)} bytes")
    if len(data) < 3:
        raise DecodeError("short", f"{len(data)} bytes")
    if data[:2] != MAGIC:
        raise DecodeError("magic")
    if data[2] != PROTOCOL_VERSION:
        raise DecodeError("version", str(data[2]))
    try:
        # The caps only make the limits explicit: no item can be longer than the datagram, and
        # the protocol never uses maps or extension types.
        body = msgpack.unpackb(
            data[3:],
            raw=False,
            strict_map_key=True,
            max_bin_len=MAX_DATAGRAM,
            max_str_len=MAX_DATAGRAM,
            max_array_len=MAX_DATAGRAM,
            max_map_len=0,
            max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.UnpackException) as exc:  # ExtraData is a ValueError
        raise _malformed(str(exc)) from exc
    if type(body) is not list or not body or type(body[0]) is not int:
        raise _malformed("expected an array starting with a message type")
    if not 0 <= body[0] < len(_DECODERS):
        raise DecodeError("type", str(body[0]))
    arity, decoder = _DECODERS[body[0]]
    if len(body) != arity:
        raise _malformed(f"type {body[0]} has {arity - 1} fields, not {len(body) - 1}")
    try:
        return decoder(body)
    except DecodeError:
        raise
    except (TypeError, ValueError) as exc:  # an unhashable address, an update of wrong arity...
        raise _malformed(str(exc)) from exc
