"""Hypothesis strategies for protocol values, shared by the test modules."""

from __future__ import annotations

from hypothesis import strategies as st

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.coordinate import MAX_DIMENSIONS, Coordinate
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
    Tags,
    Update,
)

U32 = 2**32 - 1
U64 = 2**64 - 1


def addrs() -> st.SearchStrategy[Addr]:
    """IPv4 and IPv6 member addresses, any port."""
    ips = st.one_of(st.binary(min_size=4, max_size=4), st.binary(min_size=16, max_size=16))
    return st.builds(Addr, ips, st.integers(0, 0xFFFF))


def tags(max_tags: int = 4) -> st.SearchStrategy[Tags]:
    """Tags as the protocol keeps them: unique keys, sorted."""
    text = st.text(max_size=12)
    return st.dictionaries(text, text, max_size=max_tags).map(lambda d: tuple(sorted(d.items())))


def updates() -> st.SearchStrategy[Update]:
    """Any update the codec must carry, including ones a real node would not send."""
    return st.builds(
        Update,
        addr=addrs(),
        state=st.sampled_from(MemberState),
        incarnation=st.integers(0, U64),
        identity=st.binary(max_size=24),
        tags=tags(),
        origin=st.none() | addrs(),
    )


def update_lists(max_size: int = 6) -> st.SearchStrategy[tuple[Update, ...]]:
    """A message's updates."""
    return st.lists(updates(), max_size=max_size).map(tuple)


def coordinates() -> st.SearchStrategy[Coordinate]:
    """Coordinates whose values survive half precision on the wire (NaN left out: it equals
    nothing)."""
    f16 = st.floats(width=16, allow_nan=False)
    return st.builds(
        Coordinate,
        vec=st.lists(f16, min_size=1, max_size=MAX_DIMENSIONS).map(tuple),
        error=f16,
        adjustment=f16,
        height=f16,
    )


def messages(max_updates: int = 6) -> st.SearchStrategy[Message]:
    """Every message type, with field values across their whole wire range."""
    seqs = st.integers(0, U64)
    u32s = st.integers(0, U32)
    ups = update_lists(max_updates)
    sync = st.integers(1, 4096).flatmap(
        lambda count: st.builds(
            Sync,
            exchange=seqs,
            index=st.integers(0, count - 1),
            count=st.just(count),
            reply=st.booleans(),
            fingerprint=u32s,
            members=ups,
        )
    )
    return st.one_of(
        st.builds(Ping, seq=seqs, updates=ups),
        st.builds(PingReq, seq=seqs, target=addrs(), updates=ups),
        st.builds(
            Ack,
            seq=seqs,
            fingerprint=u32s,
            members=u32s,
            coordinate=st.none() | coordinates(),
            updates=ups,
        ),
        st.builds(Nack, seq=seqs, updates=ups),
        st.builds(Gossip, updates=ups),
        st.builds(Announce, member=updates()),
        st.builds(Probe, nonce=seqs, padding=st.binary(max_size=8)),
        st.builds(
            ProbeReply, nonce=seqs, identity=st.binary(max_size=64), fingerprint=u32s, members=u32s
        ),
        sync,
    )


def mutations(real: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    """Datagrams drawn from ``real``, or one of them truncated, bit-flipped, spliced with
    another, or noise: what a hostile or broken network delivers."""

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        data = draw(real)
        how = draw(st.sampled_from(["real"] * 4 + ["truncated", "flipped", "spliced", "noise"]))
        if how == "truncated":
            return data[: draw(st.integers(0, len(data)))]
        if how == "flipped" and data:
            at = draw(st.integers(0, len(data) - 1))
            return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
        if how == "spliced":
            other = draw(real)
            return (
                data[: draw(st.integers(0, len(data)))] + other[draw(st.integers(0, len(other))) :]
            )
        if how == "noise":
            return draw(st.binary(max_size=64))
        return data

    return mutated()
