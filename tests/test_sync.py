"""State exchange on its own: who pushes, who answers, and how often."""

from __future__ import annotations

from parts import STRANGER, B, C, alive, make_parts, sent

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.messages import MemberState, Sync
from kaboodle.protocol.timers import PushPullTick


def request(exchange: int = 1) -> Sync:
    return Sync(exchange=exchange, index=0, count=1, reply=True, fingerprint=0, members=())


def parts_of(fx: Effects) -> list[Sync]:
    return [m for _, m in sent(fx) if isinstance(m, Sync)]


def test_a_push_sends_every_member_in_parts_that_fit_a_datagram() -> None:
    parts = make_parts(max_datagram=512)
    parts.add(*(alive(Addr.from_ip(f"fd00::1:{n:x}", 7000)) for n in range(300)))
    sync = parts.state_sync()
    fx = Effects()
    sync.push(1.0, B, fx, reply=True)
    syncs = parts_of(fx)
    assert len(syncs) > 1
    assert all(len(codec.encode(s)) <= 512 for s in syncs)
    assert {u.addr for s in syncs for u in s.members} == {u.addr for u in parts.members}
    assert {(s.count, s.reply) for s in syncs} == {(len(syncs), True)}


def test_a_request_from_a_member_is_answered_once_per_exchange() -> None:
    parts = make_parts(B)
    sync = parts.state_sync()
    fx = Effects()
    sync.answer(1.0, B, request(7), fx)
    sync.answer(1.1, B, request(7), fx)  # a duplicated part
    answers = parts_of(fx)
    assert len(answers) == 1 and not answers[0].reply


def test_a_request_from_a_stranger_or_without_reply_is_not_answered() -> None:
    parts = make_parts(B)
    sync = parts.state_sync()
    fx = Effects()
    sync.answer(1.0, STRANGER, request(), fx)
    sync.answer(
        1.0, B, Sync(exchange=2, index=0, count=1, reply=False, fingerprint=0, members=()), fx
    )
    assert fx.sends == []


def test_answers_are_rate_limited_so_forged_requests_cannot_amplify() -> None:
    parts = make_parts(B)
    sync = parts.state_sync()
    fx = Effects()
    for exchange in range(50):
        sync.answer(1.0 + exchange * 0.01, B, request(exchange), fx)
    assert len(parts_of(fx)) == 10
    assert parts.stats["dropped:sync-rate"] == 40


def test_a_differing_fingerprint_starts_a_repair_only_on_our_turn_and_once_still() -> None:
    parts = make_parts(B)
    sync = parts.state_sync()
    ours = (parts.members.fingerprint(), parts.members.counted)
    fx = Effects()
    sync.repair(5.0, B, ours, fx, force=False)  # the same view
    sync.repair(5.0, B, (1, ours[1] - 1), fx, force=False)  # fewer members there: its turn
    assert fx.sends == []
    parts.view.changed(5.0, Effects())
    sync.repair(5.1, B, (1, ours[1] + 1), fx, force=False)  # our view still moves
    assert fx.sends == []
    sync.repair(6.0, B, (1, ours[1] + 1), fx, force=False)
    assert len(parts_of(fx)) == 1
    sync.repair(7.0, B, (1, ours[1] + 1), fx, force=False)  # backoff
    assert len(parts_of(fx)) == 1
    sync.repair(7.0, B, (1, ours[1] + 1), fx, force=True)  # a contact always exchanges
    assert len(parts_of(fx)) == 2


def test_an_exchange_with_a_contact_does_not_hold_back_the_repair_after_it() -> None:
    # A start storm: a stranger's contact exchange at 0.1, then at 1.0 an ack shows a fuller
    # view. The repair goes at once, not sync_backoff after the contact.
    parts = make_parts(B)
    sync = parts.state_sync()
    counted = parts.members.counted
    fx = Effects()
    sync.repair(0.1, B, (1, counted), fx, force=True)
    sync.repair(1.0, B, (1, counted + 5), fx, force=False)
    assert len(parts_of(fx)) == 2
    sync.repair(2.0, B, (1, counted + 5), fx, force=False)  # but repairs back off as ever
    assert len(parts_of(fx)) == 2


def test_a_newcomer_gets_pushed_to_by_a_node_that_knows_others_however_new() -> None:
    # Node A has just started (time 0.01) and knows only the newcomer C: nothing to offer.
    parts = make_parts(C, sync_pushers=100)  # push always
    sync = parts.state_sync()
    fx = Effects()
    sync.welcome(0.01, C, fx)
    assert fx.sends == []
    # Once it knows B too, it pushes at once: C may have missed B's announce.
    parts.add(alive(B))
    sync.welcome(0.02, C, fx)
    assert [to for to, _ in sent(fx)] == [C]
    assert all(isinstance(msg, Sync) and msg.reply for _, msg in sent(fx))
    parts.local.change(3.0, state=MemberState.LEFT)
    sync.welcome(3.0, C, fx)
    assert len(fx.sends) == 1  # a leaving node pushes nothing


def test_the_push_pull_tick_always_sets_the_next_one() -> None:
    parts = make_parts(B)
    sync = parts.state_sync()
    fx = Effects()
    sync.periodic(1.0, fx)
    [timer] = fx.timers
    interval = parts.config.push_pull_interval
    assert timer.timer == PushPullTick()
    assert 1.0 + interval * 0.5 <= timer.at <= 1.0 + interval * 1.5
