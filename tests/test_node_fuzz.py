"""Hostile input against the node state machine: sequences of arbitrary, truncated, bit-flipped
and spliced datagrams from members and strangers, with timers firing in between, never raise,
and leave the node's invariants and caps intact."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strategies import mutations

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.config import Config
from kaboodle.protocol.fingerprint import fingerprint
from kaboodle.protocol.messages import (
    Ack,
    Announce,
    Gossip,
    MemberState,
    Nack,
    Ping,
    PingReq,
    Probe,
    Sync,
    Update,
)
from kaboodle.protocol.node import Node

ME = Addr.parse("[fd00::1]:7000")
POOL = [ME, *(Addr.parse(f"[fd00::{n}]:7000") for n in range(2, 12)), Addr.parse("10.0.0.9:1")]
CONFIG = Config(max_members=8, max_tombstones=3, max_broadcasts=4, max_relays=2)

pool = st.sampled_from(POOL)
small = st.integers(0, 12)
update = st.builds(
    Update,
    addr=pool,
    state=st.sampled_from([MemberState.ALIVE] * 3 + list(MemberState)),
    incarnation=small,
    identity=st.sampled_from([b"", b"x", b"y" * 300]),
    origin=st.none() | pool,
)
ups = st.lists(update, max_size=4).map(tuple)
message = st.one_of(
    st.builds(Ping, seq=small, updates=ups),
    st.builds(PingReq, seq=small, target=pool, updates=ups),
    st.builds(Ack, seq=small, fingerprint=st.integers(0, 3), members=small, updates=ups),
    st.builds(Nack, seq=small, updates=ups),
    st.builds(Gossip, updates=st.lists(update, min_size=1, max_size=8).map(tuple)),
    st.builds(Announce, member=update),
    st.builds(Probe, nonce=small),
    st.builds(
        Sync,
        exchange=small,
        index=st.just(0),
        count=st.just(1),
        reply=st.booleans(),
        fingerprint=st.integers(0, 3),
        members=ups,
    ),
)


step = st.one_of(
    st.tuples(st.just("datagram"), pool, mutations(message.map(codec.encode))),
    st.tuples(st.just("timers"), st.floats(0.0, 3.0)),
)


def check(node: Node) -> None:
    members = list(node.members)
    assert node.members.get(ME) is not None
    assert node.members.get(ME).state == MemberState.ALIVE  # type: ignore[union-attr]
    counted = [m for m in members if m.counted]
    assert node.members.counted == len(counted)
    assert set(node.members.tombstones) == {m.addr for m in members if not m.counted}
    assert node.fingerprint() == fingerprint((m.addr, m.identity) for m in counted)
    sizes = node.sizes()
    assert sizes["members"] <= CONFIG.max_members
    assert sizes["tombstones"] <= CONFIG.max_tombstones
    assert sizes["broadcasts"] <= CONFIG.max_broadcasts
    assert sizes["relays"] <= CONFIG.max_relays
    assert sizes["suspicions"] <= sizes["members"]
    assert all(value >= 0 for value in node.stats.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, max_size=60), st.integers(0, 2**32))
def test_hostile_datagrams_and_timers_never_break_the_node(steps: list[Any], seed: int) -> None:
    node = Node(ME, b"me", config=CONFIG, rng=random.Random(seed), incarnation=5)
    now = 0.0
    pending = [(t.at, t.timer) for t in node.start(now).timers]
    for action in steps:
        if action[0] == "datagram":
            _, src, data = action
            now += 0.001
            fx = node.handle_datagram(now, src, data)
        else:
            now += action[1]
            due = sorted((p for p in pending if p[0] <= now), key=lambda p: p[0])
            pending = [p for p in pending if p[0] > now]
            timers = []
            for _, timer in due:
                timers += node.handle_timer(now, timer).timers
            fx = None
            pending += [(t.at, t.timer) for t in timers]
        if fx is not None:
            pending += [(t.at, t.timer) for t in fx.timers]
            for send in fx.sends:
                assert len(send.data) <= CONFIG.max_datagram
        check(node)
    event(f"members at the end: {node.members.counted}")
    event(f"tombstones at the end: {len(node.members.tombstones)}")
