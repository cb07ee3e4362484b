"""The failure detector on its own: probes, ping-reqs, relays, nacks and what they settle."""

from __future__ import annotations

from parts import STRANGER, A, B, C, D, Parts, make_parts, sent, update

from kaboodle.protocol.detector import FailureDetector, Purpose
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.events import RoundTrip
from kaboodle.protocol.messages import Ack, MemberState, Nack, Ping, PingReq
from kaboodle.protocol.timers import (
    PingResend,
    ProbeDeadline,
    ProbeTick,
    ProbeTimeout,
    RelayTimeout,
    ReprobeTick,
)


def ack(seq: int) -> Ack:
    return Ack(seq=seq, fingerprint=0, members=2)


def probe(parts: Parts, fd: FailureDetector, now: float = 0.0) -> tuple[int, Effects]:
    """Run a probe tick; returns the probe's sequence number and its effects."""
    fx = Effects()
    fd.tick(now, ProbeTick(token=0), fx)
    [(_, ping)] = sent(fx)
    assert isinstance(ping, Ping)
    return ping.seq, fx


def test_a_tick_probes_a_peer_and_sets_its_first_resend_and_the_next_tick() -> None:
    parts = make_parts(B)
    fd = parts.detector()
    seq, fx = probe(parts, fd, now=1.0)
    assert [to for to, _ in sent(fx)] == [B]
    cfg = parts.config
    spacing = cfg.probe_timeout / (cfg.ping_resends + 1)
    assert {(t.at, t.timer) for t in fx.timers} == {
        (1.0 + cfg.probe_interval, ProbeTick(token=1)),
        (1.0 + spacing, PingResend(seq=seq, attempt=2)),
    }


def test_an_unanswered_probe_is_resent_then_asks_for_ping_reqs_pings_once_more_then_ends() -> None:
    parts = make_parts(B, C, D, indirect_checks=2)
    fd = parts.detector()
    seq, fx = probe(parts, fd, now=1.0)
    [(target, _)] = sent(fx)
    cfg = parts.config
    spacing = cfg.probe_timeout / (cfg.ping_resends + 1)
    [timer] = [t for t in fx.timers if not isinstance(t.timer, ProbeTick)]
    seqs = {seq}
    for attempt in range(2, cfg.ping_resends + 2):
        assert timer.timer == PingResend(seq=seq, attempt=attempt)
        assert timer.at == 1.0 + (attempt - 1) * spacing
        fx = Effects()
        fd.resend(timer.at, seq, attempt, fx)
        [(to, again)] = sent(fx)
        assert to == target and isinstance(again, Ping) and again.seq not in seqs
        seqs.add(again.seq)
        [timer] = fx.timers
    assert (timer.at, timer.timer) == (1.0 + cfg.probe_timeout, ProbeTimeout(seq=seq))
    assert parts.stats["probes-resent"] == cfg.ping_resends
    fx = Effects()
    fd.direct_timeout(seq, fx)
    assert [type(msg) for _, msg in sent(fx)] == [PingReq, PingReq]
    # Halfway to the deadline, one more direct ping: past a burst that ate the resends.
    [timer] = fx.timers
    late = cfg.ping_resends + 2
    halfway = 1.0 + (cfg.probe_timeout + cfg.probe_interval) / 2
    assert (timer.at, timer.timer) == (halfway, PingResend(seq=seq, attempt=late))
    fx = Effects()
    fd.resend(timer.at, seq, late, fx)
    [(to, again)] = sent(fx)
    assert to == target and isinstance(again, Ping) and again.seq not in seqs
    [timer] = fx.timers
    assert (timer.at, timer.timer) == (1.0 + cfg.probe_interval, ProbeDeadline(seq=seq))
    assert fd.deadline(seq) == target


def test_without_the_late_ping_the_ping_reqs_wait_for_the_deadline() -> None:
    parts = make_parts(B, C, D, indirect_checks=2, late_ping=False)
    fd = parts.detector()
    seq, _ = probe(parts, fd, now=1.0)
    fx = Effects()
    fd.direct_timeout(seq, fx)
    [timer] = fx.timers
    assert (timer.at, timer.timer) == (1.0 + parts.config.probe_interval, ProbeDeadline(seq=seq))


def test_an_ack_of_the_late_ping_settles_the_probe() -> None:
    parts = make_parts(B, C, D, indirect_checks=2)
    fd = parts.detector()
    seq, _ = probe(parts, fd, now=1.0)
    fd.direct_timeout(seq, Effects())
    fx = Effects()
    fd.resend(1.4, seq, parts.config.ping_resends + 2, fx)
    [(_, late)] = sent(fx)
    assert isinstance(late, Ping)
    record = fd.acked(1.41, B, ack(late.seq), Effects())
    assert record is not None and record.target == B
    assert fd.deadline(seq) is None and fd.pending == (0, 0)
    assert parts.stats["probes-acked"] == 1


def test_an_ack_of_a_resent_ping_settles_the_probe_with_that_pings_round_trip() -> None:
    parts = make_parts(B)
    fd = parts.detector()
    seq, _ = probe(parts, fd)
    fx = Effects()
    fd.resend(0.1, seq, 2, fx)
    [(_, again)] = sent(fx)
    assert isinstance(again, Ping)
    fx = Effects()
    record = fd.acked(0.11, B, ack(again.seq), fx)
    assert record is not None and record.target == B
    [event] = fx.events  # its own seq tells which ping it answers
    assert isinstance(event, RoundTrip) and abs(event.seconds - 0.01) < 1e-9
    assert fd.acked(0.2, B, ack(seq), Effects()) is None  # the first ping's, late: settled
    fd.direct_timeout(seq, Effects())
    assert fd.pending == (0, 0)


def test_an_answered_probe_cancels_its_next_stage_and_leaves_nothing_pending() -> None:
    parts = make_parts(B)
    fd = parts.detector()
    seq, fx = probe(parts, fd)
    [stage] = [t.timer for t in fx.timers if isinstance(t.timer, PingResend)]
    fx = Effects()
    fd.acked(0.01, B, ack(seq), fx)
    assert fx.cancels == [stage]
    fx = Effects()  # a driver that kept the timer anyway: it finds nothing to do
    fd.resend(0.1, seq, 2, fx)
    assert fx == Effects()
    assert fd.pending == (0, 0)


def test_without_resends_the_timeout_follows_the_ping() -> None:
    parts = make_parts(B, ping_resends=0)
    fd = parts.detector()
    seq, fx = probe(parts, fd, now=1.0)
    cfg = parts.config
    assert (1.0 + cfg.probe_timeout, ProbeTimeout(seq=seq)) in {(t.at, t.timer) for t in fx.timers}


def test_a_stale_tick_or_a_leaving_node_probes_nobody() -> None:
    parts = make_parts(B)
    fd = parts.detector()
    probe(parts, fd)
    fx = Effects()
    fd.tick(0.5, ProbeTick(token=0), fx)  # replaced by token 1
    assert fx == Effects()
    parts.local.change(0.6, state=MemberState.LEFT)
    fd.tick(0.6, ProbeTick(token=1), fx)
    assert fx == Effects()


def test_a_member_heard_from_within_the_period_is_probed_until_we_hold_its_coordinate() -> None:
    parts = make_parts(B)
    fd = parts.detector()
    fd.heard(0.0, B)
    probe(parts, fd, now=0.1)  # proximity on, and no coordinate of B yet: only acks carry it
    assert parts.stats["probes-spared"] == 0


def test_a_member_heard_from_within_the_period_is_not_probed_but_its_turn_passes() -> None:
    parts = make_parts(B, C, proximity=False)
    fd = parts.detector()
    interval = parts.config.probe_interval
    _, fx = probe(parts, fd, now=0.0)
    [(target, _)] = sent(fx)
    other = C if target == B else B
    fd.heard(0.9 * interval, other)  # its datagram came just before its turn
    fx = Effects()
    fd.tick(interval, ProbeTick(token=1), fx)
    assert sent(fx) == []  # spared: no ping, no ack
    assert [t.timer for t in fx.timers] == [ProbeTick(token=2)]  # the schedule goes on
    assert parts.stats["probes-spared"] == 1 and parts.stats["probes"] == 1
    # A period later neither was heard from lately: whoever's turn it is gets probed.
    fx = Effects()
    fd.tick(2 * interval, ProbeTick(token=2), fx)
    assert [to for to, _ in sent(fx)] in ([B], [C])


def test_a_tick_handed_back_early_keeps_the_schedule_on_its_grid() -> None:
    parts = make_parts(B)
    fd = parts.detector()
    interval = parts.config.probe_interval
    fx = Effects()
    fd.schedule_tick(0.0, 2.0, fx)
    [first] = fx.timers
    assert (first.at, first.early) == (2.0, interval / 2)
    early = first.at - first.early  # a driver awake then may hand it back already
    fx = Effects()
    fd.tick(early, ProbeTick(token=0), fx)
    assert [to for to, _ in sent(fx)] == [B]
    [tick] = [t for t in fx.timers if isinstance(t.timer, ProbeTick)]
    assert tick.at == 2.0 + interval  # from when it was due: no more probes than on time
    # The gap to the next tick is longer than an interval, which is no freeze.
    assert parts.local.tick_period == tick.at - early
    parts.local.notice(early)
    parts.local.notice(tick.at)
    assert parts.stats["frozen"] == 0
    # A tick that comes late (a loaded loop) counts from when it came.
    fx = Effects()
    fd.tick(tick.at + 3.0, ProbeTick(token=1), fx)
    [late] = [t for t in fx.timers if isinstance(t.timer, ProbeTick)]
    assert late.at == tick.at + 3.0 + interval


def test_a_bad_health_score_stretches_the_probe_period() -> None:
    parts = make_parts(B)
    parts.awareness.apply(2)
    fd = parts.detector()
    _, fx = probe(parts, fd)
    ticks = [t.at for t in fx.timers if isinstance(t.timer, ProbeTick)]
    assert ticks == [3 * parts.config.probe_interval]


def test_an_answered_probe_is_settled_once_with_its_round_trip() -> None:
    parts = make_parts(B)
    parts.awareness.apply(1)
    fd = parts.detector()
    seq, _ = probe(parts, fd)
    fx = Effects()
    record = fd.acked(0.01, B, ack(seq), fx)
    assert record is not None
    assert (record.target, record.purpose) == (B, Purpose.PROBE)
    assert fx.events == [RoundTrip(addr=B, seconds=0.01)]
    assert parts.awareness.score == 0
    assert fd.acked(0.02, B, ack(seq), Effects()) is None
    assert parts.stats["dropped:unknown-seq"] == 1
    assert fd.deadline(seq) is None


def test_an_overdue_ack_asks_other_peers_to_ping_req_the_target() -> None:
    parts = make_parts(B, C, D, indirect_checks=2)
    fd = parts.detector()
    seq, fx = probe(parts, fd)
    [(target, _)] = sent(fx)
    fx = Effects()
    fd.direct_timeout(seq, fx)
    requests = sent(fx)
    assert len(requests) == 2
    assert all(isinstance(m, PingReq) and m.target == target for _, m in requests)
    assert target not in [to for to, _ in requests]


def test_an_unanswered_probe_names_its_target_and_missing_nacks_count_against_us() -> None:
    parts = make_parts(B, C, D, indirect_checks=2)
    fd = parts.detector()
    seq, fx = probe(parts, fd)
    [(target, _)] = sent(fx)
    fd.direct_timeout(seq, Effects())
    fd.nacked(Nack(seq=seq))  # one helper answered, the other did not
    assert fd.deadline(seq) == target
    assert parts.awareness.score == 1


def test_a_contact_that_goes_unanswered_accuses_nobody() -> None:
    parts = make_parts()
    fd = parts.detector()
    fx = Effects()
    fd.ping(0.0, STRANGER, fx, Purpose.CONTACT)
    [(_, ping)] = sent(fx)
    assert not any(isinstance(t.timer, ProbeTimeout) for t in fx.timers)
    assert fd.deadline(ping.seq) is None  # type: ignore[union-attr]
    assert parts.awareness.score == 0


def test_a_ping_req_for_a_peer_is_relayed_and_its_ack_forwarded() -> None:
    parts = make_parts(B, C)
    fd = parts.detector()
    fx = Effects()
    fd.relay(0.0, B, PingReq(seq=77, target=C), fx)
    [(to, ping)] = sent(fx)
    assert to == C and isinstance(ping, Ping)
    assert [t.timer for t in fx.timers] == [PingResend(seq=ping.seq, attempt=2)]
    fx = Effects()
    assert fd.acked(0.01, C, ack(ping.seq), fx) is None
    assert fx.cancels == [PingResend(seq=ping.seq, attempt=2)]
    [(to, forwarded)] = sent(fx)
    assert to == B and isinstance(forwarded, Ack) and forwarded.seq == 77
    assert forwarded.updates[:1] == (parts.members.get(C),)  # we vouch for C


def test_a_ping_req_whose_target_never_answers_is_nacked() -> None:
    parts = make_parts(B, C)
    fd = parts.detector()
    fx = Effects()
    fd.relay(0.0, B, PingReq(seq=5, target=C), fx)
    [(_, ping)] = sent(fx)
    [timer] = fx.timers
    cfg = parts.config
    for attempt in range(2, cfg.ping_resends + 2):  # the helper resends as the prober does
        assert timer.timer == PingResend(seq=ping.seq, attempt=attempt)  # type: ignore[union-attr]
        fx = Effects()
        fd.resend(timer.at, ping.seq, attempt, fx)  # type: ignore[union-attr]
        assert sent(fx) == [(C, Ping(seq=ping.seq))]  # type: ignore[union-attr]
        [timer] = fx.timers
    assert (timer.at, timer.timer) == (cfg.probe_timeout, RelayTimeout(seq=ping.seq))  # type: ignore[union-attr]
    assert parts.stats["relays-resent"] == cfg.ping_resends
    fx = Effects()
    fd.relay_timeout(ping.seq, fx)  # type: ignore[union-attr]
    assert sent(fx) == [(B, Nack(seq=5))]


def test_a_ping_req_for_anyone_but_a_peer_is_nacked_never_relayed() -> None:
    parts = make_parts(B)
    parts.add(update(C, MemberState.DEAD))
    fd = parts.detector()
    for target in (STRANGER, C, A):
        fx = Effects()
        fd.relay(0.0, B, PingReq(seq=1, target=target), fx)
        assert sent(fx) == [(B, Nack(seq=1))]
    assert parts.stats["dropped:ping-req-target"] == 3


def test_a_dead_member_is_pinged_now_and_then_in_case_it_is_back() -> None:
    parts = make_parts(B)
    parts.add(update(C, MemberState.DEAD), update(D, MemberState.LEFT))
    fd = parts.detector()
    fx = Effects()
    fd.reprobe(0.0, fx)
    assert [to for to, _ in sent(fx)] == [C]
    assert any(isinstance(t.timer, ReprobeTick) for t in fx.timers)


def test_strangers_are_contacted_at_most_once_per_probe_interval() -> None:
    parts = make_parts(B)
    fd = parts.detector()
    fx = Effects()
    for now in (0.0, 0.1, parts.config.probe_interval):
        fd.contact_stranger(now, STRANGER, fx)
    assert [to for to, _ in sent(fx)] == [STRANGER, STRANGER]
    assert parts.stats["stranger-contacts"] == 2


def test_ping_reqs_beyond_the_relay_cap_are_dropped_unanswered() -> None:
    parts = make_parts(B, C, max_relays=2)
    fd = parts.detector()
    fx = Effects()
    for seq in range(3):
        fd.relay(0.0, B, PingReq(seq=seq, target=C), fx)
    assert len(sent(fx)) == 2  # two pings to C, nothing for the third
    assert fd.pending == (0, 2)
    assert parts.stats["dropped:relay-cap"] == 1


def test_a_ping_req_from_someone_we_do_not_know_is_nacked_never_relayed() -> None:
    parts = make_parts(B, C)
    fd = parts.detector()
    fx = Effects()
    fd.relay(0.0, STRANGER, PingReq(seq=4, target=C), fx)
    [(to, nack)] = sent(fx)
    assert to == STRANGER and isinstance(nack, Nack) and nack.seq == 4
    assert parts.stats["dropped:ping-req-source"] == 1
    assert fd.pending == (0, 0)
