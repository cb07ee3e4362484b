"""The rules of the view on their own: incarnations, refutation, suspicions and burials."""

from __future__ import annotations

from parts import A, B, C, D, Parts, alive, make_parts, sent, update

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.events import PeerFailed, PeerJoined, PeerSuspected, PeerUpdated
from kaboodle.protocol.merge import LAST_CALLS
from kaboodle.protocol.messages import Gossip, MemberState
from kaboodle.protocol.timers import SuspicionTimeout

SUSPECT, DEAD = MemberState.SUSPECT, MemberState.DEAD


class Rig:
    """A Merger over hand-wired parts, recording the last calls it asks for."""

    def __init__(self, parts: Parts) -> None:
        self.parts = parts
        self.last_calls: list[Addr] = []
        self.merge = parts.merger(lambda now, addr, news, fx: self.last_calls.append(addr))

    def suspect(self, addr: Addr, now: float = 0.0, origin: Addr = B) -> Effects:
        fx = Effects()
        self.merge.update(now, update(addr, SUSPECT, origin=origin), fx, spread=True)
        return fx

    def run_out(self, fx: Effects) -> list[PeerFailed]:
        """Hand back every suspicion timer in ``fx``, and those they set, each when due;
        the PeerFailed events they gave."""
        pending = [(t.at, t.timer) for t in fx.timers]
        failed = []
        while pending:
            at, timer = pending.pop(0)
            out = Effects()
            self.merge.suspicion_expired(at, timer, out)  # type: ignore[arg-type]
            pending += [(t.at, t.timer) for t in out.timers]
            failed += [e for e in out.events if isinstance(e, PeerFailed)]
        return failed


def test_a_newcomer_joins_the_view_the_probe_order_and_the_gossip_queue() -> None:
    rig = Rig(make_parts(B))
    fx = Effects()
    assert rig.merge.update(0.0, alive(C, identity=b"c"), fx, spread=True)
    assert fx.events == [PeerJoined(addr=C, identity=b"c", incarnation=1)]
    assert rig.parts.members.counts(C)
    assert len(rig.parts.outbox) == 1
    seen = {rig.parts.order.next(rig.parts.local.is_peer) for _ in range(2)}
    assert seen == {B, C}


def test_news_that_is_not_spread_is_not_queued() -> None:
    rig = Rig(make_parts(B))
    rig.merge.update(0.0, alive(C), Effects(), spread=False)
    assert len(rig.parts.outbox) == 0


def test_a_higher_incarnation_with_a_new_identity_is_an_update() -> None:
    rig = Rig(make_parts(B))
    fx = Effects()
    rig.merge.update(0.0, alive(B, incarnation=2, identity=b"b2"), fx, spread=True)
    assert fx.events == [
        PeerUpdated(addr=B, identity=b"b2", incarnation=2, state=MemberState.ALIVE)
    ]
    fx = Effects()
    rig.merge.update(0.0, alive(B, incarnation=2, identity=b"old"), fx, spread=True)
    assert fx.events == [] and rig.parts.members.get(B).identity == b"b2"  # type: ignore[union-attr]


def test_a_suspicion_runs_until_its_timer_and_a_refutation_ends_it() -> None:
    rig = Rig(make_parts(B, C, D))
    fx = rig.suspect(C)
    assert PeerSuspected(addr=C, incarnation=1, identity=b"x") in fx.events
    [timer] = [t.timer for t in fx.timers]
    assert isinstance(timer, SuspicionTimeout) and timer.addr == C
    rig.merge.update(0.1, alive(C, incarnation=2), Effects(), spread=True)
    assert rig.parts.members.state_of(C) == MemberState.ALIVE
    assert C not in rig.merge.suspicions


def _gossip_rounds(rig: Rig) -> None:
    """Send gossip rounds until no queued update waits for one."""
    outbox = rig.parts.outbox
    while outbox.has_news():
        outbox.gossip(rig.parts.config.gossip_nodes, Effects())


def test_a_refutation_is_gossiped_on_by_those_it_concerns_and_rides_along_elsewhere() -> None:
    # Most of a mesh never heard the suspicion: to them the refutation is a new incarnation
    # that changes nothing, and it gets no gossip round of its own.
    rig = Rig(make_parts(B, C, D))
    outbox = rig.parts.outbox
    rig.merge.update(0.0, alive(C, incarnation=2), Effects(), spread=True)
    assert len(outbox) == 1 and not outbox.has_news()
    # A holder of the suspicion spreads the refutation as news.
    rig.suspect(D)
    _gossip_rounds(rig)
    assert not outbox.has_news()
    rig.merge.update(0.1, alive(D, incarnation=2), Effects(), spread=True)
    assert outbox.has_news()
    # So does a member that holds second-hand news that it left.
    _gossip_rounds(rig)
    rig.merge.update(0.2, update(B, MemberState.LEFT, origin=C), Effects(), spread=True, src=C)
    _gossip_rounds(rig)
    assert B in rig.merge.departures and not outbox.has_news()
    rig.merge.update(0.3, alive(B, incarnation=2), Effects(), spread=True)
    assert outbox.has_news()
    # And news a view notices (a new identity) is news everywhere.
    _gossip_rounds(rig)
    rig.merge.update(0.4, alive(C, incarnation=3, identity=b"c3"), Effects(), spread=True)
    assert outbox.has_news()


def test_a_refutation_gets_its_own_gossip_round_while_the_mesh_churns() -> None:
    rig = Rig(make_parts(B, C, D))
    outbox = rig.parts.outbox
    rig.suspect(D, now=10.0)
    _gossip_rounds(rig)
    # We heard of another suspicion lately: refutations race their timeouts.
    rig.merge.update(10.5, alive(C, incarnation=2), Effects(), spread=True)
    assert outbox.has_news()
    _gossip_rounds(rig)
    _, longest = rig.parts.config.suspicion_bounds(rig.parts.members.counted)
    rig.merge.update(10.0 + longest, alive(C, incarnation=3), Effects(), spread=True)
    assert not outbox.has_news()


def test_an_expiring_suspicion_makes_its_last_calls_then_buries_the_suspect() -> None:
    rig = Rig(make_parts(B, C))
    failed = rig.run_out(rig.suspect(C))
    assert rig.last_calls == [C] * LAST_CALLS
    assert failed == [PeerFailed(addr=C, incarnation=1, identity=b"x")]
    assert not rig.parts.members.counts(C)


def test_a_suspicion_timer_that_comes_early_sets_another() -> None:
    # Set while our health was poor (a longer lead before the last calls), it comes due
    # before the calls once our health is better: the suspicion must keep a timer.
    rig = Rig(make_parts(B, C, suspicion_mult=10.0))  # a deadline longer than the leads
    rig.parts.awareness.apply(4)
    fx = rig.suspect(C)
    rig.parts.awareness.apply(-4)
    failed = rig.run_out(fx)
    assert rig.last_calls == [C] * LAST_CALLS
    assert failed == [PeerFailed(addr=C, incarnation=1, identity=b"x")]


def test_a_suspect_that_answers_its_last_call_is_reprieved() -> None:
    rig = Rig(make_parts(B, C))
    rig.suspect(C, now=0.0)
    start = rig.merge.suspicions[C].start
    rig.merge.reprieve(1.0, C, Effects())
    assert rig.merge.suspicions[C].start == 1.0 != start
    assert rig.parts.stats["reprieves"] == 1


def test_a_suspicion_of_ourselves_is_refuted_with_a_higher_incarnation() -> None:
    rig = Rig(make_parts(B))
    rig.merge.update(0.0, update(A, SUSPECT, incarnation=10, origin=B), Effects(), spread=True)
    assert rig.parts.local.record.incarnation == 11
    assert rig.parts.stats["refuted"] == 1
    assert rig.parts.awareness.score == 1
    fx = Effects()
    rig.parts.outbox.gossip(1, fx)
    [(_, gossip)] = sent(fx)
    assert rig.parts.local.record in gossip.updates  # type: ignore[union-attr]


def test_an_outdated_suspicion_of_ourselves_is_flagged_for_a_direct_answer() -> None:
    rig = Rig(make_parts(B))
    rig.merge.update(0.0, update(A, SUSPECT, incarnation=3, origin=B), Effects(), spread=True)
    assert rig.merge.outdated_about_us
    assert rig.parts.local.record.incarnation == 10


def test_news_of_a_death_we_never_suspected_is_taken_as_a_strong_suspicion() -> None:
    rig = Rig(make_parts(B, C, D))
    fx = Effects()
    rig.merge.update(0.0, update(C, DEAD, origin=B), fx, spread=True)
    assert rig.parts.members.state_of(C) == SUSPECT
    suspicion = rig.merge.suspicions[C]
    assert suspicion.expected == 0  # the shortest timeout


def test_accusations_from_a_member_we_do_not_count_as_alive_are_ignored() -> None:
    rig = Rig(make_parts(B, C))
    rig.parts.add(update(D, DEAD))
    rig.suspect(C, origin=D)
    assert rig.parts.members.state_of(C) == MemberState.ALIVE
    assert rig.parts.stats["ignored:accuser-dead"] == 1


def test_an_accused_member_is_suspected_and_told_at_once() -> None:
    rig = Rig(make_parts(B, C))
    fx = Effects()
    rig.merge.accuse(0.0, C, fx)
    assert rig.parts.members.state_of(C) == SUSPECT
    told = [m for to, m in sent(fx) if to == C]
    assert told and isinstance(told[0], Gossip)
    assert update(C, SUSPECT, origin=A) in told[0].updates


def test_nobody_is_accused_while_we_were_just_frozen_or_are_leaving() -> None:
    rig = Rig(make_parts(B, C))
    rig.parts.local.notice(0.0)
    rig.parts.local.notice(10.0)  # a freeze
    rig.merge.accuse(10.0, C, Effects())
    assert rig.parts.members.state_of(C) == MemberState.ALIVE
    rig.parts.local.change(20.0, state=MemberState.LEFT)
    rig.merge.accuse(20.0, C, Effects())
    assert rig.parts.members.state_of(C) == MemberState.ALIVE


def test_updates_over_the_identity_limit_are_dropped() -> None:
    rig = Rig(make_parts(B))
    rig.merge.update(0.0, alive(C, identity=b"x" * 1000), Effects(), spread=True)
    assert not rig.parts.members.counts(C)
    assert rig.parts.stats["dropped:update-too-large"] == 1


def test_a_full_table_takes_no_newcomer() -> None:
    rig = Rig(make_parts(B, max_members=2))
    rig.merge.update(0.0, alive(C), Effects(), spread=True)
    assert not rig.parts.members.counts(C)
    assert rig.parts.stats["dropped:table-full"] == 1


def test_news_of_unknown_deaths_stops_at_the_tombstone_cap() -> None:
    rig = Rig(make_parts(B, max_tombstones=2))
    for n in range(4):
        dead = update(Addr.from_ip(f"fd00::9:{n}", 7000), DEAD, origin=B)
        rig.merge.update(0.0, dead, Effects(), spread=True)
    assert len(rig.parts.members.tombstones) == 2
    assert rig.parts.stats["dropped:tombstone-cap"] == 2


def test_burying_a_known_member_at_the_cap_forgets_the_oldest_tombstone() -> None:
    rig = Rig(make_parts(B, C, max_tombstones=1))
    old = Addr.from_ip("fd00::9:1", 7000)
    rig.merge.update(0.0, update(old, DEAD, origin=B), Effects(), spread=True)
    rig.merge.update(1.0, update(C, MemberState.LEFT), Effects(), spread=True, src=C)
    assert list(rig.parts.members.tombstones) == [C]
    assert rig.parts.members.get(old) is None
    assert rig.parts.stats["dropped:tombstone-cap"] == 1


def test_replayed_news_of_an_earlier_incarnation_changes_nothing() -> None:
    rig = Rig(make_parts(B, C, D))
    captured = [update(C, state, incarnation=1, origin=B) for state in (SUSPECT, DEAD)]
    captured.append(update(C, MemberState.LEFT, incarnation=1))
    rig.merge.update(0.0, alive(C, incarnation=2), Effects(), spread=True)  # C moved on
    for replay in captured * 3:
        fx = Effects()
        rig.merge.update(1.0, replay, fx, spread=True)
        assert fx.events == [] and fx.timers == []
    assert rig.parts.members.get(C) == alive(C, incarnation=2)


def test_a_replayed_suspicion_of_ourselves_is_refuted_not_obeyed() -> None:
    rig = Rig(make_parts(B))
    me = rig.parts.local.record
    for _ in range(3):
        replay = update(A, DEAD, incarnation=me.incarnation, origin=B)
        rig.merge.update(1.0, replay, Effects(), spread=True)
    # The first copy made us refute; the rest are older than we are now.
    assert rig.parts.local.record.state == MemberState.ALIVE
    assert rig.parts.local.record.incarnation == me.incarnation + 1
    assert rig.parts.stats["refuted"] == 1
