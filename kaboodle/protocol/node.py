"""The protocol node: SWIM with Lifeguard as a pure state machine.

A driver (the asyncio runtime or the simulator) feeds it datagrams and timers with the current
time, and performs the :class:`Effects` each call returns. The node owns no socket, clock or
thread; its randomness comes from the ``random.Random`` it is given.

Where each concern lives: merging updates into the view in :mod:`.merge`, the member table in
:mod:`.members`, gossip in :mod:`.broadcasts`, suspicion in :mod:`.suspicion`, local health in
:mod:`.awareness`, probe order in :mod:`.probe_order`, state exchange in :mod:`.sync`.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from . import codec
from .addr import Addr
from .awareness import Awareness
from .broadcasts import BroadcastQueue
from .config import Config
from .detector import CONTACT, FailureDetector
from .effects import Effects, Multicast, Send, SetTimer
from .events import FingerprintChanged
from .members import MemberTable
from .merge import Merger
from .messages import (
    Ack,
    Announce,
    Gossip,
    MemberState,
    Message,
    Nack,
    Ping,
    PingReq,
    Probe,
    ProbeReply,
    Sync,
    Tags,
    Update,
)
from .probe_order import ProbeOrder
from .sync import StateSync
from .timers import (
    AnnounceTick,
    FingerprintCheck,
    GossipTick,
    ProbeDeadline,
    ProbeTick,
    ProbeTimeout,
    PushPullTick,
    ReapTick,
    RelayTimeout,
    ReprobeTick,
    SuspicionTimeout,
    Timer,
)

__all__ = ["Node"]

_MESH_ANNOUNCES = 8  # announces per announce_idle from a whole mesh, whatever its size

# Room a message's own fields take before its piggybacked updates (the widest is a PingReq
# with an IPv6 target: about 40 bytes); the rest of the datagram budget carries gossip.
_HEADER_ROOM = 64


class Node:
    """One member of a mesh, as a state machine.

    Args:
        addr: this node's unicast address, the key others know it by.
        identity: opaque bytes chosen by the user (at most ``config.max_identity``).
        config: protocol settings.
        rng: the only source of randomness; seed it for reproducible runs.
        incarnation: the starting incarnation; drivers start from the wall clock so that a node
            restarted at the same address outranks its previous life.
        tags: small str -> str metadata, as sorted pairs.

    Raises:
        ValueError: the identity or tags exceed the configured limits.
    """

    def __init__(
        self,
        addr: Addr,
        identity: bytes,
        *,
        config: Config,
        rng: random.Random,
        incarnation: int,
        tags: Tags = (),
    ) -> None:
        _check_identity(identity, tags, config)
        self.addr = addr
        self.config = config
        self.stats: Counter[str] = Counter()
        self._rng = rng
        self.members = MemberTable()
        # Our own record, kept at hand; every change to it goes through MemberTable.put.
        self._self = Update(
            addr=addr,
            state=MemberState.ALIVE,
            incarnation=incarnation,
            identity=identity,
            tags=tags,
        )
        self.members.add(self._self, 0.0)
        self._order = ProbeOrder(rng)
        self._queue = BroadcastQueue(codec.update_size)
        self._awareness = Awareness(config.awareness_max)
        self._merge = Merger(self)
        self._detector = FailureDetector(self, rng.getrandbits(32))
        self._probe_token = 0
        self._announce_token = 0
        self._alone_interval = config.announce_min
        self._started_at: float | None = None
        self._last_seen = float("inf")  # no gap before the first call
        self._last_stranger_contact = float("-inf")
        self.frozen_until = float("-inf")
        self._last_announce = float("-inf")
        self._leaving = False
        self._view_changed_at = 0.0
        self._reported_fingerprint: int | None = None
        self._fingerprint_check_pending = False
        self._sync = StateSync(self)

    # ----------------------------------------------------------------- views

    @property
    def identity(self) -> bytes:
        """This node's identity."""
        return self._self.identity

    @property
    def incarnation(self) -> int:
        """This node's current incarnation (raised to refute suspicions)."""
        return self._self.incarnation

    @property
    def tags(self) -> Tags:
        """This node's tags."""
        return self._self.tags

    @property
    def leaving(self) -> bool:
        """True once :meth:`leave` was called."""
        return self._leaving

    @property
    def health(self) -> int:
        """The local health score (0 is healthy; see :class:`.Awareness`)."""
        return self._awareness.score

    def fingerprint(self) -> int:
        """The fingerprint of this node's view (alive and suspect members, self included)."""
        return self.members.fingerprint()

    def view_digest(self) -> tuple[int, int]:
        """(count, order-independent hash) of the counted members; O(1). See ``digest_of``."""
        return self.members.digest()

    def counts(self, addr: Addr) -> bool:
        """Whether this node counts ``addr`` as a member (alive or suspect)."""
        member = self.members.get(addr)
        return member is not None and member.counted

    # ----------------------------------------------------------- entry points

    def start(self, now: float) -> Effects:
        """Begin: announce ourselves and set the periodic timers."""
        fx = Effects()
        if self._started_at is not None:
            return fx
        self._started_at = now
        self._view_changed_at = now
        self._queue.push(self._self)
        self._announce(now, fx)
        cfg = self.config
        fx.timers.append(SetTimer(now + self._rng.uniform(0, cfg.probe_interval), ProbeTick(0)))
        if cfg.gossip_interval > 0:
            fx.timers.append(SetTimer(now + cfg.gossip_interval, GossipTick()))
        if cfg.push_pull_interval > 0:
            first = cfg.push_pull_interval * self._rng.uniform(0.5, 1.5)
            fx.timers.append(SetTimer(now + first, PushPullTick()))
        fx.timers.append(SetTimer(now + cfg.tombstone_ttl / 2, ReapTick()))
        jitter = self._rng.uniform(0.5, 1.5)
        fx.timers.append(SetTimer(now + cfg.reprobe_dead_interval * jitter, ReprobeTick()))
        self._schedule_fingerprint_check(now, fx)
        return fx

    def handle_datagram(self, now: float, src: Addr, data: bytes) -> Effects:
        """Take one datagram from ``src``. Malformed input is counted in ``stats``, never raised."""
        try:
            msg = codec.decode(data)
        except codec.DecodeError as error:
            self.stats[f"dropped:{error.reason}"] += 1
            return Effects()
        return self.handle_message(now, src, msg)

    def handle_message(self, now: float, src: Addr, msg: Message) -> Effects:
        """Take one decoded message from ``src`` (the UDP source of its datagram)."""
        fx = Effects()
        self.stats["received"] += 1
        if src == self.addr:
            return fx  # our own announcement, looped back
        self._notice_freeze(now)
        before = self.members.digest()
        handler = _HANDLERS.get(type(msg))
        stranger = type(msg) in _MEMBER_TRAFFIC and src not in self.members
        if handler is None:
            self.stats["dropped:unexpected"] += 1
        else:
            handler(self, now, src, msg, fx)
        if stranger:
            self._contact_stranger(now, src, fx)
        if self._merge.outdated_about_us:
            # Gossip of our refutation missed this sender: tell it directly.
            self._merge.outdated_about_us = False
            fx.sends.append(Send(src, codec.encode(Gossip(updates=(self._self,)))))
        self._after(now, before, fx)
        return fx

    def handle_timer(self, now: float, timer: Timer) -> Effects:
        """Take a timer this node set earlier, now due."""
        fx = Effects()
        self._notice_freeze(now)
        before = self.members.digest()
        _TIMERS[type(timer)](self, now, timer, fx)
        self._after(now, before, fx)
        return fx

    def leave(self, now: float) -> Effects:
        """Leave gracefully: gossip that we left, at once, to more members than usual.

        The driver should keep delivering datagrams and timers for about one probe interval so
        that the news spreads, and then stop the node.
        """
        fx = Effects()
        if self._leaving:
            return fx
        before = self.members.digest()
        self._leaving = True
        update = self._set_self(now, state=MemberState.LEFT)
        self._queue.push(update)
        limit = self._retransmit_limit()
        for target in self._order.sample(2 * self.config.gossip_nodes, self._is_peer):
            updates = self._queue.take(self._budget(), limit, first=update)
            fx.sends.append(Send(target, codec.encode(Gossip(updates=updates))))
        self._after(now, before, fx)
        return fx

    def contact(self, now: float, addrs: Iterable[Addr]) -> Effects:
        """Ping ``addrs`` to join through them without multicast (seeds, the seed's ping_addrs).

        Each answer is followed by a full state exchange with that member.
        """
        fx = Effects()
        for addr in addrs:
            if addr != self.addr:
                self._detector.ping(now, addr, fx, CONTACT)
        return fx

    def set_identity(self, now: float, identity: bytes, tags: Tags | None = None) -> Effects:
        """Change our identity (and tags) and spread it as an update with a new incarnation.

        Raises:
            ValueError: the identity or tags exceed the configured limits.
        """
        tags = self.tags if tags is None else tags
        _check_identity(identity, tags, self.config)
        fx = Effects()
        before = self.members.digest()
        self._queue.push(
            self._set_self(now, incarnation=self.incarnation + 1, identity=identity, tags=tags)
        )
        self._after(now, before, fx)
        return fx

    # ----------------------------------------------------- message handlers

    def _on_ping(self, now: float, src: Addr, msg: Ping, fx: Effects) -> None:
        self._merge.updates(now, msg.updates, fx)
        self._send_ack(src, msg.seq, fx)

    def _on_ping_req(self, now: float, src: Addr, msg: PingReq, fx: Effects) -> None:
        self._merge.updates(now, msg.updates, fx)
        self._detector.relay(now, src, msg, fx)

    def _on_ack(self, now: float, src: Addr, msg: Ack, fx: Effects) -> None:
        self._merge.updates(now, msg.updates, fx)
        self._detector.acked(now, src, msg, fx)

    def _on_nack(self, now: float, src: Addr, msg: Nack, fx: Effects) -> None:
        self._merge.updates(now, msg.updates, fx)
        self._detector.nacked(msg)

    def _on_gossip(self, now: float, src: Addr, msg: Gossip, fx: Effects) -> None:
        self._merge.updates(now, msg.updates, fx)

    def _on_announce(self, now: float, src: Addr, msg: Announce, fx: Effects) -> None:
        update = msg.member
        if update.addr != src or update.state != MemberState.ALIVE:
            self.stats["dropped:announce-source"] += 1
            return
        known = self.members.get(src)
        if known is not None and not known.counted and known.incarnation >= update.incarnation:
            # It does not know we buried it (a healed partition): tell it, so it can refute.
            self._send(src, Gossip(updates=(known.changed(origin=self.addr),)), fx)
            return
        # The whole group heard the multicast, so there is no need to gossip it on.
        joined = self._merge.update(now, update, fx, spread=False)
        if joined and self._settled(now) and not self._leaving:
            share = self.config.sync_pushers / max(1, self.members.counted - 1)
            if self._rng.random() < share:
                self._sync.push(now, src, fx, reply=True)

    def _on_probe(self, now: float, src: Addr, msg: Probe, fx: Effects) -> None:
        if self._leaving:
            return
        share = self.config.sync_pushers / max(1, self.members.counted)
        if self._rng.random() < share:
            reply = ProbeReply(
                nonce=msg.nonce,
                identity=self.identity,
                fingerprint=self.fingerprint(),
                members=self.members.counted,
            )
            fx.sends.append(Send(src, codec.encode(reply)))

    def _on_sync(self, now: float, src: Addr, msg: Sync, fx: Effects) -> None:
        self._merge.updates(now, msg.members, fx, via_sync=True)
        self._sync.answer(now, src, msg, fx)

    # --------------------------------------------------------- timer handlers

    def _on_probe_tick(self, now: float, timer: ProbeTick, fx: Effects) -> None:
        if timer.token != self._probe_token or self._leaving:
            return
        interval = self._awareness.scale(self.config.probe_interval)
        self._probe_token += 1
        fx.timers.append(SetTimer(now + interval, ProbeTick(self._probe_token)))
        self._detector.probe_next(now, fx)

    def _on_probe_timeout(self, now: float, timer: ProbeTimeout, fx: Effects) -> None:
        self._detector.direct_timeout(now, timer.seq, fx)

    def _on_probe_deadline(self, now: float, timer: ProbeDeadline, fx: Effects) -> None:
        self._detector.deadline(now, timer.seq, fx)

    def _on_relay_timeout(self, now: float, timer: RelayTimeout, fx: Effects) -> None:
        self._detector.relay_timeout(timer.seq, fx)

    def _on_suspicion_timeout(self, now: float, timer: SuspicionTimeout, fx: Effects) -> None:
        self._merge.suspicion_expired(now, timer, fx)

    def _on_gossip_tick(self, now: float, timer: GossipTick, fx: Effects) -> None:
        fx.timers.append(SetTimer(now + self.config.gossip_interval, GossipTick()))
        if not self._queue:
            return
        limit = self._retransmit_limit()
        for target in self._order.sample(self.config.gossip_nodes, self._is_peer):
            updates = self._queue.take(self._budget(), limit, first=self._belief_about(target))
            if updates:
                fx.sends.append(Send(target, codec.encode(Gossip(updates=updates))))

    def _on_push_pull_tick(self, now: float, timer: PushPullTick, fx: Effects) -> None:
        self._sync.periodic(now, fx)

    def _on_announce_tick(self, now: float, timer: AnnounceTick, fx: Effects) -> None:
        if timer.token != self._announce_token or self._leaving:
            return
        if self.members.counted > 1 and now - self._last_announce < self.config.announce_idle:
            # Found the mesh since the fast schedule was set: wait out the idle interval.
            self._announce_token += 1
            due = self._last_announce + self._idle_interval()
            fx.timers.append(SetTimer(due, AnnounceTick(self._announce_token)))
            return
        self._announce(now, fx)

    def _on_reap_tick(self, now: float, timer: ReapTick, fx: Effects) -> None:
        ttl = self.config.tombstone_ttl
        fx.timers.append(SetTimer(now + ttl / 2, ReapTick()))
        expired = [a for a, since in self.members.tombstones.items() if since + ttl <= now]
        for addr in expired:
            if addr != self.addr:
                self.members.remove(addr)
                self._queue.discard(addr)

    def _on_reprobe_tick(self, now: float, timer: ReprobeTick, fx: Effects) -> None:
        jitter = self._rng.uniform(0.5, 1.5)
        fx.timers.append(SetTimer(now + self.config.reprobe_dead_interval * jitter, ReprobeTick()))
        if self._leaving:
            return
        members = self.members
        dead = [a for a in members.tombstones if members.state_of(a) == MemberState.DEAD]
        if dead:
            self._detector.ping(now, self._rng.choice(dead), fx, CONTACT)

    def _on_fingerprint_check(self, now: float, timer: FingerprintCheck, fx: Effects) -> None:
        self._fingerprint_check_pending = False
        fingerprint = self.members.fingerprint()
        if fingerprint != self._reported_fingerprint:
            self._reported_fingerprint = fingerprint
            fx.events.append(
                FingerprintChanged(fingerprint=fingerprint, members=self.members.counted)
            )

    # ---------------------------------------------------------------- helpers

    def _notice_freeze(self, now: float) -> None:
        """Notice that this node was frozen (SIGSTOP, a stalled loop, a suspended VM).

        Our ticks come at least every gossip (or probe) interval; a longer silence means we were
        not running, so the probes and suspicions that ran out meanwhile say more about us than
        about the others. For one probe interval we raise no suspicion and bury nobody.
        """
        gap = now - self._last_seen
        self._last_seen = now
        cfg = self.config
        if gap <= cfg.probe_timeout:
            return  # the common case, decided without the arithmetic below
        tick = self._awareness.scale(cfg.probe_interval)
        if cfg.gossip_interval > 0:
            tick = min(tick, cfg.gossip_interval)
        if gap > tick + cfg.probe_timeout:
            self.stats["frozen"] += 1
            self.frozen_until = now + self._awareness.scale(cfg.probe_interval)

    def _contact_stranger(self, now: float, src: Addr, fx: Effects) -> None:
        # A member we did not know talks to us: our view is missing something (a lost
        # announce, or we just joined). Ping it back; its ack starts a full exchange.
        if now - self._last_stranger_contact >= self.config.probe_interval and not self._leaving:
            self._last_stranger_contact = now
            self.stats["stranger-contacts"] += 1
            self._detector.ping(now, src, fx, CONTACT)

    def _after(self, now: float, before: tuple[int, int], fx: Effects) -> None:
        if self.members.digest() != before:
            self._view_changed_at = now
            self._schedule_fingerprint_check(now, fx)

    def _schedule_fingerprint_check(self, now: float, fx: Effects) -> None:
        if not self._fingerprint_check_pending:
            self._fingerprint_check_pending = True
            fx.timers.append(SetTimer(now + self.config.event_delay, FingerprintCheck()))

    def _announce(self, now: float, fx: Effects) -> None:
        fx.sends.append(Multicast(codec.encode(Announce(member=self._self))))
        self._last_announce = now
        if self.members.counted > 1:
            interval = self._idle_interval()
            self._alone_interval = self.config.announce_min
        else:
            interval = self._alone_interval
            self._alone_interval = min(interval * 2, self.config.announce_max)
        self._announce_token += 1
        fx.timers.append(SetTimer(now + interval, AnnounceTick(self._announce_token)))

    def _idle_interval(self) -> float:
        # In a mesh, announces only help healed partitions find each other, for which a few
        # per interval from the whole mesh are plenty: each of N members announces N/8 times
        # less often (jittered), so receiving them costs the same at 10 and at 10,000 members.
        share = max(1.0, self.members.counted / _MESH_ANNOUNCES)
        return self.config.announce_idle * share * self._rng.uniform(0.5, 1.5)

    def restart_announcing(self, now: float) -> Effects:
        """Announce now and go back to the fast announce schedule (e.g. after the driver saw its
        network interface return)."""
        fx = Effects()
        self._alone_interval = self.config.announce_min
        self._announce(now, fx)
        return fx

    def _is_peer(self, addr: Addr) -> bool:
        member = self.members.get(addr)
        return member is not None and member.counted and addr != self.addr

    def _settled(self, now: float) -> bool:
        # A node that has only just started has little to offer a newcomer.
        started = self._started_at if self._started_at is not None else now
        return now - started >= 2 * self.config.probe_interval

    def _send_ack(self, to: Addr, seq: int, fx: Effects, first: Update | None = None) -> None:
        ack = Ack(seq=seq, fingerprint=self.members.fingerprint(), members=self.members.counted)
        self._send(to, ack, fx, first)

    def _send(
        self,
        to: Addr,
        msg: Ping | PingReq | Ack | Nack | Gossip,
        fx: Effects,
        first: Update | None = None,
    ) -> None:
        """Send ``msg`` to ``to`` with as many queued updates piggybacked as fit, ``first`` (by
        default, what ``to`` must hear first from us) in front."""
        if first is None:
            first = self._belief_about(to)
        updates = self._queue.take(self._budget(), self._retransmit_limit(), first=first)
        if updates:
            msg = _with_updates(msg, updates)
        fx.sends.append(Send(to, codec.encode(msg)))

    def _belief_about(self, addr: Addr) -> Update | None:
        """What a member must hear first from us: that we suspect or buried it (so it can
        refute), or, when it is a stranger, who we are."""
        member = self.members.get(addr)
        if member is None:
            return self._self
        if member.state != MemberState.ALIVE:
            return member.changed(origin=self.addr)
        return None

    def _budget(self) -> int:
        return self.config.max_datagram - _HEADER_ROOM

    def _retransmit_limit(self) -> int:
        return self.config.retransmit_limit(self.members.counted)

    # Used by the Merger, which owns the rules of the view but not the node's other state.
    def _queue_update(self, update: Update) -> None:
        self._queue.push(update)

    def _track(self, addr: Addr) -> None:
        self._order.add(addr)

    def _refute(self, now: float, incarnation: int, fx: Effects) -> None:
        """Someone believes us suspect or dead at ``incarnation``: outrank it and say so."""
        self.stats["refuted"] += 1
        self._queue.push(self._set_self(now, state=MemberState.ALIVE, incarnation=incarnation + 1))

    def _set_self(self, now: float, **fields: Any) -> Update:
        self._self = self.members.put(self._self.changed(**fields), now)
        return self._self


def _with_updates(
    msg: Ping | PingReq | Ack | Nack | Gossip, updates: tuple[Update, ...]
) -> Ping | PingReq | Ack | Nack | Gossip:
    if isinstance(msg, Ping):
        return Ping(seq=msg.seq, updates=updates)
    if isinstance(msg, Ack):
        return Ack(seq=msg.seq, fingerprint=msg.fingerprint, members=msg.members, updates=updates)
    if isinstance(msg, PingReq):
        return PingReq(seq=msg.seq, target=msg.target, updates=updates)
    if isinstance(msg, Nack):
        return Nack(seq=msg.seq, updates=updates)
    return Gossip(updates=msg.updates + updates)


def _check_identity(identity: bytes, tags: Tags, config: Config) -> None:
    if len(identity) > config.max_identity:
        raise ValueError(
            f"identity is {len(identity)} bytes; at most {config.max_identity} are allowed"
        )
    size = sum(len(k.encode()) + len(v.encode()) for k, v in tags)
    if size > config.max_tags:
        raise ValueError(f"tags take {size} bytes; at most {config.max_tags} are allowed")
    if list(tags) != sorted(dict(tags).items()):
        raise ValueError("tags must be (key, value) pairs sorted by key, each key once")


# Messages only members send each other: one from a stranger means our view is incomplete.
_MEMBER_TRAFFIC = (Ping, PingReq, Ack, Nack, Gossip)

_HANDLERS: dict[type[Any], Callable[[Node, float, Addr, Any, Effects], None]] = {
    Ping: Node._on_ping,
    PingReq: Node._on_ping_req,
    Ack: Node._on_ack,
    Nack: Node._on_nack,
    Gossip: Node._on_gossip,
    Announce: Node._on_announce,
    Probe: Node._on_probe,
    Sync: Node._on_sync,
}

_TIMERS: dict[type[Any], Callable[[Node, float, Any, Effects], None]] = {
    ProbeTick: Node._on_probe_tick,
    ProbeTimeout: Node._on_probe_timeout,
    ProbeDeadline: Node._on_probe_deadline,
    RelayTimeout: Node._on_relay_timeout,
    SuspicionTimeout: Node._on_suspicion_timeout,
    GossipTick: Node._on_gossip_tick,
    PushPullTick: Node._on_push_pull_tick,
    AnnounceTick: Node._on_announce_tick,
    ReapTick: Node._on_reap_tick,
    ReprobeTick: Node._on_reprobe_tick,
    FingerprintCheck: Node._on_fingerprint_check,
}
