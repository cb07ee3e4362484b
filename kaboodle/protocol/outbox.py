"""The send path: a node's messages to members, with queued gossip piggybacked on each.

Every ping, ping-req, ack and nack carries as many queued updates as fit the datagram budget
(least-sent first, each sent about lambda * log(N + 1) times), and gossip rounds push the queue
to a few random members between probes. A message to a member we suspect or buried carries
that belief first, so that it can refute; a message to a stranger carries who we are.
"""

from __future__ import annotations

from collections import Counter

from . import codec
from .addr import Addr
from .broadcasts import BroadcastQueue
from .config import Config
from .coordinate import Coordinate
from .effects import Effects, Send
from .local import LocalMember
from .members import MemberTable
from .messages import Ack, Gossip, MemberState, Message, Nack, Ping, PingReq, Update
from .probe_order import ProbeOrder

__all__ = ["Outbox", "Piggybacking"]

Piggybacking = Ping | PingReq | Ack | Nack | Gossip
"""The messages that carry gossip."""

# The updates array's header grows from one byte to three at 16 updates (codec.update_size).
_ARRAY_GROWTH = 2
_GOSSIP_BASE = codec.base_size(Gossip(updates=()))


class Outbox:
    """The broadcast queue, and the sends that drain it.

    Args:
        config: protocol settings (datagram budget, retransmission, gossip fan-out).
        local: this node, for what a stranger must hear first and who counts as a peer.
        members: the member table (beliefs about the receiver, the mesh size).
        order: the probe order, which random gossip targets are drawn from.
        stats: the node's counters.
    """

    __slots__ = (
        "_answering",
        "_config",
        "_local",
        "_members",
        "_order",
        "_question",
        "_question_size",
        "_queue",
        "_stats",
    )

    def __init__(
        self,
        config: Config,
        local: LocalMember,
        members: MemberTable,
        order: ProbeOrder,
        stats: Counter[str],
    ) -> None:
        self._config = config
        self._stats = stats
        self._local = local
        self._members = members
        self._order = order
        self._queue = BroadcastQueue(codec.update_size, config.max_broadcasts)
        self._answering: Addr | None = None
        self._question: Message | None = None
        self._question_size: int | None = None

    def __len__(self) -> int:
        """How many updates wait to be sent."""
        return len(self._queue)

    def push(self, update: Update, *, quiet: bool = False) -> None:
        """Queue ``update`` for gossip, replacing older news of the same member; a full queue
        lets its most-sent update go (counted as ``dropped:broadcast-cap``).

        A ``quiet`` update gets no gossip round of its own: it rides on the pings, acks and
        gossip that go out anyway (as if the round had been sent).
        """
        sends = self._config.gossip_nodes if quiet else 0
        if self._queue.push(update, sends):
            self._stats["dropped:broadcast-cap"] += 1

    def discard(self, addr: Addr) -> None:
        """Forget queued news of ``addr`` (a reaped member)."""
        self._queue.discard(addr)

    def send(self, to: Addr, msg: Piggybacking, fx: Effects, first: Update | None = None) -> None:
        """Send ``msg`` to ``to`` with as many queued updates piggybacked as fit, ``first`` (by
        default, what ``to`` must hear first from us) in front."""
        if first is None:
            first = self.belief_about(to)
        if first is not None or self._queue:  # else there is nothing to piggyback
            base = codec.base_size(msg) + sum(map(codec.update_size, msg.updates))
            room = self._room(base)
            if to == self._answering:
                # A non-member gets back no more gossip than fits in what it sent us.
                room = min(room, self._allowance() - base - _ARRAY_GROWTH)
            updates = self._queue.take(room, self._retransmit_limit(), first=first)
            if updates:
                msg = _with_updates(msg, updates)
        fx.sends.append(Send(to=to, data=codec.encode(msg)))

    def answering(self, src: Addr, msg: Message) -> None:
        """We are handling ``msg`` from ``src``, a non-member: until :meth:`answered`, what we
        piggyback on anything sent to ``src`` fits in the size of ``msg``, so that a forged
        source cannot make us an amplifier."""
        self._answering, self._question, self._question_size = src, msg, None

    def answered(self) -> None:
        """The message of :meth:`answering` has been handled."""
        self._answering = self._question = None

    def _allowance(self) -> int:
        # Encoded only when something is sent back: most questions get no answer at all.
        if self._question_size is None:
            self._question_size = len(codec.encode(self._question))  # type: ignore[arg-type]
        return self._question_size

    def ack(
        self,
        to: Addr,
        seq: int,
        fx: Effects,
        first: Update | None = None,
        coordinate: Coordinate | None = None,
    ) -> None:
        """Answer ping ``seq`` from ``to`` with our fingerprint and member count (and our
        coordinate, when it is given)."""
        members = self._members
        ack = Ack(
            seq=seq,
            fingerprint=members.fingerprint(),
            members=members.counted,
            coordinate=coordinate,
        )
        self.send(to, ack, fx, first)

    def has_news(self) -> bool:
        """Whether an update waits that no gossip round has pushed yet: one sent fewer than
        ``gossip_nodes`` times. Older ones ride on pings and acks, which go out anyway."""
        fewest = self._queue.fewest_sends()
        return fewest is not None and fewest < self._config.gossip_nodes

    def gossip(self, fanout: int, fx: Effects, *, first: Update | None = None) -> None:
        """Send queued updates to ``fanout`` random peers, a Gossip datagram each; ``first``
        (news of ourselves) goes in front, else what each peer must hear first."""
        limit = self._retransmit_limit()
        room = self._room(_GOSSIP_BASE)
        for target in self._order.sample(fanout, self._local.is_peer):
            lead = first if first is not None else self.belief_about(target)
            updates = self._queue.take(room, limit, first=lead)
            if updates:
                fx.sends.append(Send(to=target, data=codec.encode(Gossip(updates=updates))))

    def belief_about(self, addr: Addr) -> Update | None:
        """What a member must hear first from us: that we left (everyone, so that a member
        checking second-hand news of it hears it from us), that we suspect or buried it (so it
        can refute), or, when it is a stranger, who we are."""
        if self._local.leaving:
            return self._local.record
        member = self._members.get(addr)
        if member is None:
            return self._local.record
        if member.state != MemberState.ALIVE:
            return member.changed(origin=self._local.addr)
        return None

    def _room(self, base: int) -> int:
        """Bytes left for piggybacked updates in a datagram whose other content takes
        ``base``: exactly what keeps the encoding within ``max_datagram``."""
        return self._config.max_datagram - base - _ARRAY_GROWTH

    def _retransmit_limit(self) -> int:
        return self._config.retransmit_limit(self._members.counted)


def _with_updates(msg: Piggybacking, updates: tuple[Update, ...]) -> Piggybacking:
    """``msg`` with ``updates`` after its own (built directly: replace() is slower)."""
    updates = msg.updates + updates
    if isinstance(msg, Ping):
        return Ping(seq=msg.seq, updates=updates)
    if isinstance(msg, Ack):
        return Ack(
            seq=msg.seq,
            fingerprint=msg.fingerprint,
            members=msg.members,
            coordinate=msg.coordinate,
            updates=updates,
        )
    if isinstance(msg, PingReq):
        return PingReq(seq=msg.seq, target=msg.target, updates=updates)
    if isinstance(msg, Nack):
        return Nack(seq=msg.seq, updates=updates)
    return Gossip(updates=updates)
