"""Each weakness of the Rust crate's protocol (shared/reference/rust-kaboodle-0.1.5-wire.md,
section 5), shown closed here, one test each, on a node driven by hand."""

from __future__ import annotations

import random

from parts import STRANGER, alive, sent, update

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.config import Config
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.messages import (
    Ack,
    Announce,
    Gossip,
    MemberState,
    Ping,
    PingReq,
    Probe,
    Sync,
)
from kaboodle.protocol.node import Node

A = Addr.parse("[fd00::1]:7000")
B = Addr.parse("[fd00::2]:7000")
C = Addr.parse("[fd00::3]:7000")


def node(**config: object) -> Node:
    n = Node(A, b"a", config=Config(**config), rng=random.Random(1), incarnation=10)  # type: ignore[arg-type]
    n.start(0.0)
    n.handle_message(0.1, B, Gossip(updates=(alive(B), alive(C))))
    return n


def test_1_an_empty_or_truncated_datagram_is_dropped_not_taken_as_a_ping() -> None:
    n = node()
    ping = codec.encode(Ping(seq=1))
    for data in (b"", ping[:2], ping[:-1]):
        assert n.handle_datagram(1.0, STRANGER, data) == Effects()
    assert n.stats["dropped:short"] == 2 and n.stats["dropped:malformed"] == 1
    assert not n.counts(STRANGER)


def test_2_a_failure_can_be_refuted_by_the_member_itself() -> None:
    n = node()
    n.handle_message(
        1.0, B, Gossip(updates=(update(A, MemberState.DEAD, incarnation=10, origin=B),))
    )
    assert n.incarnation == 11 and n.members.get(A).state == MemberState.ALIVE  # type: ignore[union-attr]


def test_3_an_indirect_ack_vouches_for_the_target() -> None:
    n = node()
    fx = n.handle_message(1.0, B, PingReq(seq=9, target=C))
    [(to, ping)] = [(to, m) for to, m in sent(fx) if isinstance(m, Ping)]
    assert to == C
    fx = n.handle_message(1.1, C, Ack(seq=ping.seq, fingerprint=0, members=3))  # type: ignore[union-attr]
    [(to, ack)] = sent(fx)
    assert to == B and isinstance(ack, Ack) and ack.updates[0] == n.members.get(C)


def test_4_differing_fingerprints_do_not_start_a_sync_storm() -> None:
    n = node()
    syncs = 0
    for step in range(50):
        fx = n.handle_message(10.0 + step * 0.01, B, Ack(seq=step, fingerprint=1, members=4))
        syncs += sum(isinstance(m, Sync) for _, m in sent(fx))
    assert syncs == 0  # acks of no ping of ours: nothing to repair from
    for step in range(50):
        ask = Sync(exchange=step, index=0, count=1, reply=True, fingerprint=1, members=())
        fx = n.handle_message(20.0 + step * 0.01, B, ask)
        syncs += sum(isinstance(m, Sync) for _, m in sent(fx))
    assert syncs <= n.config.max_sync_replies
    assert n.stats["dropped:sync-rate"] > 0


def test_5_no_reflection_or_amplification() -> None:
    n = node()
    # An announce may not speak for another address.
    n.handle_message(1.0, STRANGER, Announce(member=alive(B, incarnation=9, identity=b"evil")))
    assert n.members.get(B).identity == b"x"  # type: ignore[union-attr]
    # A probe is answered to its source only, and only when no smaller than the answer.
    assert sent(n.handle_message(1.1, STRANGER, Probe(nonce=1))) == []
    [(to, _)] = sent(n.handle_message(1.2, STRANGER, Probe(nonce=2, padding=bytes(100))))
    assert to == STRANGER
    # A ping-req from a stranger aims nothing at its target.
    fx = n.handle_message(1.3, STRANGER, PingReq(seq=3, target=C))
    assert {to for to, _ in sent(fx)} == {STRANGER}  # its nack (and our hello), nothing to C
    # A sync request from a stranger gets no state back.
    fx = n.handle_message(1.4, STRANGER, Sync(exchange=1, index=0, count=1, reply=True,
                                                fingerprint=0, members=()))  # fmt: skip
    assert not any(isinstance(m, Sync) for _, m in sent(fx))


def test_6_state_is_bounded_whatever_a_datagram_carries() -> None:
    n = node(max_members=16, max_relays=2)
    many = tuple(alive(Addr.from_ip(f"fd00::9:{i:x}", 7000)) for i in range(200))
    n.handle_message(1.0, B, Gossip(updates=many))
    assert len(n.members) == 16 and n.stats["dropped:table-full"] > 0
    for seq in range(5):
        n.handle_message(1.1, B, PingReq(seq=seq, target=C))
    assert n.sizes()["relays"] == 2


def test_7_members_are_keyed_by_family_address_and_port_only() -> None:
    scoped = Addr.parse("[fe80::1%eth0]:7000")
    assert scoped == Addr.parse("[fe80::1]:7000")
    assert str(scoped) == "[fe80::1]:7000"


def test_8_a_node_that_leaves_says_so() -> None:
    n = node()
    fx = n.leave(2.0)
    gossip = [m for _, m in sent(fx) if isinstance(m, Gossip)]
    assert gossip and all(
        m.updates[0].addr == A and m.updates[0].state == MemberState.LEFT for m in gossip
    )
