"""The protocol node: SWIM with Lifeguard as a pure state machine.

A driver (the asyncio runtime or the simulator) feeds it datagrams and timers with the current
time and performs the :class:`Effects` each call returns; the node owns no socket, clock or
thread, and its randomness comes from the ``random.Random`` it is given. It dispatches; its
parts do the work, each given only what it uses (docs/design.md has the map).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast, get_args

from . import codec
from .addr import Addr
from .announcer import Announcer
from .awareness import Awareness
from .config import Config
from .detector import FailureDetector, Purpose
from .effects import Effects, Send, SetTimer
from .local import LocalMember
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
    Sync,
    Tags,
)
from .outbox import Outbox, Piggybacking
from .probe_order import ProbeOrder
from .sync import StateSync
from .timers import (
    AnnounceTick,
    DepartureCheck,
    FingerprintCheck,
    GossipTick,
    PingResend,
    ProbeDeadline,
    ProbeTick,
    ProbeTimeout,
    PushPullTick,
    ReapTick,
    RelayTimeout,
    ReprobeTick,
    SuspicionTimeout,
    Timer,
    WelcomeDue,
)
from .view_watch import ViewWatch

__all__ = ["Node"]


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
        self.addr = addr
        self.config = config
        self.stats: Counter[str] = Counter()
        self._rng = rng
        self.members = MemberTable()
        self._awareness = Awareness(config.awareness_max)
        self._local = LocalMember(
            addr,
            identity,
            tags,
            incarnation=incarnation,
            members=self.members,
            config=config,
            awareness=self._awareness,
            stats=self.stats,
        )
        self._order = ProbeOrder(rng)
        self._outbox = Outbox(config, self._local, self.members, self._order, self.stats)
        self._detector = FailureDetector(
            config=config,
            local=self._local,
            members=self.members,
            order=self._order,
            awareness=self._awareness,
            outbox=self._outbox,
            stats=self.stats,
            rng=rng,
        )
        self._merge = Merger(
            config=config,
            local=self._local,
            members=self.members,
            order=self._order,
            awareness=self._awareness,
            outbox=self._outbox,
            stats=self.stats,
            last_call=self._detector.last_call,
        )
        self.proximity = self._detector.proximity
        """This node's network coordinate and its peers' (None when proximity is off)."""
        self._view = ViewWatch(config, self.members)
        self._sync = StateSync(
            config=config,
            local=self._local,
            members=self.members,
            order=self._order,
            view=self._view,
            rng=rng,
            stats=self.stats,
        )
        self._announcer = Announcer(
            config=config,
            local=self._local,
            members=self.members,
            outbox=self._outbox,
            rng=rng,
            stats=self.stats,
        )
        self._started = False
        self._gossip_armed = False
        self._last_gossip = float("-inf")

    # ----------------------------------------------------------------- views

    @property
    def identity(self) -> bytes:
        """This node's identity."""
        return self._local.record.identity

    @property
    def incarnation(self) -> int:
        """This node's current incarnation (raised to refute suspicions)."""
        return self._local.record.incarnation

    @property
    def tags(self) -> Tags:
        """This node's tags."""
        return self._local.record.tags

    @property
    def leaving(self) -> bool:
        """True once :meth:`leave` was called."""
        return self._local.leaving

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
        return self.members.counts(addr)

    def sizes(self) -> dict[str, int]:
        """How full each bounded table is (each has its cap in :class:`Config`)."""
        pings, relays = self._detector.pending
        return {
            "members": len(self.members),
            "tombstones": len(self.members.tombstones),
            "broadcasts": len(self._outbox),
            "pings": pings,
            "relays": relays,
            "suspicions": len(self._merge.suspicions),
            "coordinates": len(self.proximity.peers) if self.proximity else 0,
        }

    # ----------------------------------------------------------- entry points

    def start(self, now: float) -> Effects:
        """Begin: announce ourselves and set the periodic timers."""
        fx = Effects()
        if self._started:
            return fx
        self._started = True
        self._outbox.push(self._local.record)
        self._sync.start(now)
        self._announcer.start(now, fx)
        cfg, rng = self.config, self._rng
        self._detector.schedule_tick(now, now + rng.uniform(0, cfg.probe_interval), fx)
        timers: list[tuple[float, Timer]] = []
        if cfg.push_pull_interval > 0:
            timers.append((cfg.push_pull_interval * rng.uniform(0.5, 1.5), PushPullTick()))
        timers.append((cfg.tombstone_ttl / 2, ReapTick()))
        timers.append((cfg.reprobe_dead_interval * rng.uniform(0.5, 1.5), ReprobeTick()))
        fx.timers += [SetTimer(at=now + delay, timer=timer) for delay, timer in timers]
        self._view.changed(now, fx)
        self._arm_gossip(now, fx)
        return fx

    @staticmethod
    def kind_of(data: bytes, *, via_group: bool = False) -> str:
        """The message type of a datagram of this protocol, for counters (not decoded)."""
        return codec.message_kind(data)

    def handle_datagram(
        self, now: float, src: Addr, data: bytes, *, via_group: bool = False
    ) -> Effects:
        """Take one datagram from ``src``. Malformed input is counted in ``stats``, never raised.
        (``via_group``, whether it came to the group port, is for drivers that run either
        protocol: this one's message types say where they belong.)"""
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
        self._local.notice(now)
        members = self.members
        kind = type(msg)
        if kind is Announce and members.get(src) is cast(Announce, msg).member:
            # The very record we hold (each start's announce is repeated, and a simulator
            # hands one decoded multicast to every node): nothing can come of it.
            return fx
        known = src in members
        if known and kind is not Announce:
            # A multicast shows the member is up, not that its datagrams to us get through:
            # only what it sends us may spare it a probe.
            self._detector.heard(now, src)
        before = members.digest()
        stranger = False
        if kind in _CARRIERS:
            # Only members send these, so one from a stranger means our view is incomplete.
            stranger = not known
            self._merge.updates(now, cast(Piggybacking, msg).updates, fx, src=src)
            known = src in members  # the updates may have been about the sender
        if not known:  # what we send back must fit in what it sent
            self._outbox.answering(src, msg)
        handler = _HANDLERS.get(kind)
        if handler is None:
            self.stats["dropped:unexpected"] += 1
        else:
            handler(self, now, src, msg, fx)
        if stranger and not self._announcer.repeat_pending(now):
            # Until our start's repeat, a stranger is mostly a member that started just before
            # us, whose repeat is on its way; one that is not catches up after (StateSync).
            self._detector.contact_stranger(now, src, fx)
        if self._merge.outdated_about_us:
            # Gossip of our refutation missed this sender: tell it directly.
            self._merge.outdated_about_us = False
            gossip = Gossip(updates=(self._local.record,))
            fx.sends.append(Send(to=src, data=codec.encode(gossip)))
        self._outbox.answered()
        self._after(now, before, fx)
        return fx

    def handle_timer(self, now: float, timer: Timer) -> Effects:
        """Take a timer this node set earlier, now due."""
        fx = Effects()
        self._local.notice(now)
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
        if self.leaving:
            return fx
        before = self.members.digest()
        update = self._local.change(now, state=MemberState.LEFT)
        self._outbox.push(update)
        self._outbox.gossip(2 * self.config.gossip_nodes, fx, first=update)
        self._after(now, before, fx)
        return fx

    def contact(self, now: float, addrs: Iterable[Addr]) -> Effects:
        """Ping ``addrs`` to join through them without multicast (seeds, the seed's ping_addrs).

        Each answer is followed by a full state exchange with that member.
        """
        fx = Effects()
        for addr in addrs:
            if addr != self.addr:
                self._detector.ping(now, addr, fx, Purpose.CONTACT)
        return fx

    def set_identity(self, now: float, identity: bytes, tags: Tags | None = None) -> Effects:
        """Change our identity (and tags) and spread it as an update with a new incarnation.

        Raises:
            ValueError: the identity or tags exceed the configured limits.
        """
        fx = Effects()
        before = self.members.digest()
        self._outbox.push(self._local.rename(now, identity, self.tags if tags is None else tags))
        self._after(now, before, fx)
        return fx

    def restart_announcing(self, now: float) -> Effects:
        """Announce now and go back to the fast schedule (the driver saw its network return)."""
        fx = Effects()
        self._announcer.start(now, fx)
        return fx

    # ------------------------------------------------------------------ handlers

    def _on_ack(self, now: float, src: Addr, msg: Ack, fx: Effects) -> None:
        record = self._detector.acked(now, src, msg, fx)
        if record is None:
            return
        if record.purpose is Purpose.LAST_CALL:
            self._merge.reprieve(now, record.target, fx)
        elif src == record.target:
            theirs = (msg.fingerprint, msg.members)
            force = record.purpose is Purpose.CONTACT
            self._sync.repair(now, src, theirs, fx, force=force)

    def _on_announce(self, now: float, src: Addr, msg: Announce, fx: Effects) -> None:
        update = self._announcer.heard(now, src, msg, fx)
        # The whole group heard the multicast, so there is no need to gossip it on.
        joined = update is not None and self._merge.update(now, update, fx, spread=False)
        if joined:
            self._sync.welcome(now, src, fx, repeat_pending=self._announcer.repeat_pending(now))

    def _on_sync(self, now: float, src: Addr, msg: Sync, fx: Effects) -> None:
        # A state pushed before our start's repeat comes from members that started about
        # when we did: what is news to us is news to those that missed the same announces,
        # so it goes on as gossip would (in a storm under loss, gossip is how most of them
        # learn it; a merge that keeps it would take those members off the spreading).
        spread = self._announcer.repeat_pending(now)
        self._merge.updates(now, msg.members, fx, src=src, via_sync=True, spread=spread)
        self._sync.received(now, msg)
        self._sync.answer(now, src, msg, fx)

    def _on_probe_deadline(self, now: float, timer: ProbeDeadline, fx: Effects) -> None:
        target = self._detector.deadline(timer.seq)
        if target is not None:
            self._merge.accuse(now, target, fx)

    def _on_gossip_tick(self, now: float, timer: GossipTick, fx: Effects) -> None:
        self._gossip_armed = False
        if self._outbox.has_news():
            self._last_gossip = now
            self._outbox.gossip(self.config.gossip_nodes, fx)

    def _on_reap_tick(self, now: float, timer: ReapTick, fx: Effects) -> None:
        ttl = self.config.tombstone_ttl
        fx.timers.append(SetTimer(at=now + ttl / 2, timer=ReapTick()))
        for addr in self.members.reap(now, ttl, keep=self.addr):
            self._outbox.discard(addr)
        self._detector.forget_gone()

    def _after(self, now: float, before: tuple[int, int], fx: Effects) -> None:
        if self.members.digest() != before:
            self._view.changed(now, fx)
        self._arm_gossip(now, fx)

    def _arm_gossip(self, now: float, fx: Effects) -> None:
        # A gossip round is set when news is queued, not every interval: an idle node wakes
        # for its probes only. News waits half an interval on average, as on a fixed grid,
        # and rounds stay at least an interval apart.
        interval = self.config.gossip_interval
        if self._gossip_armed or interval <= 0 or self.members.counted < 2:
            return  # (alone, there is nobody to gossip to: the first member re-arms it)
        if not self._outbox.has_news():
            return
        self._gossip_armed = True
        at = max(now + interval / 2, self._last_gossip + interval)
        fx.timers.append(SetTimer(at=at, timer=GossipTick()))


# The messages that carry piggybacked gossip, as a set: a lookup is cheaper than isinstance.
_CARRIERS: frozenset[type] = frozenset(get_args(Piggybacking))

M = TypeVar("M", bound=Message)
T = TypeVar("T", bound=Timer)
_HANDLERS: dict[type, Callable[[Node, float, Addr, Any, Effects], None]] = {}
_TIMERS: dict[type, Callable[[Node, float, Any, Effects], None]] = {}


def _on(kind: type[M], handler: Callable[[Node, float, Addr, M, Effects], None]) -> None:
    # Registering one entry at a time lets the type checker match each handler to its type.
    _HANDLERS[kind] = handler


def _at(kind: type[T], handler: Callable[[Node, float, T, Effects], None]) -> None:
    _TIMERS[kind] = handler


_on(Ping, lambda node, now, src, msg, fx: node._detector.answer(src, msg, fx))
_on(PingReq, lambda node, now, src, msg, fx: node._detector.relay(now, src, msg, fx))
_on(Ack, Node._on_ack)
_on(Nack, lambda node, now, src, msg, fx: node._detector.nacked(msg))
_on(Gossip, lambda node, now, src, msg, fx: None)  # merged already
_on(Announce, Node._on_announce)
_on(Probe, lambda node, now, src, msg, fx: node._announcer.answer_probe(src, msg, fx))
_on(Sync, Node._on_sync)
_at(ProbeTick, lambda node, now, timer, fx: node._detector.tick(now, timer, fx))
_at(
    PingResend,
    lambda node, now, timer, fx: node._detector.resend(now, timer.seq, timer.attempt, fx),
)
_at(ProbeTimeout, lambda node, now, timer, fx: node._detector.direct_timeout(timer.seq, fx))
_at(ProbeDeadline, Node._on_probe_deadline)
_at(RelayTimeout, lambda node, now, timer, fx: node._detector.relay_timeout(timer.seq, fx))
_at(SuspicionTimeout, lambda node, now, timer, fx: node._merge.suspicion_expired(now, timer, fx))
_at(DepartureCheck, lambda node, now, timer, fx: node._merge.departure_due(now, timer, fx))
_at(GossipTick, Node._on_gossip_tick)
_at(PushPullTick, lambda node, now, timer, fx: node._sync.periodic(now, fx))
_at(
    WelcomeDue,
    lambda node, now, timer, fx: node._sync.welcome_due(
        now, timer, fx, repeat_pending=node._announcer.repeat_pending(now)
    ),
)
_at(AnnounceTick, lambda node, now, timer, fx: node._announcer.tick(now, timer, fx))
_at(ReapTick, Node._on_reap_tick)
_at(ReprobeTick, lambda node, now, timer, fx: node._detector.reprobe(now, fx))
_at(FingerprintCheck, lambda node, now, timer, fx: node._view.check(fx))
