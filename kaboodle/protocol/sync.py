"""Push-pull state exchange: splitting a full state into datagrams, and deciding when to sync.

Gossip is fast but lossy; a full-state exchange repairs whatever it missed. A node syncs when it
hears a newcomer announce itself (a few of the members it will not hear repeat their announce
push, a number independent of N), when an ack reports a fingerprint that differs from its
own, and now and then with a random member.
"""

from __future__ import annotations

import random
from collections import Counter, OrderedDict
from collections.abc import Collection, Sequence

from . import codec
from .addr import Addr
from .config import Config
from .effects import Effects, Send, SetTimer
from .local import LocalMember
from .members import MemberTable
from .messages import MemberState, Sync, Update
from .probe_order import ProbeOrder
from .recent_joins import RecentJoins
from .timers import PushPullTick, WelcomeDue
from .view_watch import ViewWatch

__all__ = ["StateSync", "fits_one_part", "initiates_repair", "split_state"]

# An empty Sync's encoding, plus the two bytes by which its members array header may grow.
_SYNC_OVERHEAD = (
    len(codec.encode(Sync(exchange=0, index=0, count=0, reply=False, fingerprint=0, members=())))
    + 2
)
# The smallest record a state can hold: IPv4, incarnation 0, no identity, no tags.
_SMALLEST_UPDATE = codec.update_size(
    Update(addr=Addr.from_ip("0.0.0.0", 0), state=MemberState.ALIVE, incarnation=0, identity=b"")
)
_SYNC_FIELDS_MAX = 9 + 3 + 3  # widest exchange, index and count encodings beyond the empty ones


def split_state(
    members: Sequence[Update], *, exchange: int, reply: bool, fingerprint: int, budget: int
) -> list[Sync]:
    """Split ``members`` into Sync parts whose encodings each fit ``budget`` bytes."""
    room = _room(budget)
    chunks: list[list[Update]] = [[]]
    used = 0
    for update in members:
        size = codec.update_size(update)
        if chunks[-1] and used + size > room:
            chunks.append([])
            used = 0
        chunks[-1].append(update)
        used += size
    count = len(chunks)
    return [
        Sync(
            exchange=exchange,
            index=index,
            count=count,
            reply=reply,
            fingerprint=fingerprint,
            members=tuple(chunk),
        )
        for index, chunk in enumerate(chunks)
    ]


def fits_one_part(members: Collection[Update], budget: int) -> bool:
    """Whether ``members`` make one Sync part of at most ``budget`` bytes (looks at no more
    members than one part can hold, and at none when even the smallest would not fit)."""
    room = _room(budget)
    if len(members) * _SMALLEST_UPDATE > room:
        return False  # the common case, asked at every announce heard
    used = 0
    for update in members:
        used += codec.update_size(update)
        if used > room:
            return False
    return True


def _room(budget: int) -> int:
    # What the members of one Sync part may take of its budget.
    return budget - _SYNC_OVERHEAD - _SYNC_FIELDS_MAX


def initiates_repair(
    ours: tuple[int, int], theirs: tuple[int, int], self_addr: Addr, peer: Addr
) -> bool:
    """Whether we, not the peer, start the sync when our (fingerprint, count) views differ.

    The side that sees fewer members pulls; on a tie the lower address does. Exactly one side
    initiates, so two nodes never answer each other's sync with another sync.
    """
    (our_fp, our_count), (their_fp, their_count) = ours, theirs
    if our_fp == their_fp:
        return False
    if our_count != their_count:
        return our_count < their_count
    return self_addr.sort_key < peer.sort_key


_REPLIED_MEMORY = 256  # exchanges remembered, so a duplicated part is answered only once
_REPLY_WINDOW = 5.0  # seconds over which at most Config.max_sync_replies replies are sent
_CATCH_UP_PERIODS = 10  # probe periods after its start in which a node exchanges eagerly


class StateSync:
    """A node's push-pull exchanges: when to start one, and answering others'.

    Args:
        config: protocol settings (datagram budget, push-pull period, backoff).
        local: this node (only peers get our state; a leaving node starts no exchange).
        members: the member table whose state is exchanged.
        order: the probe order, which periodic exchange partners are drawn from.
        view: when the view last changed (a repair waits until it has been still).
        rng: the node's randomness.
        stats: the node's counters.
    """

    __slots__ = (
        "_catch_up_from",
        "_catch_up_until",
        "_caught_up",
        "_config",
        "_joins",
        "_last_pull",
        "_last_repair",
        "_local",
        "_members",
        "_order",
        "_replied",
        "_reply_times",
        "_rng",
        "_stats",
        "_view",
    )

    def __init__(
        self,
        *,
        config: Config,
        local: LocalMember,
        members: MemberTable,
        order: ProbeOrder,
        view: ViewWatch,
        rng: random.Random,
        stats: Counter[str],
    ) -> None:
        self._config = config
        self._local = local
        self._members = members
        self._order = order
        self._rng = rng
        self._stats = stats
        self._view = view
        self._last_repair = float("-inf")
        self._last_pull = float("-inf")
        self._joins = RecentJoins(config.announce_repeat)
        self._catch_up_from = float("-inf")
        self._catch_up_until = float("-inf")
        self._caught_up = False
        self._replied: OrderedDict[tuple[Addr, int], None] = OrderedDict()
        self._reply_times: list[float] = []

    def start(self, now: float) -> None:
        """The node starts listening to the group now."""
        # Until the members that started less than announce_repeat before us have repeated
        # their announces, a view that differs from ours proves nothing.
        self._catch_up_from = now + self._config.announce_repeat
        self._catch_up_until = now + _CATCH_UP_PERIODS * self._config.probe_interval
        self._caught_up = False

    def received(self, now: float, msg: Sync) -> None:
        """A part of another member's full state was merged."""
        # Before our start's repeat, the sender may be one that started just before us,
        # which lacks what we lack: a view equal to its own proves nothing yet.
        if now >= self._catch_up_from and msg.fingerprint == self._members.fingerprint():
            self._caught_up = True  # with this sender, which may itself be behind

    def push(
        self, now: float, to: Addr, fx: Effects, *, reply: bool, leave_out: set[Addr] | None = None
    ) -> None:
        """Send our whole state to ``to``; ``reply`` asks it to push its own back.
        ``leave_out``: members not to send."""
        members = list(self._members)
        if leave_out:
            members = [m for m in members if m.addr not in leave_out]
        parts = split_state(
            members,
            exchange=self._rng.getrandbits(32),
            reply=reply,
            fingerprint=self._members.fingerprint(),
            budget=self._config.max_datagram,
        )
        self._stats["sync-sent"] += 1
        self._stats["sync-parts-sent"] += len(parts)
        for part in parts:
            fx.sends.append(Send(to=to, data=codec.encode(part)))

    def welcome(self, now: float, newcomer: Addr, fx: Effects, *, repeat_pending: bool) -> None:
        """A newcomer announced itself to the whole group: push it our state with the chance
        that makes about ``sync_pushers`` members push, however large the mesh, after a random
        wait of up to ``welcome_delay``. ``repeat_pending``: the repeat of our own start's
        announce is still to come.

        The newcomer missed every announce made before it listened, but it hears the repeats
        of those made less than ``announce_repeat`` before (:class:`.announcer.Announcer`). So
        a node whose repeat is to come pushes nothing, and the chance is the share of the
        members whose announces are past: those we count, less those that joined by an
        announce within the last ``announce_repeat``. The push leaves out the members whose
        first announce we heard within it. That is what makes a start storm cheap: nodes that
        start within ``announce_repeat`` of each other learn each other from the announces
        and push nothing to each other (2,000 nodes started over a second sent 3.3 full states
        per node, 26 datagrams each, before). One that knows nobody else has nothing to offer.

        A state that fits one datagram is pushed whole all the same, repeat or not: it costs
        one datagram, as the newcomer's announce did, and saves a small mesh that starts
        together (eight containers over a second) waiting for the repeats.

        The wait spreads the pushes a storm of newcomers asks of a mesh; when it is over, the
        decision is thinned to the share as it is then. The push asks for no reply: the
        newcomer heard nothing that we did not, and one whose view still differs afterwards
        exchanges by itself (:meth:`repair`).
        """
        # Once our repeat went out we have listened for longer than announce_repeat, so this
        # is the newcomer's first announce: a repeat would have followed one we heard. Before,
        # it may be a repeat, whose first announce a newcomer after us missed.
        self._joins.joined(now, newcomer, first=not repeat_pending)
        if repeat_pending and not self._fits_one_part():
            return
        share = self._welcome_share(now)
        if self._rng.random() >= share:
            return
        delay = self._config.welcome_delay
        if delay <= 0:
            self._push_welcome(now, newcomer, fx, repeat_pending=repeat_pending)
            return
        due = WelcomeDue(newcomer=newcomer, share=share)
        fx.timers.append(SetTimer(at=now + self._rng.uniform(0, delay), timer=due))

    def welcome_due(
        self, now: float, timer: WelcomeDue, fx: Effects, *, repeat_pending: bool
    ) -> None:
        """The wait before a welcome push is over: push, with the chance that thins the
        decision taken then to the share as it is now, and as :meth:`welcome` would now."""
        share = self._welcome_share(now)
        if not self._members.counts(timer.newcomer) or self._rng.random() * timer.share >= share:
            return
        self._push_welcome(now, timer.newcomer, fx, repeat_pending=repeat_pending)

    def _push_welcome(
        self, now: float, newcomer: Addr, fx: Effects, *, repeat_pending: bool
    ) -> None:
        if self._fits_one_part():
            self.push(now, newcomer, fx, reply=False)
        elif not repeat_pending:
            # The newcomer hears the repeats of the members whose first announce came lately.
            self.push(now, newcomer, fx, reply=False, leave_out=self._joins.firsts(now))

    def _fits_one_part(self) -> bool:
        return fits_one_part(self._members, self._config.max_datagram)

    def _welcome_share(self, now: float) -> float:
        counted = self._members.counted
        if counted < 2 or self._local.leaving:
            return 0.0
        older = max(1, counted - self._joins.count(now))
        return min(1.0, self._config.sync_pushers / older)

    def answer(self, now: float, src: Addr, msg: Sync, fx: Effects) -> None:
        """Push our state back for a Sync that asks for it: to members only, once per
        exchange, and at most ``max_sync_replies`` times per 5 s (a forged request must not
        make us a traffic amplifier)."""
        if not msg.reply or self._local.leaving or not self._members.counts(src):
            return
        key = (src, msg.exchange)
        if key in self._replied:
            return
        self._replied[key] = None
        if len(self._replied) > _REPLIED_MEMORY:
            self._replied.popitem(last=False)
        self._reply_times = [t for t in self._reply_times if t > now - _REPLY_WINDOW]
        if len(self._reply_times) >= self._config.max_sync_replies:
            self._stats["dropped:sync-rate"] += 1
            return
        self._reply_times.append(now)
        self.push(now, src, fx, reply=False)

    def repair(
        self, now: float, peer: Addr, theirs: tuple[int, int], fx: Effects, *, force: bool
    ) -> None:
        """An ack showed ``peer``'s (fingerprint, count); exchange state if the views differ
        and it is our turn (``force``: a contact we made on purpose, always exchange)."""
        ours = (self._members.fingerprint(), self._members.counted)
        if ours[0] == theirs[0]:
            return
        if not force:
            if now < self._catch_up_from:
                return
            if now < self._catch_up_until:
                # A newcomer that no full state has caught up yet (no welcome push reached
                # it, or only one from a member still catching up itself) exchanges as soon
                # as it sees a differing view with as many members as its own: waiting for
                # the view to settle, for its turn or for the backoff would wait out the
                # storm. One with fewer is behind us, and pulls itself. An ack that shows the
                # same view proves little here: the other may lack the same members.
                # Once a full state left us caught up with its sender, only a view with more
                # members than ours shows what that sender lacked too.
                needed = ours[1] + self._caught_up
                if theirs[1] >= needed and now - self._last_pull >= self._config.probe_interval:
                    self._last_pull = now
                    self.push(now, peer, fx, reply=True)
                return
            if not initiates_repair(ours, theirs, self._local.addr, peer):
                return
            # While the view still moves, gossip is doing the work; sync once it has settled.
            if now - self._view.changed_at < self._config.probe_interval:
                return
            if now - self._last_repair < self._config.sync_backoff:
                return
            # Only mismatch repairs count against the backoff: a contact's exchange (a seed,
            # a stranger in a start storm) must not hold back the repair that follows it.
            self._last_repair = now
        self.push(now, peer, fx, reply=True)

    def periodic(self, now: float, fx: Effects) -> None:
        """The push-pull tick: exchange state with one random member now and then."""
        # Jittered ticks keep nodes that started together from syncing all at once; above 32
        # members a tick pushes only with the chance that stretches the mean period to
        # push_pull_period(N), so the mesh's sync load stays bounded as it grows.
        interval = self._config.push_pull_interval
        at = now + interval * self._rng.uniform(0.5, 1.5)
        fx.timers.append(SetTimer(at=at, timer=PushPullTick()))
        share = interval / self._config.push_pull_period(self._members.counted)
        if self._local.leaving or self._rng.random() >= share:
            return
        for target in self._order.sample(1, self._local.is_peer):
            self.push(now, target, fx, reply=True)
