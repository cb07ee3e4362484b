"""The send path on its own: piggybacked gossip, the exact datagram budget, who hears what first."""

from __future__ import annotations

import pytest
from parts import STRANGER, A, B, C, D, alive, make_parts, sent, update

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.messages import Ack, Gossip, MemberState, Nack, Ping, PingReq, Update
from kaboodle.protocol.outbox import Piggybacking

IPV6_TARGET = Addr.parse("[fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")
SEQ = 2**64 - 1  # the widest sequence number


def queued(n: int) -> Update:
    """An update about member ``n``; all of them encode to the same size."""
    return alive(Addr.from_ip(f"fd00::1:{n + 0x1000:x}", 7000), incarnation=2**63, identity=b"id")


@pytest.mark.parametrize(
    "msg",
    [
        Ping(seq=SEQ),
        PingReq(seq=SEQ, target=IPV6_TARGET),
        Ack(seq=SEQ, fingerprint=2**32 - 1, members=2**32 - 1),
        Nack(seq=SEQ),
        Gossip(updates=(update(C, MemberState.SUSPECT, origin=A),)),
    ],
    ids=lambda m: type(m).__name__,
)
@pytest.mark.parametrize("max_datagram", [512, 1400, 9000])
def test_a_datagram_is_filled_up_to_the_budget_and_never_beyond(
    msg: Piggybacking, max_datagram: int
) -> None:
    parts = make_parts(B, C, max_datagram=max_datagram)
    for n in range(1000):
        parts.outbox.push(queued(n))
    fx = Effects()
    parts.outbox.send(B, msg, fx)
    [datagram] = fx.sends
    size = len(datagram.data)
    assert size <= max_datagram
    # One more update would not have fitted: the budget was computed, not guessed.
    assert size + codec.update_size(queued(0)) > max_datagram


def test_small_updates_beyond_sixteen_still_fit_the_budget() -> None:
    # At 16 updates the array header grows by two bytes: the budget leaves room for it.
    parts = make_parts(B, max_datagram=512)
    for n in range(100):
        parts.outbox.push(alive(Addr.from_ip(f"10.0.{n // 250}.{n % 250}", 1), identity=b""))
    fx = Effects()
    parts.outbox.send(B, Ping(seq=1), fx)
    [(_, ping)] = sent(fx)
    assert isinstance(ping, Ping) and len(ping.updates) > 16
    assert len(fx.sends[0].data) <= 512


def test_queued_updates_ride_on_a_ping_and_leave_after_the_retransmit_limit() -> None:
    parts = make_parts(B)
    parts.outbox.push(alive(C))
    limit = parts.config.retransmit_limit(parts.members.counted)
    for _ in range(limit):
        fx = Effects()
        parts.outbox.send(B, Ping(seq=1), fx)
        [(_, ping)] = sent(fx)
        assert isinstance(ping, Ping) and ping.updates == (alive(C),)
    assert len(parts.outbox) == 0
    fx = Effects()
    parts.outbox.send(B, Ping(seq=1), fx)
    assert sent(fx) == [(B, Ping(seq=1))]


def test_quiet_news_asks_for_no_gossip_round_but_rides_on_a_ping() -> None:
    parts = make_parts(B)
    parts.outbox.push(alive(C), quiet=True)
    assert len(parts.outbox) == 1 and not parts.outbox.has_news()
    fx = Effects()
    parts.outbox.send(B, Ping(seq=1), fx)
    [(_, ping)] = sent(fx)
    assert isinstance(ping, Ping) and ping.updates == (alive(C),)
    parts.outbox.push(alive(D))
    assert parts.outbox.has_news()


def test_a_stranger_hears_who_we_are_first() -> None:
    parts = make_parts(B)
    fx = Effects()
    parts.outbox.send(STRANGER, Ping(seq=3), fx)
    assert sent(fx) == [(STRANGER, Ping(seq=3, updates=(parts.local.record,)))]


def test_a_member_we_suspect_hears_our_suspicion_first_so_it_can_refute() -> None:
    parts = make_parts(B)
    parts.add(update(C, MemberState.SUSPECT))
    parts.outbox.push(alive(D))
    fx = Effects()
    parts.outbox.send(C, Ping(seq=4), fx)
    [(_, ping)] = sent(fx)
    assert isinstance(ping, Ping)
    assert ping.updates[0] == update(C, MemberState.SUSPECT, origin=A)
    assert alive(D) in ping.updates


def test_an_alive_member_hears_nothing_first() -> None:
    parts = make_parts(B)
    assert parts.outbox.belief_about(B) is None


def test_an_ack_carries_our_fingerprint_and_count() -> None:
    parts = make_parts(B, C)
    fx = Effects()
    parts.outbox.ack(B, 9, fx)
    fingerprint = parts.members.fingerprint()
    assert sent(fx) == [(B, Ack(seq=9, fingerprint=fingerprint, members=3))]


def test_gossip_goes_to_at_most_fanout_peers_never_to_ourselves_or_the_dead() -> None:
    parts = make_parts(B, C)
    parts.add(update(D, MemberState.DEAD))
    parts.outbox.push(alive(Addr.parse("[fd00::5]:7000")))
    fx = Effects()
    parts.outbox.gossip(5, fx)
    targets = [to for to, _ in sent(fx)]
    assert sorted(targets) == sorted([B, C])  # type: ignore[type-var]


def test_gossip_with_news_of_ourselves_puts_it_in_front_for_every_peer() -> None:
    parts = make_parts(B, C, D)
    left = parts.local.change(1.0, state=MemberState.LEFT)
    fx = Effects()
    parts.outbox.gossip(2, fx, first=left)
    messages = sent(fx)
    assert len(messages) == 2
    assert all(isinstance(m, Gossip) and m.updates[0] == left for _, m in messages)


def test_a_discarded_update_is_not_sent() -> None:
    parts = make_parts(B)
    parts.outbox.push(alive(C))
    parts.outbox.discard(C)
    fx = Effects()
    parts.outbox.gossip(1, fx)
    assert fx.sends == []


def test_a_full_broadcast_queue_lets_the_most_sent_go_and_counts_it() -> None:
    parts = make_parts(B, max_broadcasts=3)
    for n in range(5):
        parts.outbox.push(queued(n))
    assert len(parts.outbox) == 3
    assert parts.stats["dropped:broadcast-cap"] == 2
    parts.outbox.push(queued(4))  # news of a queued member replaces it: nothing lost
    assert parts.stats["dropped:broadcast-cap"] == 2


def test_a_non_member_gets_back_no_more_gossip_than_fits_in_what_it_sent() -> None:
    parts = make_parts(B)
    for n in range(50):
        parts.outbox.push(queued(n))
    question = Ping(seq=7, updates=(queued(99), queued(98)))  # about 80 bytes
    asked = len(codec.encode(question))
    parts.outbox.answering(STRANGER, question)
    fx = Effects()
    parts.outbox.ack(STRANGER, 7, fx)
    parts.outbox.send(B, Ping(seq=8), fx)  # a member is not limited
    parts.outbox.answered()
    to_stranger, to_member = (len(s.data) for s in fx.sends)
    assert to_stranger <= asked < to_member
    fx = Effects()
    parts.outbox.ack(STRANGER, 9, fx)  # once answered, no limit
    assert len(fx.sends[0].data) > asked


def test_a_bare_answer_to_a_bare_question_is_only_its_own_fields() -> None:
    parts = make_parts(B)
    parts.outbox.push(queued(1))
    parts.outbox.answering(STRANGER, Ping(seq=1))
    fx = Effects()
    parts.outbox.ack(STRANGER, 1, fx)
    [(_, ack)] = sent(fx)
    assert isinstance(ack, Ack) and ack.updates == ()
    # An ack's fingerprint and count are the few bytes it has beyond a ping.
    assert len(fx.sends[0].data) - len(codec.encode(Ping(seq=1))) <= 10
