"""State exchange on its own: who pushes, who answers, and how often."""

from __future__ import annotations

from parts import STRANGER, B, C, alive, make_parts, sent

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.messages import MemberState, Sync
from kaboodle.protocol.sync import fits_one_part
from kaboodle.protocol.timers import PushPullTick, WelcomeDue


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
    sync.repair(0.0, B, (parts.members.fingerprint(), counted), fx, force=False)  # caught up
    sync.repair(0.1, B, (1, counted), fx, force=True)
    sync.repair(1.0, B, (1, counted + 5), fx, force=False)
    assert len(parts_of(fx)) == 2
    sync.repair(2.0, B, (1, counted + 5), fx, force=False)  # but repairs back off as ever
    assert len(parts_of(fx)) == 2


def welcomes(fx: Effects) -> list[WelcomeDue]:
    return [t.timer for t in fx.timers if isinstance(t.timer, WelcomeDue)]


# Enough members that a node's state takes more than one datagram.
CROWD = [Addr.from_ip(f"fd00::9:{n:x}", 7000) for n in range(100)]


def test_a_newcomer_gets_pushed_to_by_a_node_that_knows_only_it() -> None:
    # Node A started at 0 and knows only the newcomer C: C missed A's announce, so A pushes
    # (after its random wait) its state, whole: it fits one datagram.
    parts = make_parts(C, sync_pushers=100)  # push always
    sync = parts.state_sync()
    sync.start(0.0)
    fx = Effects()
    sync.welcome(0.2, C, fx, repeat_pending=False)
    [timer] = fx.timers
    assert 0.2 <= timer.at <= 0.2 + parts.config.welcome_delay
    assert welcomes(fx) == [WelcomeDue(newcomer=C, share=1.0)]
    sync.welcome_due(timer.at, welcomes(fx)[0], fx, repeat_pending=False)
    [(to, msg)] = sent(fx)
    assert to == C and isinstance(msg, Sync) and not msg.reply
    assert {u.addr for u in msg.members} == {parts.local.addr, C}
    parts.local.change(3.0, state=MemberState.LEFT)
    sync.welcome(3.0, C, fx, repeat_pending=False)
    assert len(welcomes(fx)) == 1  # a leaving node pushes nothing


def test_a_node_whose_repeat_announce_is_to_come_pushes_the_newcomer_nothing() -> None:
    # The newcomer listens already, so it will hear our repeat, and the repeats of every
    # member that started after the last announce_repeat: a push would tell it nothing more.
    parts = make_parts(B, C, *CROWD, sync_pushers=100)
    assert not fits_one_part(parts.members, parts.config.max_datagram)
    sync = parts.state_sync()
    sync.start(1.0)
    fx = Effects()
    sync.welcome(1.1, C, fx, repeat_pending=True)
    assert fx.timers == []
    sync.welcome(1.1, C, fx, repeat_pending=False)
    assert len(welcomes(fx)) == 1


def test_a_state_that_fits_one_datagram_is_pushed_whole_before_our_repeat_too() -> None:
    # It costs what the newcomer's announce cost, and a small mesh that starts together
    # agrees without waiting for the repeats.
    parts = make_parts(B, C, sync_pushers=1, welcome_delay=0.0)
    sync = parts.state_sync()
    sync.start(1.0)
    for newcomer in (B, C):
        sync.welcome(1.1, newcomer, Effects(), repeat_pending=True)  # the mesh starts
    d = Addr.from_ip("fd00::2:1", 7000)
    parts.add(alive(d))
    fx = Effects()
    sync.welcome(1.2, d, fx, repeat_pending=True)
    [(to, msg)] = sent(fx)
    assert to == d and isinstance(msg, Sync) and msg.count == 1
    assert {u.addr for u in msg.members} == {parts.local.addr, B, C, d}
    # A WelcomeDue set while the state was small pushes nothing once it no longer fits.
    parts.add(*(alive(p) for p in CROWD))
    fx = Effects()
    sync.welcome_due(1.3, WelcomeDue(newcomer=d, share=1.0), fx, repeat_pending=True)
    assert fx.sends == []


def test_members_that_joined_by_announce_lately_do_not_thin_the_welcome_share() -> None:
    # A storm of 300 newcomers reaches a mesh of 10. Each newcomer hears the repeats of those
    # that announced less than announce_repeat before it, so the ones it needs pushed are the
    # 10 members of before: about sync_pushers of those 10 push, not 3 of 310.
    peers = [Addr.from_ip(f"fd00::1:{n:x}", 7000) for n in range(8)]
    parts = make_parts(B, *peers, sync_pushers=3)
    parts.rng.random = lambda: 0.0  # type: ignore[method-assign]  # every draw pushes
    sync = parts.state_sync()
    window = parts.config.announce_repeat
    shares = []
    for n in range(300):
        newcomer = Addr.from_ip(f"fd00::2:{n:x}", 7000)
        parts.add(alive(newcomer))  # merged before the welcome, as the node does
        fx = Effects()
        sync.welcome(5.0 + n * window / 400, newcomer, fx, repeat_pending=False)
        shares += [d.share for d in welcomes(fx)]
    assert shares == [3 / 10] * 300
    # Two windows later the storm is part of the mesh: 3 pushes of its 310 members.
    late = Addr.from_ip("fd00::3:1", 7000)
    parts.add(alive(late))
    fx = Effects()
    sync.welcome(5.0 + 3 * window, late, fx, repeat_pending=False)
    assert [d.share for d in welcomes(fx)] == [3 / 310]


def test_a_welcome_push_leaves_out_the_members_whose_first_announce_was_lately() -> None:
    # The newcomer hears those repeated. A member that joined before our own repeat may have
    # joined by its repeat, which the newcomer missed: that one is sent.
    parts = make_parts(B, *CROWD, sync_pushers=100)
    sync = parts.state_sync()
    d, e = Addr.from_ip("fd00::2:1", 7000), Addr.from_ip("fd00::2:2", 7000)
    everyone = {parts.local.addr, B, *CROWD}

    def welcome(now: float, newcomer: Addr, *, repeat_pending: bool = False) -> set[Addr]:
        parts.add(alive(newcomer))
        fx = Effects()
        sync.welcome(now, newcomer, fx, repeat_pending=repeat_pending)
        for due in welcomes(fx):
            sync.welcome_due(now, due, fx, repeat_pending=repeat_pending)
        return {u.addr for m in parts_of(fx) for u in m.members}

    assert welcome(0.3, C, repeat_pending=True) == set()  # our repeat is to come
    assert welcome(0.6, d) == everyone | {C}
    assert welcome(2.0, e) == everyone | {C, d}  # d's announce is long past


def test_a_welcome_push_is_thinned_to_the_mesh_as_it_is_when_the_wait_ends() -> None:
    # A storm in a mesh: when C's announce came we knew 4 members (3 before C: all push); by
    # the time the wait ended we knew 301, so only about 3 / 300 of the decisions stand.
    peers = [Addr.from_ip(f"fd00::1:{n:x}", 7000) for n in range(300)]
    parts = make_parts(B, *peers[:1], sync_pushers=3)
    sync = parts.state_sync()
    sync.start(0.0)
    parts.add(alive(C))
    fx = Effects()
    sync.welcome(1.0, C, fx, repeat_pending=False)
    [due] = welcomes(fx)
    assert due.share == 1.0
    parts.add(*(alive(p) for p in peers[1:]))
    pushed = 0
    for _ in range(2000):
        fx = Effects()
        sync.welcome_due(1.1, due, fx, repeat_pending=False)
        pushed += bool(fx.sends)
    assert 5 <= pushed <= 40  # 2000 x 3 / 301 = 20 expected
    parts.members.remove(C)
    fx = Effects()
    for _ in range(200):
        sync.welcome_due(1.1, due, fx, repeat_pending=False)
    assert fx.sends == []  # the newcomer is gone: nobody to push to


def test_a_newcomer_not_caught_up_exchanges_at_once_with_a_view_as_large_as_its_own() -> None:
    parts = make_parts(B)
    sync = parts.state_sync()
    sync.start(1.0)
    ours = (parts.members.fingerprint(), parts.members.counted)
    # Before our repeat, a state equal to ours may come from a member that started just
    # before us and lacks what we lack: it does not end the catch-up.
    caught_up = Sync(exchange=1, index=0, count=1, reply=False, fingerprint=ours[0], members=())
    sync.received(1.2, caught_up)
    fx = Effects()
    parts.view.changed(1.0, Effects())  # a storm: the view moves all the time
    # Until the members that started just before us have repeated their announces, a view
    # that differs proves nothing.
    sync.repair(1.1, B, (1, ours[1] + 1), fx, force=False)
    assert fx.sends == []
    begin = 1.0 + parts.config.announce_repeat
    sync.repair(begin, B, (1, ours[1] - 1), fx, force=False)  # fewer there: it is behind
    assert fx.sends == []
    sync.repair(begin, B, (1, ours[1]), fx, force=False)  # as many, not the same: exchange
    assert len(parts_of(fx)) == 1 and parts_of(fx)[0].reply
    interval = parts.config.probe_interval
    sync.repair(begin + interval / 2, B, (1, ours[1] + 1), fx, force=False)  # too soon again
    assert len(parts_of(fx)) == 1
    sync.repair(begin + interval, B, (1, ours[1] + 1), fx, force=False)
    assert len(parts_of(fx)) == 2
    # A state whose fingerprint is ours once merged: caught up, the usual rules apply.
    # Caught up with that sender, which may lack what we lack: only a view with more members
    # than ours is worth an exchange now.
    sync.received(begin + interval, caught_up)
    sync.repair(begin + 4 * interval, B, (1, ours[1] - 1), fx, force=False)  # its turn
    sync.repair(begin + 4 * interval, B, (1, ours[1]), fx, force=False)
    assert len(parts_of(fx)) == 2
    sync.repair(begin + 4 * interval, B, (1, ours[1] + 1), fx, force=False)
    assert len(parts_of(fx)) == 3


def test_catching_up_eagerly_ends_some_probe_periods_after_the_start() -> None:
    parts = make_parts(B)
    sync = parts.state_sync()
    sync.start(0.0)
    fx = Effects()
    sync.repair(10.0, B, (1, parts.members.counted - 1), fx, force=False)  # its turn
    assert fx.sends == []


def test_the_push_pull_tick_always_sets_the_next_one() -> None:
    parts = make_parts(B)
    sync = parts.state_sync()
    fx = Effects()
    sync.periodic(1.0, fx)
    [timer] = fx.timers
    interval = parts.config.push_pull_interval
    assert timer.timer == PushPullTick()
    assert 1.0 + interval * 0.5 <= timer.at <= 1.0 + interval * 1.5
