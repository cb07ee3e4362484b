"""The protocol node driven by hand: one datagram or timer at a time, no network."""

from __future__ import annotations

import itertools
import random

import pytest

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.config import Config
from kaboodle.protocol.discovery import FoundMember, probe_datagram, read_probe_reply
from kaboodle.protocol.effects import Effects, Multicast, Send, SetTimer
from kaboodle.protocol.events import PeerFailed, PeerJoined, PeerLeft, PeerSuspected
from kaboodle.protocol.messages import (
    Ack,
    Announce,
    Gossip,
    MemberState,
    Message,
    Nack,
    Ping,
    PingReq,
    ProbeReply,
    Sync,
    Update,
)
from kaboodle.protocol.node import Node
from kaboodle.protocol.sync import initiates_repair, split_state
from kaboodle.protocol.timers import (
    AnnounceTick,
    DepartureCheck,
    GossipTick,
    ProbeTick,
    WelcomeDue,
)

A = Addr.parse("[fd00::1]:7000")
B = Addr.parse("[fd00::2]:7000")
C = Addr.parse("[fd00::3]:7000")
D = Addr.parse("[fd00::4]:7000")
STRANGER = Addr.parse("[fd00::99]:4000")


def make(addr: Addr = A, **config: object) -> Node:
    node = Node(
        addr,
        b"id-" + addr.host.encode(),
        config=Config(**config),
        rng=random.Random(1),  # type: ignore[arg-type]
        incarnation=10,
    )
    node.start(0.0)
    return node


def alive(addr: Addr, incarnation: int = 1, identity: bytes = b"x") -> Update:
    return Update(addr=addr, state=MemberState.ALIVE, incarnation=incarnation, identity=identity)


def sent(fx: Effects) -> list[tuple[Addr | None, Message]]:
    return [(s.to if isinstance(s, Send) else None, codec.decode(s.data)) for s in fx.sends]


def join(node: Node, *peers: Addr) -> None:
    node.handle_message(0.1, peers[0], Gossip(updates=tuple(alive(p) for p in peers)))


def test_ping_gets_an_ack_with_fingerprint_and_count() -> None:
    node = make()
    join(node, B)
    [(to, ack)] = sent(node.handle_message(1.0, B, Ping(seq=5)))
    assert to == B
    assert isinstance(ack, Ack)
    assert (ack.seq, ack.fingerprint, ack.members) == (5, node.fingerprint(), 2)


def test_gossip_of_a_new_member_adds_it_and_reports_joined() -> None:
    node = make()
    fx = node.handle_message(1.0, B, Gossip(updates=(alive(C, identity=b"c"),)))
    assert PeerJoined(addr=C, identity=b"c", incarnation=1) in fx.events
    assert node.counts(C)


def test_suspicion_about_ourselves_is_refuted_with_a_higher_incarnation() -> None:
    node = make()
    join(node, B)
    suspect = Update(addr=A, state=MemberState.SUSPECT, incarnation=10, origin=B)
    node.handle_message(1.0, B, Gossip(updates=(suspect,)))
    assert node.incarnation == 11
    [(_, ack)] = [m for m in sent(node.handle_message(1.1, B, Ping(seq=1))) if m[0] == B]
    assert isinstance(ack, Ack)
    assert any(u.addr == A and u.incarnation == 11 for u in ack.updates)


def test_outdated_suspicion_is_answered_directly_with_our_refutation() -> None:
    node = make()
    join(node, B)
    stale = Update(addr=A, state=MemberState.SUSPECT, incarnation=3, origin=B)
    replies = sent(node.handle_message(1.0, B, Gossip(updates=(stale,))))
    assert node.incarnation == 10
    assert (B, Gossip(updates=(node.members.get(A),))) in replies  # type: ignore[arg-type]


def test_stale_alive_gossip_never_resurrects_a_dead_member() -> None:
    node = make()
    join(node, B, C)
    suspect = Update(addr=C, state=MemberState.SUSPECT, incarnation=1, origin=B)
    dead = Update(addr=C, state=MemberState.DEAD, incarnation=1, origin=B)
    fx = node.handle_message(0.2, B, Gossip(updates=(suspect, dead)))
    assert PeerFailed(addr=C, incarnation=1, identity=b"x") in fx.events
    for incarnation in (0, 1):
        node.handle_message(0.3, B, Gossip(updates=(alive(C, incarnation),)))
        assert not node.counts(C)
    fx = node.handle_message(0.4, B, Gossip(updates=(alive(C, 2),)))
    assert node.counts(C)
    assert any(isinstance(e, PeerJoined) for e in fx.events)


def test_unanswered_probe_leads_to_ping_req_then_suspicion_then_failure() -> None:
    node = Node(A, b"a", config=Config(indirect_checks=1), rng=random.Random(3), incarnation=1)
    now, suspected_at, failed_at = 0.0, None, None
    pending: list[tuple[float, object]] = [(t.at, t.timer) for t in node.start(0.0).timers]
    join(node, B, C)
    saw_ping_req = False
    while pending and now < 30:
        pending.sort(key=lambda item: item[0])
        now, timer = pending.pop(0)
        fx = node.handle_timer(now, timer)  # type: ignore[arg-type]
        pending += [(t.at, t.timer) for t in fx.timers]
        for to, msg in sent(fx):
            if to != B or not isinstance(msg, Ping | PingReq):
                continue
            # B answers its own pings and nacks ping-reqs: C never answers anybody.
            saw_ping_req = saw_ping_req or isinstance(msg, PingReq)
            answer: Message = (
                Nack(seq=msg.seq)
                if isinstance(msg, PingReq)
                else Ack(seq=msg.seq, fingerprint=0, members=3)
            )
            reply = node.handle_message(now + 0.001, B, answer)
            pending += [(t.at, t.timer) for t in reply.timers]
        for event in fx.events:
            if isinstance(event, PeerSuspected) and event.addr == C:
                suspected_at = suspected_at or now
            if isinstance(event, PeerFailed) and event.addr == C:
                failed_at = failed_at or now
        if failed_at:
            break
    assert saw_ping_req
    assert suspected_at is not None and failed_at is not None
    assert failed_at > suspected_at
    assert node.counts(B) and not node.counts(C)


def test_ping_req_for_a_non_member_is_nacked_and_not_relayed() -> None:
    node = make()
    join(node, B)
    replies = sent(node.handle_message(1.0, B, PingReq(seq=9, target=STRANGER)))
    assert [to for to, _ in replies] == [B]
    assert isinstance(replies[0][1], Nack)
    assert node.stats["dropped:ping-req-target"] == 1


def test_ping_req_is_relayed_and_the_ack_forwarded() -> None:
    node = make()
    join(node, B, C)
    [(to, ping)] = sent(node.handle_message(1.0, B, PingReq(seq=9, target=C)))
    assert to == C and isinstance(ping, Ping)
    [(to, ack)] = sent(node.handle_message(1.01, C, Ack(seq=ping.seq, fingerprint=0, members=3)))
    assert to == B and isinstance(ack, Ack) and ack.seq == 9


def test_announce_must_come_from_the_address_it_names() -> None:
    node = make()
    node.handle_message(1.0, STRANGER, Announce(member=alive(B)))
    assert not node.counts(B)
    assert node.stats["dropped:announce-source"] == 1
    node.handle_message(1.0, B, Announce(member=alive(B)))
    assert node.counts(B)


def test_malformed_datagrams_are_counted_by_reason_and_never_raise() -> None:
    node = make()
    for data in (b"", b"KB", b"XX\x01\x90", b"KB\x09\x90", b"KB\x01\xc1", b"\xff" * 70000):
        assert node.handle_datagram(1.0, B, data).sends == []
    assert sum(v for k, v in node.stats.items() if k.startswith("dropped:")) == 6


def test_probe_from_a_non_member_gets_one_reply_to_its_source_only() -> None:
    node = make()
    probe = codec.decode(probe_datagram(77))  # padded, as a prober sends it
    [(to, reply)] = sent(node.handle_message(1.0, STRANGER, probe))
    assert to == STRANGER
    assert reply == ProbeReply(
        nonce=77, identity=node.identity, fingerprint=node.fingerprint(), members=1
    )
    assert not node.counts(STRANGER)


def test_leave_gossips_left_and_peers_drop_the_member_at_once() -> None:
    leaver, peer = make(A), make(B)
    join(leaver, B, C)
    join(peer, A, C)
    fx = leaver.leave(5.0)
    messages = [msg for _, msg in sent(fx)]
    assert messages and all(isinstance(m, Gossip) for m in messages)
    events = peer.handle_message(5.01, A, messages[0]).events
    assert PeerLeft(addr=A, incarnation=10, identity=b"x") in events
    assert not peer.counts(A)
    assert leaver.leaving and not leaver.counts(A)


def _pings_to(to: Addr, fx: Effects) -> list[Ping]:
    return [m for dest, m in sent(fx) if dest == to and isinstance(m, Ping)]


def _departure_check(fx: Effects) -> SetTimer:
    [check] = [t for t in fx.timers if isinstance(t.timer, DepartureCheck)]
    return check


def test_a_forged_left_of_a_live_member_is_refuted_before_anyone_buries_it() -> None:
    victim, peer = make(A), make(B)
    join(victim, B, C)
    join(peer, A, C)
    forged = Update(addr=A, state=MemberState.LEFT, incarnation=10, identity=b"id-fd00::1")
    heard = peer.handle_message(0.2, STRANGER, Gossip(updates=(forged,)))
    assert peer.counts(A)
    [ping] = _pings_to(A, heard)
    assert ping.updates[0] == forged  # the member hears the claim first, and refutes it
    answer = victim.handle_message(0.201, B, ping)
    [ack] = [m for to, m in sent(answer) if to == B and isinstance(m, Ack)]
    events = peer.handle_message(0.202, A, ack).events
    assert _departure_check(heard)
    for due in sorted(heard.timers, key=lambda t: t.at):
        events += peer.handle_timer(due.at, due.timer).events
    assert peer.stats["frozen"] == 0
    assert peer.members.get(A) == alive(A, incarnation=11, identity=b"id-fd00::1")
    assert not any(isinstance(e, PeerLeft) for e in heard.events + events)


def test_a_left_heard_second_hand_is_final_once_the_leaver_confirms_it() -> None:
    leaver, peer = make(A), make(B)
    join(leaver, B, C)
    join(peer, A, C)
    [left] = {u for _, m in sent(leaver.leave(5.0)) for u in m.updates if u.addr == A}  # type: ignore[union-attr]
    heard = peer.handle_message(5.01, C, Gossip(updates=(left,)))  # relayed by C
    assert peer.counts(A) and not heard.events
    [ping] = _pings_to(A, heard)
    answer = leaver.handle_message(5.011, B, ping)
    [ack] = [m for to, m in sent(answer) if to == B and isinstance(m, Ack)]
    assert ack.updates[0] == left  # a leaving node says so first, to everyone
    events = peer.handle_message(5.012, A, ack).events
    assert PeerLeft(addr=A, incarnation=10, identity=b"x") in events
    assert not peer.counts(A)


def test_a_left_heard_second_hand_is_believed_when_the_leaver_is_gone() -> None:
    peer = make(B)
    join(peer, A, C)
    left = Update(addr=A, state=MemberState.LEFT, incarnation=1, identity=b"x")
    heard = peer.handle_message(0.2, C, Gossip(updates=(left,)))
    assert _departure_check(heard).at == 0.2 + peer.config.probe_interval
    events = []
    for due in sorted(heard.timers, key=lambda t: t.at):  # the ping-reqs go unanswered too
        events += peer.handle_timer(due.at, due.timer).events
    assert peer.stats["frozen"] == 0
    assert PeerLeft(addr=A, incarnation=1, identity=b"x") in events
    assert not peer.counts(A)


def test_set_identity_spreads_with_a_higher_incarnation() -> None:
    node = make()
    join(node, B)
    node.set_identity(1.0, b"renamed")
    [(_, ack)] = sent(node.handle_message(1.1, B, Ping(seq=1)))
    assert isinstance(ack, Ack)
    assert alive(A, 11, b"renamed") in ack.updates
    with pytest.raises(ValueError, match="identity"):
        node.set_identity(2.0, b"x" * 10_000)


def test_start_multicasts_an_announce_about_ourselves() -> None:
    node = Node(A, b"me", config=Config(), rng=random.Random(2), incarnation=3)
    fx = node.start(0.0)
    [announce] = [codec.decode(s.data) for s in fx.sends if isinstance(s, Multicast)]
    assert announce == Announce(member=alive(A, 3, b"me"))


def test_the_start_announce_is_repeated_and_pushes_wait_for_it() -> None:
    # Until its repeat, a node pushes no newcomer a state larger than a datagram: the
    # newcomer will hear the repeats.
    node = Node(A, b"me", config=Config(sync_pushers=100), rng=random.Random(2), incarnation=3)
    fx = node.start(0.0)
    crowd = tuple(alive(Addr.from_ip(f"fd00::9:{n:x}", 7000)) for n in range(100))
    node.handle_message(
        0.05, B, Sync(exchange=1, index=0, count=1, reply=False, fingerprint=0, members=crowd)
    )
    node.handle_message(0.1, B, Announce(member=alive(B)))
    heard = node.handle_message(0.2, C, Announce(member=alive(C)))
    assert not [t for t in heard.timers if isinstance(t.timer, WelcomeDue)]
    announces = []
    now, due = 0.0, node.config.announce_repeat
    while now < due:  # the announce timers up to the repeat, in a mesh since 0.1
        [tick] = [t for t in fx.timers if isinstance(t.timer, AnnounceTick)]
        now = tick.at
        fx = node.handle_timer(now, tick.timer)
        announces += [(now, m) for to, m in sent(fx) if to is None]
    assert announces == [(due, Announce(member=alive(A, 3, b"me")))]  # repeated all the same
    fx = node.handle_message(due + 0.1, STRANGER, Announce(member=alive(STRANGER)))
    assert [t for t in fx.timers if isinstance(t.timer, WelcomeDue)]


def test_a_state_pushed_before_our_repeat_is_passed_on_and_one_after_is_not() -> None:
    # Before our repeat the push comes from members that started about when we did: those
    # that missed the same announces learn what it told us from our gossip.
    node = Node(A, b"me", config=Config(), rng=random.Random(2), incarnation=3)
    node.start(0.0)

    def push(now: float, *members: Addr) -> None:
        state = tuple(alive(m) for m in members)
        sync = Sync(exchange=1, index=0, count=1, reply=False, fingerprint=0, members=state)
        node.handle_message(now, B, sync)

    queued = node.sizes()["broadcasts"]
    push(0.1, B, C)
    assert node.sizes()["broadcasts"] == queued + 2
    push(node.config.announce_repeat + 0.1, D)
    assert node.counts(D) and node.sizes()["broadcasts"] == queued + 2


def test_a_repeated_announce_changes_nothing_and_a_newer_one_is_merged() -> None:
    node = make()
    first = Announce(member=alive(B, 1, b"old"))
    node.handle_message(1.0, B, first)
    assert node.handle_message(2.0, B, first) == Effects()  # the same record, held
    assert node.handle_message(2.1, B, codec.decode(codec.encode(first))) == Effects()
    node.handle_message(2.2, B, Announce(member=alive(B, 2, b"new")))
    member = node.members.get(B)
    assert member is not None and (member.incarnation, member.identity) == (2, b"new")


@pytest.mark.parametrize(
    ("heard", "probed"), [(Announce(member=alive(B)), True), (Gossip(updates=()), False)]
)
def test_only_a_datagram_sent_to_us_spares_a_probe(heard: Message, probed: bool) -> None:
    # A multicast shows that B is up, not that its datagrams to us get through.
    node = Node(A, b"me", config=Config(proximity=False), rng=random.Random(2), incarnation=3)
    [tick] = [t for t in node.start(0.0).timers if isinstance(t.timer, ProbeTick)]
    join(node, B)
    node.handle_message(tick.at - 0.01, B, heard)
    fx = node.handle_timer(tick.at, tick.timer)
    assert [to for to, m in sent(fx) if isinstance(m, Ping)] == ([B] if probed else [])


def test_a_thousand_member_state_splits_into_parts_that_fit_and_merge_whole() -> None:
    members = [
        alive(Addr.from_ip(f"fd00::{n:x}", 7000 + n), n, b"node-%d" % n) for n in range(1000)
    ]
    parts = split_state(members, exchange=1, reply=True, fingerprint=0, budget=1400)
    assert len(parts) > 1
    assert all(len(codec.encode(p)) <= 1400 for p in parts)
    assert {p.count for p in parts} == {len(parts)}
    node = make()
    for part in parts:
        node.handle_message(1.0, B, codec.decode(codec.encode(part)))
    assert node.members.counted == 1001
    assert all(node.counts(u.addr) for u in members)


def test_exactly_one_side_initiates_repair() -> None:
    for ours, theirs in [((1, 5), (2, 5)), ((1, 4), (2, 5)), ((1, 6), (2, 5))]:
        assert initiates_repair(ours, theirs, A, B) != initiates_repair(theirs, ours, B, A)
    assert not initiates_repair((1, 5), (1, 5), A, B)


def test_sync_reply_goes_only_to_members_and_once_per_exchange() -> None:
    node = make()
    join(node, B)
    part = Sync(exchange=4, index=0, count=1, reply=True, fingerprint=0, members=(alive(C),))
    first = sent(node.handle_message(1.0, B, part))
    assert first and all(to == B and isinstance(m, Sync) for to, m in first)
    assert sent(node.handle_message(1.1, B, part)) == []
    assert sent(node.handle_message(1.2, STRANGER, part)) == []


def test_news_of_an_unsuspected_death_is_suspected_first_and_can_be_refuted() -> None:
    node = make()
    join(node, B, C)
    dead = Update(addr=C, state=MemberState.DEAD, incarnation=1, origin=B)
    fx = node.handle_message(1.0, B, Gossip(updates=(dead,)))
    assert PeerSuspected(addr=C, incarnation=1, identity=b"x") in fx.events
    assert node.counts(C)
    [timer] = [t for t in fx.timers if type(t.timer).__name__ == "SuspicionTimeout"]
    minimum, _ = node.config.suspicion_bounds(node.members.counted)
    assert timer.at <= 1.0 + minimum  # the shortest timeout: the death was confirmed by B
    node.handle_message(1.5, C, Gossip(updates=(alive(C, 2),)))
    assert node.counts(C)
    assert node.handle_timer(1.0 + minimum, timer.timer).events == []


def test_a_frozen_node_buries_nobody_when_it_wakes() -> None:
    node = make()
    join(node, B, C)
    suspect = Update(addr=C, state=MemberState.SUSPECT, incarnation=1, origin=B)
    fx = node.handle_message(1.0, B, Gossip(updates=(suspect,)))
    timers = [t for t in fx.timers if type(t.timer).__name__ == "SuspicionTimeout"]
    late = max(t.at for t in timers) + 30.0  # woke long after every deadline
    for t in timers:
        assert not any(isinstance(e, PeerFailed) for e in node.handle_timer(late, t.timer).events)
    assert node.counts(C)
    assert node.stats["frozen"] >= 1


def test_a_stranger_talking_to_us_is_contacted_for_a_full_exchange() -> None:
    node = make()
    join(node, B)
    contacts = node.stats["stranger-contacts"]
    replies = sent(node.handle_message(2.0, STRANGER, Ping(seq=3)))
    assert (STRANGER, Ping) in [(to, type(m)) for to, m in replies]
    assert node.stats["stranger-contacts"] == contacts + 1
    replies = sent(node.handle_message(2.1, STRANGER, Ping(seq=4)))
    assert (STRANGER, Ping) not in [(to, type(m)) for to, m in replies]  # rate-limited


def test_a_prober_learns_a_member_without_joining() -> None:
    node = make()
    join(node, B)
    [reply] = node.handle_datagram(3.0, STRANGER, probe_datagram(nonce=42)).sends
    assert isinstance(reply, Send) and reply.to == STRANGER
    found = read_probe_reply(A, reply.data, nonce=42)
    assert found == FoundMember(
        addr=A, identity=node.identity, fingerprint=node.fingerprint(), members=2
    )
    assert read_probe_reply(A, reply.data, nonce=43) is None  # not our probe
    assert read_probe_reply(A, b"garbage", nonce=42) is None
    assert not node.counts(STRANGER)


def test_a_ten_thousand_member_state_syncs_whole() -> None:
    members = [alive(Addr.from_ip(f"fd01::{n + 1:x}", 7000), 1, b"n%d" % n) for n in range(10_000)]
    parts = split_state(members, exchange=7, reply=False, fingerprint=0, budget=1400)
    node = make()
    join(node, B)
    for part in reversed(parts):  # order does not matter
        node.handle_datagram(0.2, B, codec.encode(part))
    assert node.members.counted == 10_002


def test_answers_to_a_stranger_are_no_larger_than_what_it_sent() -> None:
    node = make()
    join(node, B, C)
    node.set_identity(0.5, b"x" * 200)  # news in the queue, and a large record of ours
    for question in (Ping(seq=3), PingReq(seq=4, target=C), Gossip(updates=(alive(C, 2),))):
        fx = node.handle_message(1.0, STRANGER, question)
        asked = len(codec.encode(question))
        answers = [s for s in fx.sends if isinstance(s, Send) and s.to == STRANGER]
        for answer in answers:
            decoded = codec.decode(answer.data)
            # The one exception: a bare ack is a few bytes larger than a bare ping.
            assert len(answer.data) <= asked or getattr(decoded, "updates", None) == ()
    assert node.stats["dropped:ping-req-source"] == 1
    assert not node.counts(STRANGER)


def _gossip_ticks(fx: Effects) -> list[float]:
    return [t.at for t in fx.timers if isinstance(t.timer, GossipTick)]


def test_a_gossip_round_is_set_only_by_news_and_rounds_stay_an_interval_apart() -> None:
    node = make(gossip_interval=0.2)
    fx = node.handle_message(1.0, B, Gossip(updates=(alive(B), alive(C))))
    [at] = _gossip_ticks(fx)  # news of B and C: one round, half an interval on
    assert at == pytest.approx(1.1)
    # More news before the round: the round already set takes it too.
    assert _gossip_ticks(node.handle_message(1.05, B, Gossip(updates=(alive(STRANGER),)))) == []
    rounds = [at]
    while True:
        fx = node.handle_timer(rounds[-1], GossipTick())
        assert any(isinstance(m, Gossip) for _, m in sent(fx))
        ticks = _gossip_ticks(fx)
        if not ticks:
            break
        rounds += ticks
        assert len(rounds) < 10
    assert all(b - a >= 0.2 - 1e-9 for a, b in itertools.pairwise(rounds))
    assert not node._outbox.has_news()  # each update went through a round: no more wake-ups


def test_an_idle_node_sets_no_gossip_round() -> None:
    node = make()
    join(node, B)
    while node._outbox.has_news():
        node.handle_timer(1.0, GossipTick())
    fx = node.handle_message(2.0, B, Ping(seq=1))
    assert _gossip_ticks(fx) == []
