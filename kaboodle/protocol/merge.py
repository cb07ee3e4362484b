"""The rules of the view: how an update about a member changes what this node believes.

SWIM's ordering by incarnation: only a member raises its own incarnation; alive at a higher
incarnation overrides suspect; suspect overrides alive at the same or a lower incarnation; dead
and left override both and are final for that incarnation, so stale gossip cannot revive a
buried member. Updates about ourselves are refuted by raising our incarnation.

A "left" is final at once only when the member itself says so. Heard from anyone else it is
spread on but believed only if the member does not refute it within a probe interval: anyone
can claim that someone else left, and a forged claim must not remove a live member, not even
for the moment it takes to refute.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable

from .addr import Addr
from .awareness import Awareness
from .config import Config
from .effects import Effects, SetTimer
from .events import PeerFailed, PeerJoined, PeerLeft, PeerSuspected, PeerUpdated
from .local import LocalMember, tags_size
from .members import MemberTable
from .messages import Gossip, MemberState, Update
from .outbox import Outbox
from .probe_order import ProbeOrder
from .suspicion import Suspicion
from .timers import DepartureCheck, SuspicionTimeout

__all__ = ["LAST_CALLS", "LastCall", "Merger"]

LAST_CALLS = 2
"""Probes a suspicion holder sends the suspect before burying it; each is an independent
chance (direct ping and ping-reqs) for a live suspect to show its refutation."""

ALIVE, SUSPECT, DEAD, LEFT = MemberState

LastCall = Callable[[float, Addr, Update | None, Effects], None]
"""``last_call(now, member, news, fx)``: probe a member once more before it is buried, with
``news`` (what we heard of it) in front, else what we believe of it."""


class Merger:
    """Applies updates to a node's member table and runs its suspicions.

    Args:
        config: protocol settings (limits, suspicion timeouts).
        local: this node: updates about it are refuted through it.
        members: the member table the rules apply to.
        order: the probe order, which members that start to count join.
        awareness: local health, raised when we must refute a suspicion of ourselves.
        outbox: where news worth spreading is queued, and accusations go out.
        stats: the node's counters.
        last_call: probes a member once more before it is buried (a suspect, or one said to
            have left).
    """

    __slots__ = (
        "_awareness",
        "_config",
        "_last_call",
        "_last_suspicion",
        "_local",
        "_members",
        "_order",
        "_outbox",
        "_stats",
        "_token",
        "departures",
        "outdated_about_us",
        "suspicions",
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
        last_call: LastCall,
    ) -> None:
        self._config = config
        self._local = local
        self._members = members
        self._order = order
        self._awareness = awareness
        self._outbox = outbox
        self._stats = stats
        self._last_call = last_call
        self.suspicions: dict[Addr, Suspicion] = {}
        # Members said second-hand to have left, and at which incarnation, until they refute.
        self.departures: dict[Addr, int] = {}
        self._token = 0
        self._last_suspicion = -math.inf
        # Set when an update showed that its sender holds an outdated suspicion of us.
        self.outdated_about_us = False

    def updates(
        self,
        now: float,
        updates: Iterable[Update],
        fx: Effects,
        *,
        src: Addr | None = None,
        via_sync: bool = False,
        spread: bool | None = None,
    ) -> None:
        """Apply a batch sent by ``src``: gossip is spread further; synced state is not (its
        sender has it) unless ``spread`` says so."""
        if spread is None:
            spread = not via_sync
        for update in updates:
            if via_sync and update.state == DEAD:
                # Prefer to suspect: the member may be alive and able to refute (memberlist's
                # rule for merged state), which is also how partitions heal.
                member = self._members.get(update.addr)
                if member is not None and member.counted:
                    self.update(now, update.changed(state=SUSPECT), fx, spread=True, src=src)
                    continue
            self.update(now, update, fx, spread=spread, src=src)

    def update(
        self, now: float, update: Update, fx: Effects, *, spread: bool, src: Addr | None = None
    ) -> bool:
        """Apply one update, sent by ``src`` (None: we concluded it ourselves); True if it made
        a member count that did not count before."""
        cfg = self._config
        if len(update.identity) > cfg.max_identity or (
            update.tags and tags_size(update.tags) > cfg.max_tags
        ):
            self._stats["dropped:update-too-large"] += 1
            return False
        if update.addr == self._local.addr:
            self._about_self(now, update, fx)
            return False
        member = self._members.get(update.addr)
        if update.state == ALIVE:
            return self._alive(now, member, update, fx, spread)
        if update.origin is not None and update.state != LEFT:
            accuser = self._members.state_of(update.origin)
            if accuser is not None and accuser != ALIVE:
                # An accusation from a member we suspect or buried: it has been out of touch
                # with us (the other side of a partition, or it is the slow one) and its news
                # of our side is stale.
                self._stats["ignored:accuser-dead"] += 1
                return False
        if member is None:
            if update.state != SUSPECT and len(self._members) < cfg.max_members:
                if len(self._members.tombstones) >= cfg.max_tombstones:
                    self._stats["dropped:tombstone-cap"] += 1
                    return False
                # A tombstone, so that older news of this member cannot bring it back.
                self._members.add(update, now)
            return False
        if update.state == LEFT and src != update.addr and member.counted:
            self._departure(now, member, update, fx, spread)
        elif update.state == SUSPECT:
            self._suspect(now, member, update, fx, spread)
        elif update.state == DEAD and (member.state == ALIVE or self._local.frozen(now)):
            # News of a death we never suspected may be stale: from the other side of a healed
            # partition, or read by us late after we were frozen. Suspect it on the shortest
            # timeout instead: a live member refutes in time, a dead one is buried soon after.
            self._suspect(now, member, update.changed(state=SUSPECT), fx, spread, strong=True)
        else:
            self._bury(now, member, update, fx, spread)
        return False

    def accuse(self, now: float, addr: Addr, fx: Effects) -> None:
        """Our probe of ``addr`` went unanswered: suspect it (or confirm our suspicion)."""
        member = self._members.get(addr)
        if member is None or not member.counted or self._local.leaving or self._local.frozen(now):
            return
        # Suspecting a member that is already suspect confirms the suspicion independently.
        suspicion = Update(
            addr=member.addr,
            state=SUSPECT,
            incarnation=member.incarnation,
            identity=member.identity,
            origin=self._local.addr,
        )
        self.update(now, suspicion, fx, spread=True)
        # Lifeguard's buddy system: tell the suspect at once, so that a slow node refutes.
        self._outbox.send(member.addr, Gossip(updates=(suspicion,)), fx)

    def suspicion_expired(self, now: float, timer: SuspicionTimeout, fx: Effects) -> None:
        """A suspicion timer came due: ask the suspect one last time, then declare it dead.

        Gossip of a refutation can miss a node (under heavy loss it does, now and then), so in
        the last probe intervals before the deadline we probe the suspect (LAST_CALLS times)
        with our suspicion in front; a live suspect answers with its refutation, which clears
        the suspicion before it expires. Only holders the refutation missed get this far.
        """
        suspicion = self.suspicions.get(timer.addr)
        if suspicion is None or suspicion.token != timer.token:
            return
        member = self._members.get(timer.addr)
        if member is None or member.state != SUSPECT:
            return
        if suspicion.calls_left:
            if now < suspicion.deadline - self._last_call_lead(suspicion):
                # Early: our health got better since the timer was set (a shorter lead). A
                # suspicion without a timer would never end.
                self._schedule(suspicion, member, fx)
                return
            suspicion.calls_left -= 1
            self._last_call(now, member.addr, None, fx)
            self._schedule(suspicion, member, fx)
            return
        if now < suspicion.deadline:
            self._schedule(suspicion, member, fx)
            return
        if self._local.frozen(now):
            # We were frozen: the refutation may be waiting in our input. Look again soon.
            fx.timers.append(SetTimer(at=self._local.frozen_until, timer=timer))
            return
        self._bury(
            now, member, member.changed(state=DEAD, origin=self._local.addr), fx, spread=True
        )

    def departure_due(self, now: float, timer: DepartureCheck, fx: Effects) -> None:
        """A member said second-hand to have left had its chance to refute: bury it as left,
        unless it refuted (or left first-hand) meanwhile."""
        if self.departures.get(timer.addr) != timer.incarnation:
            return
        if self._local.frozen(now):
            # We were frozen: its refutation may be waiting in our input.
            fx.timers.append(SetTimer(at=self._local.frozen_until, timer=timer))
            return
        del self.departures[timer.addr]
        member = self._members.get(timer.addr)
        if member is not None:
            left = member.changed(state=LEFT, incarnation=timer.incarnation, origin=None)
            self._bury(now, member, left, fx, spread=False)  # spread when first heard

    def reprieve(self, now: float, addr: Addr, fx: Effects) -> None:
        """The suspect answered our last call, yet no refutation reached us (lost, or the
        answer came through a helper that had not heard it): it is alive, so run the
        suspicion again rather than bury a member that just spoke."""
        suspicion = self.suspicions.get(addr)
        member = self._members.get(addr)
        if suspicion is None or member is None or member.state != SUSPECT:
            return
        self._stats["reprieves"] += 1
        suspicion.start = now
        suspicion.calls_left = LAST_CALLS
        self._schedule(suspicion, member, fx)

    def _alive(
        self, now: float, member: Update | None, update: Update, fx: Effects, spread: bool
    ) -> bool:
        if member is None:
            if len(self._members) >= self._config.max_members:
                self._stats["dropped:table-full"] += 1
                return False
            self._members.add(update, now)
            self._order.add(update.addr)
            fx.events.append(_joined(update))
            joined, quiet = True, False
        elif update.incarnation <= member.incarnation:
            return False
        else:
            joined = not member.counted
            noticed = member.state == SUSPECT or (member.identity, member.tags) != (
                update.identity,
                update.tags,
            )
            # A new incarnation that changes nothing in our view (a refutation of a suspicion
            # that never reached us) is news only to those who hold the suspicion or a claim
            # that it left, and they spread it in their own rounds: here it rides on what goes
            # out anyway. Under loss most refutations are such news to most of the mesh. Not
            # in a churning mesh, where we heard of another suspicion lately: there many
            # refutations race their timeouts, and the holders alone spread them too slowly.
            quiet = not (joined or noticed or update.addr in self.departures) and self._calm(now)
            self._members.put(update, now)
            self.suspicions.pop(update.addr, None)
            self.departures.pop(update.addr, None)
            if joined:
                self._order.add(update.addr)
                fx.events.append(_joined(update))
            elif noticed:
                fx.events.append(
                    PeerUpdated(
                        addr=update.addr,
                        identity=update.identity,
                        incarnation=update.incarnation,
                        state=ALIVE,
                        tags=update.tags,
                        old_tags=member.tags,
                    )
                )
        if spread:
            self._outbox.push(update, quiet=quiet)
        return joined

    def _suspect(
        self,
        now: float,
        member: Update,
        update: Update,
        fx: Effects,
        spread: bool,
        *,
        strong: bool = False,
    ) -> None:
        if not member.counted or update.incarnation < member.incarnation:
            return
        origin = update.origin if update.origin is not None else update.addr
        if member.state == SUSPECT and update.incarnation == member.incarnation:
            suspicion = self.suspicions.get(member.addr)
            if suspicion is not None and suspicion.confirm(origin):
                self._schedule(suspicion, member, fx)
                if spread:
                    self._outbox.push(update)
            return
        member = self._members.put(
            member.changed(state=SUSPECT, incarnation=update.incarnation, origin=None), now
        )
        cfg = self._config
        minimum, maximum = cfg.suspicion_bounds(self._members.counted)
        expected = cfg.suspicion_confirmations
        if strong or self._members.counted - 2 < expected:
            expected = 0  # confirmed already, or too few members to wait for confirmations
        self._token += 1
        suspicion = Suspicion(
            incarnation=update.incarnation,
            origin=origin,
            start=now,
            minimum=minimum,
            maximum=maximum,
            expected=expected,
            token=self._token,
            calls=LAST_CALLS,
        )
        self.suspicions[member.addr] = suspicion
        self._last_suspicion = now
        self._stats["suspicions"] += 1
        self._schedule(suspicion, member, fx)
        fx.events.append(
            PeerSuspected(
                addr=member.addr, incarnation=update.incarnation, identity=member.identity
            )
        )
        if spread:
            self._outbox.push(update)

    def _departure(
        self, now: float, member: Update, update: Update, fx: Effects, spread: bool
    ) -> None:
        """Second-hand news that ``member`` left: pass it on, and ask the member. A live one
        refutes it (the news goes in front of our ping); a leaving one answers with its own
        "left", which is final; one already gone does not answer and is buried when the
        check comes due, a probe interval later."""
        if update.incarnation < member.incarnation:
            return
        if self.departures.get(member.addr, -1) >= update.incarnation:
            return
        self.departures[member.addr] = update.incarnation
        if spread:
            self._outbox.push(update)
        self._last_call(now, member.addr, update, fx)
        at = now + self._awareness.scale(self._config.probe_interval)
        check = DepartureCheck(addr=member.addr, incarnation=update.incarnation)
        fx.timers.append(SetTimer(at=at, timer=check))

    def _bury(self, now: float, member: Update, update: Update, fx: Effects, spread: bool) -> None:
        if not member.counted or update.incarnation < member.incarnation:
            return
        self.departures.pop(member.addr, None)
        state = LEFT if update.state == LEFT else DEAD
        self._members.put(
            member.changed(state=state, incarnation=update.incarnation, origin=None), now
        )
        self.suspicions.pop(member.addr, None)
        for addr in self._members.trim_tombstones(self._config.max_tombstones, self._local.addr):
            self._stats["dropped:tombstone-cap"] += 1
            self._outbox.discard(addr)
        if state == LEFT:
            fx.events.append(
                PeerLeft(addr=member.addr, incarnation=update.incarnation, identity=member.identity)
            )
        else:
            fx.events.append(
                PeerFailed(
                    addr=member.addr, incarnation=update.incarnation, identity=member.identity
                )
            )
        if spread:
            self._outbox.push(update)

    def _about_self(self, now: float, update: Update, fx: Effects) -> None:
        if self._local.leaving:
            return
        me = self._local.record
        if update.state == ALIVE:
            stale = update.incarnation < me.incarnation or (
                update.incarnation == me.incarnation
                and (update.identity, update.tags) == (me.identity, me.tags)
            )
            if stale:
                return
        elif update.incarnation < me.incarnation:
            # The sender still holds a suspicion we already refuted; the node answers it.
            self.outdated_about_us = True
            return
        elif update.state in (SUSPECT, DEAD):
            self._awareness.apply(1)
        self._refute(now, max(update.incarnation, me.incarnation))

    def _refute(self, now: float, incarnation: int) -> None:
        """Someone believes us suspect or dead at ``incarnation``: outrank it and say so."""
        self._stats["refuted"] += 1
        self._outbox.push(self._local.change(now, state=ALIVE, incarnation=incarnation + 1))

    def _schedule(self, suspicion: Suspicion, member: Update, fx: Effects) -> None:
        timer = SuspicionTimeout(
            addr=member.addr, incarnation=suspicion.incarnation, token=suspicion.token
        )
        due = suspicion.deadline
        if suspicion.calls_left:
            due = max(suspicion.start, due - self._last_call_lead(suspicion))
        fx.timers.append(SetTimer(at=due, timer=timer))

    def _calm(self, now: float) -> bool:
        """No suspicion began here within the longest a suspicion runs."""
        _, longest = self._config.suspicion_bounds(self._members.counted)
        return now - self._last_suspicion >= longest

    def _last_call_lead(self, suspicion: Suspicion) -> float:
        # Room for a whole probe, ping-reqs included, before each remaining call: stretched
        # by local health as the probe's own timeouts are, or a slow node's last call would
        # still wait for its ping-reqs' answers when the suspicion runs out.
        return self._awareness.scale(self._config.probe_interval) * suspicion.calls_left


def _joined(update: Update) -> PeerJoined:
    return PeerJoined(
        addr=update.addr, identity=update.identity, incarnation=update.incarnation, tags=update.tags
    )
