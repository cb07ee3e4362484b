"""The failure detector: probes, ping-reqs, relays and nacks (SWIM with Lifeguard's nack).

Each protocol period the node probes one member: a direct ping, then after the probe timeout
ping-reqs through a few others, who answer with the target's ack or with a nack. A probe that
ends its period unanswered raises a suspicion; the suspicion itself runs in :mod:`.merge`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .addr import Addr
from .effects import Effects, SetTimer
from .events import RoundTrip
from .messages import Ack, Gossip, MemberState, Nack, Ping, PingReq, Update
from .timers import ProbeDeadline, ProbeTimeout, RelayTimeout

if TYPE_CHECKING:
    from .node import Node

__all__ = ["CONTACT", "LAST_CALL", "PROBE", "FailureDetector"]

# Why a ping was sent. Only a periodic probe's failure raises a suspicion and moves local
# health; a contact (a seed, or a dead member that may be back) is followed by a full state
# exchange; a last call gives a suspect one more chance to show its refutation.
PROBE, CONTACT, LAST_CALL = range(3)


class _Probe:
    """A ping we sent and are waiting to see acknowledged."""

    __slots__ = ("acked", "expected_nacks", "kind", "nacks", "sent_at", "target")

    def __init__(self, target: Addr, kind: int, sent_at: float) -> None:
        self.target = target
        self.sent_at = sent_at
        self.kind = kind
        self.acked = False
        self.expected_nacks = 0
        self.nacks = 0


class FailureDetector:
    """Probes in flight and ping-reqs relayed for others, for one node."""

    def __init__(self, node: Node, first_seq: int) -> None:
        self._node = node
        self._seq = first_seq
        self._probes: dict[int, _Probe] = {}
        self._relays: dict[int, tuple[Addr, int]] = {}  # our seq -> (requester, its seq)

    def probe_next(self, now: float, fx: Effects) -> None:
        """Probe the next member in round-robin order, if there is one."""
        node = self._node
        target = node._order.next(node._is_peer)
        if target is not None:
            self.ping(now, target, fx, PROBE)

    def ping(self, now: float, target: Addr, fx: Effects, kind: int) -> None:
        """Ping ``target``; probes and last calls fall back to ping-reqs after the timeout."""
        node = self._node
        seq = self._next_seq()
        self._probes[seq] = _Probe(target, kind, now)
        node._send(target, Ping(seq=seq), fx)
        if kind != CONTACT:
            timeout = node._awareness.scale(node.config.probe_timeout)
            fx.timers.append(SetTimer(now + timeout, ProbeTimeout(seq)))
        interval = node._awareness.scale(node.config.probe_interval)
        fx.timers.append(SetTimer(now + interval, ProbeDeadline(seq)))

    def relay(self, now: float, src: Addr, msg: PingReq, fx: Effects) -> None:
        """Probe ``msg.target`` for ``src`` and answer it with the ack, or a nack in time."""
        node = self._node
        target = node.members.get(msg.target)
        # Only relay to members we count: a ping-req must not aim our traffic anywhere else.
        if target is None or not target.counted or msg.target == node.addr:
            node.stats["dropped:ping-req-target"] += 1
            node._send(src, Nack(seq=msg.seq), fx)
            return
        seq = self._next_seq()
        self._relays[seq] = (src, msg.seq)
        node._send(msg.target, Ping(seq=seq), fx)
        timeout = node._awareness.scale(node.config.probe_timeout)
        fx.timers.append(SetTimer(now + timeout, RelayTimeout(seq)))

    def acked(self, now: float, src: Addr, msg: Ack, fx: Effects) -> None:
        """An ack arrived: forward it if we relayed the ping, else settle our probe."""
        node = self._node
        relay = self._relays.pop(msg.seq, None)
        if relay is not None:
            requester, their_seq = relay
            # Vouch for the target with its latest state: the requester may hold a suspicion
            # that the target has refuted, and this ack may be its only news of that.
            target = node.members.get(src)
            vouch = target if target and target.state == MemberState.ALIVE else None
            node._send_ack(requester, their_seq, fx, first=vouch)
            return
        probe = self._probes.get(msg.seq)
        if probe is None or probe.acked:
            node.stats["dropped:unknown-seq"] += 1
            return
        probe.acked = True
        if probe.kind == PROBE:
            node._awareness.apply(-1)
        elif probe.kind == LAST_CALL:
            node._merge.reprieve(now, probe.target, fx)
        if src == probe.target:
            fx.events.append(RoundTrip(addr=src, seconds=now - probe.sent_at))
        if src == probe.target and probe.kind != LAST_CALL:
            theirs = (msg.fingerprint, msg.members)
            node._sync.repair(now, src, theirs, fx, force=probe.kind == CONTACT)

    def nacked(self, msg: Nack) -> None:
        """A helper could not reach our probe's target either."""
        probe = self._probes.get(msg.seq)
        if probe is not None:
            probe.nacks += 1

    def direct_timeout(self, now: float, seq: int, fx: Effects) -> None:
        """The direct ack is overdue: ask a few members to ping-req the target."""
        node = self._node
        probe = self._probes.get(seq)
        if probe is None or probe.acked:
            return
        target = probe.target
        helpers = node._order.sample(
            node.config.indirect_checks, lambda a: a != target and node._is_peer(a)
        )
        probe.expected_nacks = len(helpers)
        for helper in helpers:
            node._send(helper, PingReq(seq=seq, target=target), fx)

    def deadline(self, now: float, seq: int, fx: Effects) -> None:
        """The probe's period is over: an unanswered probe suspects its target."""
        node = self._node
        probe = self._probes.pop(seq, None)
        if probe is None or probe.acked or probe.kind != PROBE:
            return
        if probe.expected_nacks:
            # Missing nacks mean the helpers could not reach us either: we may be the slow one.
            node._awareness.apply(probe.expected_nacks - probe.nacks)
        else:
            node._awareness.apply(1)
        member = node.members.get(probe.target)
        if member is None or not member.counted or node.leaving or now < node.frozen_until:
            return
        # Suspecting a member that is already suspect confirms the suspicion independently.
        suspicion = Update(
            addr=member.addr,
            state=MemberState.SUSPECT,
            incarnation=member.incarnation,
            identity=member.identity,
            origin=node.addr,
        )
        node._merge.update(now, suspicion, fx, spread=True)
        # Lifeguard's buddy system: tell the suspect at once, so that a slow node refutes.
        node._send(member.addr, Gossip(updates=(suspicion,)), fx)

    def relay_timeout(self, seq: int, fx: Effects) -> None:
        """The target of a ping we relayed did not answer in time: nack the requester."""
        relay = self._relays.pop(seq, None)
        if relay is not None:
            requester, their_seq = relay
            self._node._send(requester, Nack(seq=their_seq), fx)

    def _next_seq(self) -> int:
        self._seq = (self._seq + 1) & 0xFFFFFFFFFFFFFFFF
        return self._seq
