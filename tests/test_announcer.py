"""The discovery group on its own: announce backoff, announces heard, probes answered."""

from __future__ import annotations

from parts import STRANGER, A, B, C, Parts, alive, make_parts, sent, update

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.announcer import Announcer
from kaboodle.protocol.discovery import PROBE_SIZE, probe_datagram
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.messages import Announce, Gossip, MemberState, Probe, ProbeReply
from kaboodle.protocol.timers import AnnounceTick


def intervals(parts: Parts, group: Announcer, rounds: int) -> list[float]:
    """The gaps between announces over ``rounds`` timer rounds."""
    fx = Effects()
    group.start(0.0, fx)
    gaps, now = [], 0.0
    for _ in range(rounds):
        [timer] = fx.timers
        gaps.append(timer.at - now)
        now = timer.at
        fx = Effects()
        group.tick(now, timer.timer, fx)  # type: ignore[arg-type]
    return gaps


def test_a_node_alone_announces_with_doubling_intervals_up_to_the_maximum() -> None:
    parts = make_parts()
    gaps = intervals(parts, parts.announcer(), 7)
    assert gaps == [0.5, 0.5, 2.0, 4.0, 8.0, 8.0, 8.0]  # the second 0.5: the start's repeat


def test_in_a_mesh_announces_are_rare_and_stretch_with_its_size() -> None:
    small = make_parts(B)
    large = make_parts(*(Addr.from_ip(f"fd00::1:{n:x}", 7000) for n in range(79)))
    repeat, small_gap = intervals(small, small.announcer(), 2)
    large_gap = intervals(large, large.announcer(), 2)[1]
    assert repeat == small.config.announce_repeat  # the start's announce is always repeated
    idle = small.config.announce_idle
    assert idle * 0.5 <= small_gap <= idle * 1.5
    assert idle * 10 * 0.5 <= large_gap <= idle * 10 * 1.5


def test_an_announce_carries_our_record_to_the_group() -> None:
    parts = make_parts()
    fx = Effects()
    parts.announcer().start(0.0, fx)
    assert sent(fx) == [(None, Announce(member=parts.local.record))]


def test_the_repeat_of_a_start_announce_is_pending_until_it_is_sent() -> None:
    # Whoever starts listening before the repeat hears it: the welcome push is spared then.
    parts = make_parts(B)
    group = parts.announcer()
    assert not group.repeat_pending(0.0)
    fx = Effects()
    group.start(1.0, fx)
    [timer] = fx.timers
    assert timer.at == 1.0 + parts.config.announce_repeat
    assert group.repeat_pending(1.0) and group.repeat_pending(timer.at - 0.01)
    fx = Effects()
    group.tick(timer.at - 1e-9, timer.timer, fx)  # a driver's clock a hair early: still sent
    assert sent(fx) == [(None, Announce(member=parts.local.record))]
    assert not group.repeat_pending(timer.at)


def test_stale_announce_timers_and_a_leaving_node_announce_nothing() -> None:
    parts = make_parts()
    group = parts.announcer()
    group.start(0.0, Effects())
    group.start(0.1, Effects())  # the network came back: start again
    fx = Effects()
    group.tick(0.5, AnnounceTick(token=1), fx)
    assert fx == Effects()
    parts.local.change(1.0, state=MemberState.LEFT)
    group.tick(1.0, AnnounceTick(token=2), fx)
    assert fx == Effects()


def test_an_announce_must_come_from_the_address_it_names() -> None:
    parts = make_parts()
    group = parts.announcer()
    assert group.heard(0.0, B, Announce(member=alive(C)), Effects()) is None
    dead = update(B, MemberState.DEAD)
    assert group.heard(0.0, B, Announce(member=dead), Effects()) is None
    assert parts.stats["dropped:announce-source"] == 2
    assert group.heard(0.0, B, Announce(member=alive(B)), Effects()) == alive(B)


def test_a_buried_member_that_announces_its_old_life_is_told_it_was_buried() -> None:
    parts = make_parts()
    parts.add(update(B, MemberState.DEAD, incarnation=3))
    fx = Effects()
    assert parts.announcer().heard(0.0, B, Announce(member=alive(B, incarnation=3)), fx) is None
    [(to, told)] = sent(fx)
    assert to == B and isinstance(told, Gossip)
    assert told.updates[0] == update(B, MemberState.DEAD, incarnation=3, origin=A)


def test_a_probe_is_answered_to_its_source_with_our_view() -> None:
    parts = make_parts()  # alone: the share of answers is 1, so we always answer
    fx = Effects()
    parts.announcer().answer_probe(STRANGER, Probe(nonce=42, padding=bytes(40)), fx)
    reply = ProbeReply(nonce=42, identity=b"a", fingerprint=parts.members.fingerprint(), members=1)
    assert sent(fx) == [(STRANGER, reply)]


def test_a_probe_smaller_than_its_answer_gets_none_so_nobody_amplifies_a_forged_one() -> None:
    parts = make_parts()
    fx = Effects()
    parts.announcer().answer_probe(STRANGER, Probe(nonce=42), fx)
    assert fx.sends == []
    assert parts.stats["dropped:probe-size"] == 1


def test_a_prober_pads_its_probe_beyond_any_answer() -> None:
    parts = make_parts()
    parts.local.rename(1.0, b"i" * 256, ())  # the longest identity a member may have
    fx = Effects()
    probe = codec.decode(probe_datagram(7))
    assert len(probe_datagram(7)) == PROBE_SIZE
    parts.announcer().answer_probe(STRANGER, probe, fx)  # type: ignore[arg-type]
    [(_, reply)] = sent(fx)
    assert len(fx.sends[0].data) <= PROBE_SIZE and isinstance(reply, ProbeReply)


def test_a_leaving_node_answers_no_probe() -> None:
    parts = make_parts()
    parts.local.change(0.0, state=MemberState.LEFT)
    fx = Effects()
    parts.announcer().answer_probe(STRANGER, Probe(nonce=1), fx)
    assert fx.sends == []


def test_announces_from_unknown_senders_are_rate_limited_but_members_are_not() -> None:
    parts = make_parts(B, announce_burst=2, announce_rate=1.0)
    group = parts.announcer()
    newcomers = [Addr.from_ip(f"fd00::8:{n}", 7000) for n in range(4)]
    admitted = [group.heard(0.0, a, Announce(member=alive(a)), Effects()) for a in newcomers[:3]]
    assert [u is not None for u in admitted] == [True, True, False]
    assert parts.stats["dropped:announce-rate"] == 1
    assert group.heard(0.0, B, Announce(member=alive(B, 2)), Effects()) is not None  # a member
    assert group.heard(1.0, newcomers[3], Announce(member=alive(newcomers[3])), Effects())
