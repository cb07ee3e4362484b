"""The failure detector: probes, ping-reqs, relays and nacks (SWIM with Lifeguard's nack).

Each protocol period the node probes one member: a direct ping, sent again a few times within
the probe timeout while unanswered, then ping-reqs through a few others, who answer with the
target's ack or with a nack (and resend their pings the same way). Under loss most unanswered
pings were lost, not ignored: every suspicion a resend avoids saves the mesh its gossip and the
target's refutation, which is most of the traffic of a lossy network.

A probe that ends its period unanswered names its target to the caller, who raises the
suspicion (the suspicion itself runs in :mod:`.merge`); an answered probe is handed back the
same way, so the caller can repair its view or reprieve a suspect. The round trip of every
direct ack is a sample for this node's network coordinate (:mod:`.proximity`), so proximity
costs no datagram.
"""

from __future__ import annotations

import random
from collections import Counter
from enum import Enum

from .addr import Addr
from .awareness import Awareness
from .config import Config
from .effects import Effects, SetTimer
from .events import RoundTrip
from .local import LocalMember
from .members import MemberTable
from .messages import Ack, MemberState, Nack, Ping, PingReq, Update
from .outbox import Outbox
from .probe_order import ProbeOrder
from .proximity import Proximity
from .timers import (
    PingResend,
    ProbeDeadline,
    ProbeTick,
    ProbeTimeout,
    RelayTimeout,
    ReprobeTick,
    Timer,
)

__all__ = ["FailureDetector", "PingRecord", "Purpose"]

# How much of a probe interval sooner a driver may start a probe when it is awake anyway. An
# idle node's CPU is mostly its wake-ups, and at half an interval a third of the ticks of an
# 8-node mesh fall on a datagram's (the others' pings come about twice a second).
_TICK_EARLY = 0.5


class Purpose(Enum):
    """Why a ping was sent.

    Only a periodic probe's failure raises a suspicion and moves local health; a contact (a
    seed, a stranger, or a dead member that may be back) is followed by a full state exchange;
    a last call gives a suspect (or a member said to have left) one more chance to show its
    refutation.
    """

    PROBE = "probe"
    CONTACT = "contact"
    LAST_CALL = "last call"


class PingRecord:
    """A ping we sent: to whom, why and when, and what has come back for it."""

    __slots__ = ("expected_nacks", "nacks", "pings", "purpose", "stage", "target")

    def __init__(self, target: Addr, purpose: Purpose, seq: int, sent_at: float) -> None:
        self.target = target
        self.purpose = purpose
        self.pings = [(seq, sent_at)]
        """(seq, when sent) of each ping to the target: a resend has a seq of its own, so that
        its ack still gives a true round trip."""
        self.stage: Timer | None = None
        """The timer of the next stage (resend, ping-reqs, deadline), cancelled by an ack."""
        self.expected_nacks = 0
        self.nacks = 0

    @property
    def seq(self) -> int:
        """The first ping's seq, which names the probe (its timers, ping-reqs and nacks)."""
        return self.pings[0][0]

    @property
    def sent_at(self) -> float:
        """When the first ping went."""
        return self.pings[0][1]


class Relay:
    """A ping we send for a member's ping-req: whose request, and to whom."""

    __slots__ = ("requester", "seq", "stage", "started", "target")

    def __init__(self, requester: Addr, seq: int, target: Addr, started: float) -> None:
        self.requester = requester
        self.seq = seq
        self.target = target
        self.started = started
        self.stage: Timer | None = None
        """The timer of the next stage (resend or nack), cancelled by an ack."""


class FailureDetector:
    """Probes in flight and ping-reqs relayed for others, for one node.

    Args:
        config: protocol settings (timeouts, indirect checks).
        local: this node (who counts as a peer).
        members: the member table (only members we count are probed or relayed to).
        order: the probe order (round-robin targets, random ping-req helpers).
        awareness: local health, which stretches the timeouts and is moved by the outcomes.
        outbox: where pings, ping-reqs, acks and nacks go out.
        stats: the node's counters.
        rng: the node's randomness: where sequence numbers start (so that a restarted node's
            pings are not taken for its old ones), and which dead member is pinged.
    """

    __slots__ = (
        "_awareness",
        "_config",
        "_heard",
        "_last_stranger_contact",
        "_local",
        "_members",
        "_order",
        "_outbox",
        "_pings",
        "_probe_token",
        "_relays",
        "_rng",
        "_seq",
        "_stats",
        "_tick_due",
        "proximity",
    )

    def __init__(
        self,
        *,
        config: Config,
        local: LocalMember,
        members: MemberTable,
        order: ProbeOrder,
        awareness: Awareness,
        outbox: Outbox,
        stats: Counter[str],
        rng: random.Random,
    ) -> None:
        self._config = config
        self._local = local
        self._members = members
        self._order = order
        self._awareness = awareness
        self._outbox = outbox
        self._stats = stats
        self._rng = rng
        self._seq = rng.getrandbits(32)
        self._probe_token = 0
        self._tick_due = 0.0  # when the pending probe tick is due, early or not
        self._last_stranger_contact = float("-inf")
        self._pings: dict[int, PingRecord] = {}  # by the seq of each of its pings
        self._heard: dict[Addr, float] = {}  # member -> when a datagram from it last came
        self._relays: dict[int, Relay] = {}  # by the seq of our ping to the target
        self.proximity = Proximity(rng, stats) if config.proximity else None
        """This node's network coordinate and its peers', or None when proximity is off."""

    def tick(self, now: float, timer: ProbeTick, fx: Effects) -> None:
        """The protocol period: set the next tick (stretched by local health) and probe the
        next member in round-robin order, if there is one."""
        if timer.token != self._probe_token or self._local.leaving:
            return
        # From when the tick was due, not from when it came: a tick handed back early stays
        # on its grid, so probes are no more frequent for it.
        interval = self._awareness.scale(self._config.probe_interval)
        self._probe_token += 1
        self.schedule_tick(now, max(now, self._tick_due) + interval, fx)
        target = self._order.next(self._local.is_peer)
        if target is None:
            return
        proximity = self.proximity
        if now - self._heard.get(target, float("-inf")) < self._config.probe_interval and (
            proximity is None or target in proximity.peers
        ):
            # It spoke to us within the period: alive, and able to reach us, which is all an
            # ack would show (once we hold its coordinate, which only acks carry). The order
            # moves on as if probed, so a member that fails is probed as soon as before, and
            # a quiet one is probed as ever.
            self._stats["probes-spared"] += 1
            return
        self._stats["probes"] += 1
        self.ping(now, target, fx, Purpose.PROBE)

    def schedule_tick(self, now: float, at: float, fx: Effects) -> None:
        """Set the next probe tick for ``at``; a driver awake anyway may hand it back up to
        half a probe interval sooner, which saves the node a wake-up of its own."""
        self._tick_due = at
        self._local.tick_period = at - now
        interval = self._awareness.scale(self._config.probe_interval)
        early = min(at - now, interval) * _TICK_EARLY
        fx.timers.append(SetTimer(at=at, timer=ProbeTick(token=self._probe_token), early=early))

    def reprobe(self, now: float, fx: Effects) -> None:
        """Now and then ping one dead member, in case it was only cut off by a partition; an
        answer is followed by a full state exchange."""
        at = now + self._config.reprobe_dead_interval * self._rng.uniform(0.5, 1.5)
        fx.timers.append(SetTimer(at=at, timer=ReprobeTick()))
        if self._local.leaving:
            return
        members = self._members
        dead = [a for a in members.tombstones if members.state_of(a) == MemberState.DEAD]
        if dead:
            self.ping(now, self._rng.choice(dead), fx, Purpose.CONTACT)

    def contact_stranger(self, now: float, src: Addr, fx: Effects) -> None:
        """A member we did not know talks to us: our view is missing something (a lost
        announce, or we just joined). Ping it back, at most once per probe interval; its ack
        starts a full exchange."""
        since = now - self._last_stranger_contact
        if since >= self._config.probe_interval and not self._local.leaving:
            self._last_stranger_contact = now
            self._stats["stranger-contacts"] += 1
            self.ping(now, src, fx, Purpose.CONTACT)

    def ping(
        self, now: float, target: Addr, fx: Effects, purpose: Purpose, first: Update | None = None
    ) -> None:
        """Ping ``target`` (``first`` in front of the piggybacked gossip); probes and last calls
        send it again and then fall back to ping-reqs while it goes unanswered."""
        seq = self._next_seq()
        record = self._pings[seq] = PingRecord(target, purpose, seq, now)
        self._outbox.send(target, Ping(seq=seq), fx, first)
        # Each stage sets the next only when it is needed, and an ack cancels the one set.
        if purpose is Purpose.CONTACT:
            _set_stage(record, self._deadline_stage(record), fx)
        else:
            _set_stage(record, self._next_stage(seq, now, 1, ProbeTimeout(seq=seq)), fx)

    def last_call(self, now: float, target: Addr, news: Update | None, fx: Effects) -> None:
        """Ping ``target`` once more before it is buried, ``news`` of it in front."""
        self.ping(now, target, fx, Purpose.LAST_CALL, first=news)

    def answer(self, src: Addr, ping: Ping, fx: Effects) -> None:
        """Ack ``ping`` from ``src``, with our coordinate for its round trip to test."""
        coordinate = self.proximity.coordinate if self.proximity is not None else None
        self._outbox.ack(src, ping.seq, fx, coordinate=coordinate)

    def heard(self, now: float, member: Addr) -> None:
        """A datagram from ``member`` came at ``now`` (members only: the table bounds this)."""
        self._heard[member] = now

    def forget_gone(self) -> None:
        """Drop what we keep of those who are no longer members: their coordinates, and when
        we last heard them (bounded by the table)."""
        counts = self._members.counts
        self._heard = {addr: at for addr, at in self._heard.items() if counts(addr)}
        if self.proximity is not None:
            self.proximity.retain(counts)

    def relay(self, now: float, src: Addr, msg: PingReq, fx: Effects) -> None:
        """Probe ``msg.target`` for ``src`` and answer it with the ack, or a nack in time."""
        # Only for members we know (alive or buried: a healing partition), and only to
        # members we count: a ping-req must not aim our traffic anywhere else.
        if src not in self._members:
            self._stats["dropped:ping-req-source"] += 1
            self._outbox.send(src, Nack(seq=msg.seq), fx)
            return
        if not self._local.is_peer(msg.target):
            self._stats["dropped:ping-req-target"] += 1
            self._outbox.send(src, Nack(seq=msg.seq), fx)
            return
        if len(self._relays) >= self._config.max_relays:
            self._stats["dropped:relay-cap"] += 1
            return
        seq = self._next_seq()
        relay = self._relays[seq] = Relay(src, msg.seq, msg.target, now)
        self._outbox.send(msg.target, Ping(seq=seq), fx)
        _set_stage(relay, self._next_stage(seq, now, 1, RelayTimeout(seq=seq)), fx)

    def acked(self, now: float, src: Addr, msg: Ack, fx: Effects) -> PingRecord | None:
        """An ack arrived: forward it if we relayed the ping, else settle our ping.

        Returns:
            The ping it settled (first answers only), for the caller to act on its purpose.
        """
        relay = self._relays.pop(msg.seq, None)
        if relay is not None:
            _cancel_stage(relay, fx)
            # Vouch for the target with its latest state: the requester may hold a suspicion
            # that the target has refuted, and this ack may be its only news of that.
            target = self._members.get(src)
            vouch = target if target and target.state == MemberState.ALIVE else None
            self._outbox.ack(relay.requester, relay.seq, fx, first=vouch)
            return None
        record = self._pings.get(msg.seq)
        if record is None:  # never ours, or answered already (by the ack of another resend)
            self._stats["dropped:unknown-seq"] += 1
            return None
        self._drop(record)
        _cancel_stage(record, fx)
        if record.purpose is Purpose.PROBE:
            self._awareness.apply(-1)
            # From the target itself, or relayed by a helper after the direct ping timed out.
            self._stats["probes-acked" if src == record.target else "probes-acked-indirect"] += 1
        if src == record.target:
            rtt = now - next(at for seq, at in record.pings if seq == msg.seq)
            fx.events.append(RoundTrip(addr=src, seconds=rtt))
            proximity = self.proximity
            if proximity is not None and msg.coordinate is not None and self._local.is_peer(src):
                proximity.observe(src, msg.coordinate, rtt)
        return record

    def nacked(self, msg: Nack) -> None:
        """A helper could not reach our probe's target either."""
        record = self._pings.get(msg.seq)
        if record is not None:
            record.nacks += 1

    def resend(self, now: float, seq: int, attempt: int, fx: Effects) -> None:
        """Ping the target of ``seq`` (our probe or a relayed ping) for the ``attempt``-th
        time, unless it answered."""
        record = self._pings.get(seq)
        if record is not None:
            again = self._next_seq()
            record.pings.append((again, now))
            self._pings[again] = record
            self._stats["probes-resent"] += 1
            self._outbox.send(record.target, Ping(seq=again), fx)
            if attempt > self._config.ping_resends + 1:  # the late ping, among the ping-reqs
                stage = self._deadline_stage(record)
            else:
                stage = self._next_stage(seq, record.sent_at, attempt, ProbeTimeout(seq=seq))
            _set_stage(record, stage, fx)
            return
        relay = self._relays.get(seq)
        if relay is not None:
            self._stats["relays-resent"] += 1
            self._outbox.send(relay.target, Ping(seq=seq), fx)
            stage = self._next_stage(seq, relay.started, attempt, RelayTimeout(seq=seq))
            _set_stage(relay, stage, fx)

    def _next_stage(
        self, seq: int, sent_at: float, attempt: int, timeout: ProbeTimeout | RelayTimeout
    ) -> SetTimer:
        """The timer after the ``attempt``-th ping of ``seq``: the next resend, evenly spaced
        within the probe timeout, or the timeout itself after the last."""
        wait = self._awareness.scale(self._config.probe_timeout)
        attempts = self._config.ping_resends + 1
        if attempt < attempts:
            at = sent_at + wait * attempt / attempts
            return SetTimer(at=at, timer=PingResend(seq=seq, attempt=attempt + 1))
        return SetTimer(at=sent_at + wait, timer=timeout)

    def direct_timeout(self, seq: int, fx: Effects) -> None:
        """The direct ack is overdue: ask a few members to ping-req the target."""
        record = self._pings.get(seq)
        if record is None:
            return
        target = record.target
        helpers = self._order.sample(
            self._config.indirect_checks, lambda a: a != target and self._local.is_peer(a)
        )
        record.expected_nacks = len(helpers)
        for helper in helpers:
            self._outbox.send(helper, PingReq(seq=seq, target=target), fx)
        if self._config.late_ping:
            # One more direct ping halfway to the deadline. Loss comes in bursts (a busy
            # switch, Wi-Fi): the resends all fell within one probe timeout, and a burst that
            # ate them has likely passed by then, while each helper's path has two legs sent
            # only once.
            wait = self._awareness.scale(self._config.probe_timeout)
            period = self._awareness.scale(self._config.probe_interval)
            late = PingResend(seq=seq, attempt=self._config.ping_resends + 2)
            stage = SetTimer(at=record.sent_at + (wait + period) / 2, timer=late)
        else:
            stage = self._deadline_stage(record)
        _set_stage(record, stage, fx)

    def _deadline_stage(self, record: PingRecord) -> SetTimer:
        """The end of ``record``'s probe period: a probe interval after its first ping."""
        at = record.sent_at + self._awareness.scale(self._config.probe_interval)
        return SetTimer(at=at, timer=ProbeDeadline(seq=record.seq))

    def deadline(self, seq: int) -> Addr | None:
        """The ping's period is over. Returns the target of an unanswered probe: the caller
        suspects it. Missing nacks raise our own health score: the helpers could not reach
        us either, so we may be the slow one."""
        record = self._pings.get(seq)
        if record is None:
            return None
        self._drop(record)
        if record.purpose is not Purpose.PROBE:
            return None
        self._stats["probes-failed"] += 1
        if record.expected_nacks:
            self._awareness.apply(record.expected_nacks - record.nacks)
        else:
            self._awareness.apply(1)
        return record.target

    def relay_timeout(self, seq: int, fx: Effects) -> None:
        """The target of a ping we relayed did not answer in time: nack the requester."""
        relay = self._relays.pop(seq, None)
        if relay is not None:
            self._outbox.send(relay.requester, Nack(seq=relay.seq), fx)

    @property
    def pending(self) -> tuple[int, int]:
        """(our pings waiting for an answer, pings relayed for others)."""
        probes = sum(1 for seq, record in self._pings.items() if seq == record.seq)
        return probes, len(self._relays)

    def _drop(self, record: PingRecord) -> None:
        for seq, _ in record.pings:
            del self._pings[seq]

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFFFFFFFFFF
        return self._seq


def _set_stage(owner: PingRecord | Relay, stage: SetTimer, fx: Effects) -> None:
    owner.stage = stage.timer
    fx.timers.append(stage)


def _cancel_stage(owner: PingRecord | Relay, fx: Effects) -> None:
    # A hint: a driver that drops the timer saves a wake-up; one that does not hands back a
    # timer that finds nothing pending.
    if owner.stage is not None:
        fx.cancels.append(owner.stage)
