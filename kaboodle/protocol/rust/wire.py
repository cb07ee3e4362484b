"""The kaboodle crate 0.1.5's wire format (bincode 1.3 with fixed-width little-endian integers),
encoded byte for byte as the crate does and decoded strictly.

Group datagrams are a :data:`Broadcast` (Join, Failed, Probe), unicast ones an
:class:`Envelope` (the sender's identity and one message), and a prober gets a bare
:class:`ProbeResponse`. Layouts (section 2 of the reference)::

    SocketAddr   u32 0, 4 octets, u16 port | u32 1, 16 octets, u16 port      (10 | 22 bytes)
    Bytes        u64 length, then the bytes
    Join         u32 0, SocketAddr, Bytes        Failed  u32 1, SocketAddr
    Probe        u32 2, SocketAddr
    Envelope     Bytes (identity), then a message:
      Ping u32 0 | PingRequest u32 1, SocketAddr | Ack u32 2, SocketAddr, u32 fp, u32 n
      KnownPeers u32 3, u64 count, (SocketAddr, Bytes)* | KnownPeersRequest u32 4, u32, u32
    ProbeResponse Bytes

The crate deserializes its whole receive buffer, so it takes an empty or truncated datagram
for a message; :func:`decode_broadcast`, :func:`decode_envelope` and
:func:`decode_probe_response` accept exactly one message and nothing after it, and raise only
:class:`~kaboodle.protocol.codec.DecodeError` with a reason of
:data:`~kaboodle.protocol.codec.DROP_REASONS`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ..addr import Addr
from ..codec import DecodeError

__all__ = [
    "MAX_DATAGRAM",
    "Ack",
    "Broadcast",
    "Envelope",
    "Failed",
    "Join",
    "KnownPeers",
    "KnownPeersRequest",
    "Ping",
    "PingRequest",
    "Probe",
    "ProbeResponse",
    "SwimMessage",
    "decode_broadcast",
    "decode_envelope",
    "decode_probe_response",
    "encode",
    "encoded_peer_size",
    "message_kind",
]

MAX_DATAGRAM = 10240
"""The crate's receive buffer: it truncates anything longer, so nothing we send is longer."""

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_U16 = struct.Struct("<H")
_V4, _V6 = 0, 1
_PEER_MIN = 4 + 4 + 2 + 8  # the smallest KnownPeers entry: a V4 address and an empty identity


@dataclass(frozen=True, slots=True)
class Join:
    """Multicast by a node about itself (the crate takes ``addr`` from the payload)."""

    addr: Addr
    identity: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    """Multicast news that ``addr`` stopped answering; the crate has no way to refute it."""

    addr: Addr


@dataclass(frozen=True, slots=True)
class Probe:
    """Multicast by a prober that wants one member to answer at ``addr``."""

    addr: Addr


Broadcast = Join | Failed | Probe
"""What travels on the group port."""


@dataclass(frozen=True, slots=True)
class Ping:
    """Are you there?"""


@dataclass(frozen=True, slots=True)
class PingRequest:
    """Ping ``target`` for me and forward its ack."""

    target: Addr


@dataclass(frozen=True, slots=True)
class Ack:
    """``peer`` is there, with its fingerprint and its count of known peers."""

    peer: Addr
    fingerprint: int
    num_peers: int


@dataclass(frozen=True, slots=True)
class KnownPeers:
    """Peers the sender knows, with their identities (the crate's map, in any order)."""

    peers: tuple[tuple[Addr, bytes], ...]


@dataclass(frozen=True, slots=True)
class KnownPeersRequest:
    """Send me your peers: our views differ (my fingerprint and count)."""

    fingerprint: int
    num_peers: int


SwimMessage = Ping | PingRequest | Ack | KnownPeers | KnownPeersRequest
"""What an envelope carries."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """A unicast datagram: the sender's identity and one message."""

    identity: bytes
    msg: SwimMessage


@dataclass(frozen=True, slots=True)
class ProbeResponse:
    """A member's answer to a :class:`Probe`: its identity only."""

    identity: bytes


# ---------------------------------------------------------------------------------- encode


def encode(msg: Broadcast | Envelope | ProbeResponse) -> bytes:
    """The datagram the crate would send for ``msg``.

    Raises:
        ValueError: an address with no wire form (not 4 or 16 octets), a value out of range.
    """
    out = bytearray()
    if isinstance(msg, Envelope):
        _bytes(out, msg.identity)
        _message(out, msg.msg)
    elif isinstance(msg, ProbeResponse):
        _bytes(out, msg.identity)
    elif isinstance(msg, Join):
        out += _U32.pack(0)
        _addr(out, msg.addr)
        _bytes(out, msg.identity)
    elif isinstance(msg, Failed):
        out += _U32.pack(1)
        _addr(out, msg.addr)
    elif isinstance(msg, Probe):
        out += _U32.pack(2)
        _addr(out, msg.addr)
    else:
        raise TypeError(f"not a rust-0.1 message: {type(msg).__name__}")
    return bytes(out)


def _message(out: bytearray, msg: SwimMessage) -> None:
    if isinstance(msg, Ping):
        out += _U32.pack(0)
    elif isinstance(msg, PingRequest):
        out += _U32.pack(1)
        _addr(out, msg.target)
    elif isinstance(msg, Ack):
        out += _U32.pack(2)
        _addr(out, msg.peer)
        out += _u32(msg.fingerprint) + _u32(msg.num_peers)
    elif isinstance(msg, KnownPeers):
        out += _U32.pack(3) + _U64.pack(len(msg.peers))
        for addr, identity in msg.peers:
            _addr(out, addr)
            _bytes(out, identity)
    else:
        out += _U32.pack(4) + _u32(msg.fingerprint) + _u32(msg.num_peers)


def _u32(value: int) -> bytes:
    try:
        return _U32.pack(value)
    except struct.error as exc:
        raise ValueError(f"{value} is not a u32") from exc


def _addr(out: bytearray, addr: Addr) -> None:
    if len(addr.ip) == 4:
        out += _U32.pack(_V4)
    elif len(addr.ip) == 16:
        out += _U32.pack(_V6)
    else:
        raise ValueError(f"an IP address has 4 or 16 octets, not {len(addr.ip)}")
    out += addr.ip
    out += _U16.pack(addr.port)


def _bytes(out: bytearray, data: bytes) -> None:
    out += _U64.pack(len(data))
    out += data


def encoded_peer_size(addr: Addr, identity: bytes) -> int:
    """Bytes one KnownPeers entry takes (to fill a datagram without encoding it)."""
    return 4 + len(addr.ip) + 2 + 8 + len(identity)


# ---------------------------------------------------------------------------------- decode


class _Reader:
    """Reads one datagram front to back; every short read is a DecodeError."""

    __slots__ = ("_at", "_data")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, n: int) -> bytes:
        end = self._at + n
        if end > len(self._data):
            raise DecodeError("malformed", f"truncated at byte {self._at} of {len(self._data)}")
        chunk = self._data[self._at : end]
        self._at = end
        return chunk

    def u32(self) -> int:
        value: int = _U32.unpack(self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = _U64.unpack(self.take(8))[0]
        return value

    def addr(self) -> Addr:
        family = self.u32()
        if family == _V4:
            ip = self.take(4)
        elif family == _V6:
            ip = self.take(16)
        else:
            raise DecodeError("invalid", f"address family {family}")
        port: int = _U16.unpack(self.take(2))[0]
        return Addr(ip, port)

    def blob(self) -> bytes:
        # A length beyond what is left is refused before anything is taken (no allocation).
        length = self.u64()
        if length > self.left:
            raise DecodeError("malformed", f"a length of {length} with {self.left} bytes left")
        return self.take(length)

    @property
    def left(self) -> int:
        return len(self._data) - self._at

    def end(self) -> None:
        if self.left:
            raise DecodeError("malformed", f"{self.left} bytes after the message")


_BROADCASTS = ("join", "failed", "probe")
_MESSAGES = ("ping", "ping-req", "ack", "known-peers", "known-peers-request")


def message_kind(data: bytes, via_group: bool) -> str:
    """The kind of a datagram, from a peek at its tags, for counters: a broadcast on the
    group port (``join``, ``failed``, ``probe``), else an envelope's message, or a
    ``probe-response`` (an identity alone); ``unknown`` when it is none of them."""
    if via_group:
        tag = _U32.unpack_from(data)[0] if len(data) >= 4 else None
        return _BROADCASTS[tag] if tag is not None and tag < len(_BROADCASTS) else "unknown"
    if len(data) < 8:
        return "unknown"
    end = 8 + _U64.unpack_from(data)[0]
    if end == len(data):
        return "probe-response"
    tag = _U32.unpack_from(data, end)[0] if end + 4 <= len(data) else None
    return _MESSAGES[tag] if tag is not None and tag < len(_MESSAGES) else "unknown"


def _checked(data: bytes) -> _Reader:
    if len(data) > MAX_DATAGRAM:
        raise DecodeError("oversize", f"{len(data)} bytes")
    if len(data) < 4:
        raise DecodeError("short", f"{len(data)} bytes")
    return _Reader(data)


def decode_broadcast(data: bytes) -> Broadcast:
    """A group datagram: Join, Failed or Probe, and nothing after it."""
    reader = _checked(data)
    tag = reader.u32()
    msg: Broadcast
    if tag == 0:
        msg = Join(reader.addr(), reader.blob())
    elif tag == 1:
        msg = Failed(reader.addr())
    elif tag == 2:
        msg = Probe(reader.addr())
    else:
        raise DecodeError("type", f"broadcast variant {tag}")
    reader.end()
    return msg


def decode_envelope(data: bytes) -> Envelope:
    """A unicast datagram: the sender's identity and one message, and nothing after it."""
    reader = _checked(data)
    identity = reader.blob()
    tag = reader.u32()
    msg: SwimMessage
    if tag == 0:
        msg = Ping()
    elif tag == 1:
        msg = PingRequest(reader.addr())
    elif tag == 2:
        msg = Ack(reader.addr(), reader.u32(), reader.u32())
    elif tag == 3:
        count = reader.u64()
        if count > reader.left // _PEER_MIN:
            raise DecodeError("malformed", f"{count} peers cannot fit in {reader.left} bytes")
        msg = KnownPeers(tuple((reader.addr(), reader.blob()) for _ in range(count)))
    elif tag == 4:
        msg = KnownPeersRequest(reader.u32(), reader.u32())
    else:
        raise DecodeError("type", f"message variant {tag}")
    reader.end()
    return Envelope(identity, msg)


def decode_probe_response(data: bytes) -> ProbeResponse:
    """A prober's answer: one identity, and nothing after it."""
    reader = _checked(data)
    identity = reader.blob()
    reader.end()
    return ProbeResponse(identity)
