"""The rules of the view: how an update about a member changes what this node believes.

SWIM's ordering by incarnation: only a member raises its own incarnation; alive at a higher
incarnation overrides suspect; suspect overrides alive at the same or a lower incarnation; dead
and left override both and are final for that incarnation, so stale gossip cannot revive a
buried member. Updates about ourselves are refuted by raising our incarnation.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from .addr import Addr
from .detector import LAST_CALL
from .effects import Effects, SetTimer
from .events import PeerFailed, PeerJoined, PeerLeft, PeerSuspected, PeerUpdated
from .messages import MemberState, Update
from .suspicion import Suspicion
from .timers import SuspicionTimeout

if TYPE_CHECKING:
    from .node import Node

__all__ = ["LAST_CALLS", "Merger"]

LAST_CALLS = 2
"""Probes a suspicion holder sends the suspect before burying it; each is an independent
chance (direct ping and ping-reqs) for a live suspect to show its refutation."""

ALIVE, SUSPECT, DEAD, LEFT = MemberState


class Merger:
    """Applies updates to a node's member table and runs its suspicions."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self.suspicions: dict[Addr, Suspicion] = {}
        self._token = 0
        # Set when an update showed that its sender holds an outdated suspicion of us.
        self.outdated_about_us = False

    def updates(
        self, now: float, updates: Iterable[Update], fx: Effects, *, via_sync: bool = False
    ) -> None:
        """Apply a batch: gossip is spread further; synced state is not (its sender has it)."""
        for update in updates:
            if via_sync and update.state == DEAD:
                # Prefer to suspect: the member may be alive and able to refute (memberlist's
                # rule for merged state), which is also how partitions heal.
                member = self._node.members.get(update.addr)
                if member is not None and member.counted:
                    self.update(now, update.changed(state=SUSPECT), fx, spread=True)
                    continue
            self.update(now, update, fx, spread=not via_sync)

    def update(self, now: float, update: Update, fx: Effects, *, spread: bool) -> bool:
        """Apply one update; True if it made a member count that did not count before."""
        node = self._node
        cfg = node.config
        if len(update.identity) > cfg.max_identity or _tags_size(update) > cfg.max_tags:
            node.stats["dropped:update-too-large"] += 1
            return False
        if update.addr == node.addr:
            self._about_self(now, update, fx)
            return False
        member = node.members.get(update.addr)
        if update.state == ALIVE:
            return self._alive(now, member, update, fx, spread)
        if update.origin is not None and update.state != LEFT:
            accuser = node.members.state_of(update.origin)
            if accuser is not None and accuser != ALIVE:
                # An accusation from a member we suspect or buried: it has been out of touch
                # with us (the other side of a partition, or it is the slow one) and its news
                # of our side is stale.
                node.stats["ignored:accuser-dead"] += 1
                return False
        if member is None:
            if update.state != SUSPECT and len(node.members) < cfg.max_members:
                # A tombstone, so that older news of this member cannot bring it back.
                node.members.add(update, now)
            return False
        if update.state == SUSPECT:
            self._suspect(now, member, update, fx, spread)
        elif update.state == DEAD and (member.state == ALIVE or now < node.frozen_until):
            # News of a death we never suspected may be stale: from the other side of a healed
            # partition, or read by us late after we were frozen. Suspect it on the shortest
            # timeout instead: a live member refutes in time, a dead one is buried soon after.
            self._suspect(now, member, update.changed(state=SUSPECT), fx, spread, strong=True)
        else:
            self._bury(now, member, update, fx, spread)
        return False

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
        node = self._node
        member = node.members.get(timer.addr)
        if member is None or member.state != SUSPECT:
            return
        if suspicion.calls_left:
            if now < suspicion.deadline - self._last_call_lead(suspicion):
                return
            suspicion.calls_left -= 1
            node._detector.ping(now, member.addr, fx, LAST_CALL)
            self._schedule(suspicion, member, fx)
            return
        if now < suspicion.deadline:
            return
        if now < node.frozen_until:
            # We were frozen: the refutation may be waiting in our input. Look again soon.
            fx.timers.append(SetTimer(node.frozen_until, timer))
            return
        self._bury(now, member, member.changed(state=DEAD, origin=node.addr), fx, spread=True)

    def reprieve(self, now: float, addr: Addr, fx: Effects) -> None:
        """The suspect answered our last call, yet no refutation reached us (lost, or the
        answer came through a helper that had not heard it): it is alive, so run the
        suspicion again rather than bury a member that just spoke."""
        suspicion = self.suspicions.get(addr)
        member = self._node.members.get(addr)
        if suspicion is None or member is None or member.state != SUSPECT:
            return
        self._node.stats["reprieves"] += 1
        suspicion.start = now
        suspicion.calls_left = LAST_CALLS
        self._schedule(suspicion, member, fx)

    def _alive(
        self, now: float, member: Update | None, update: Update, fx: Effects, spread: bool
    ) -> bool:
        node = self._node
        if member is None:
            if len(node.members) >= node.config.max_members:
                node.stats["dropped:table-full"] += 1
                return False
            node.members.add(update, now)
            node._track(update.addr)
            fx.events.append(_joined(update))
            joined = True
        elif update.incarnation <= member.incarnation:
            return False
        else:
            joined = not member.counted
            noticed = member.state == SUSPECT or (member.identity, member.tags) != (
                update.identity,
                update.tags,
            )
            node.members.put(update, now)
            self.suspicions.pop(update.addr, None)
            if joined:
                node._track(update.addr)
                fx.events.append(_joined(update))
            elif noticed:
                fx.events.append(
                    PeerUpdated(
                        addr=update.addr,
                        identity=update.identity,
                        incarnation=update.incarnation,
                        state=ALIVE,
                        tags=update.tags,
                    )
                )
        if spread:
            node._queue_update(update)
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
        node = self._node
        if not member.counted or update.incarnation < member.incarnation:
            return
        origin = update.origin if update.origin is not None else update.addr
        if member.state == SUSPECT and update.incarnation == member.incarnation:
            suspicion = self.suspicions.get(member.addr)
            if suspicion is not None and suspicion.confirm(origin):
                self._schedule(suspicion, member, fx)
                if spread:
                    node._queue_update(update)
            return
        member = node.members.put(
            member.changed(state=SUSPECT, incarnation=update.incarnation, origin=None), now
        )
        cfg = node.config
        minimum, maximum = cfg.suspicion_bounds(node.members.counted)
        expected = cfg.suspicion_confirmations
        if strong or node.members.counted - 2 < expected:
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
        self._schedule(suspicion, member, fx)
        fx.events.append(
            PeerSuspected(
                addr=member.addr, incarnation=update.incarnation, identity=member.identity
            )
        )
        if spread:
            node._queue_update(update)

    def _bury(self, now: float, member: Update, update: Update, fx: Effects, spread: bool) -> None:
        node = self._node
        if not member.counted or update.incarnation < member.incarnation:
            return
        state = LEFT if update.state == LEFT else DEAD
        node.members.put(
            member.changed(state=state, incarnation=update.incarnation, origin=None), now
        )
        self.suspicions.pop(member.addr, None)
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
            node._queue_update(update)

    def _about_self(self, now: float, update: Update, fx: Effects) -> None:
        node = self._node
        if node.leaving:
            return
        if update.state == ALIVE:
            stale = update.incarnation < node.incarnation or (
                update.incarnation == node.incarnation
                and (update.identity, update.tags) == (node.identity, node.tags)
            )
            if stale:
                return
        elif update.incarnation < node.incarnation:
            # The sender still holds a suspicion we already refuted; the node answers it.
            self.outdated_about_us = True
            return
        elif update.state in (SUSPECT, DEAD):
            node._awareness.apply(1)
        node._refute(now, max(update.incarnation, node.incarnation), fx)

    def _schedule(self, suspicion: Suspicion, member: Update, fx: Effects) -> None:
        timer = SuspicionTimeout(member.addr, suspicion.incarnation, suspicion.token)
        due = suspicion.deadline
        if suspicion.calls_left:
            due = max(suspicion.start, due - self._last_call_lead(suspicion))
        fx.timers.append(SetTimer(due, timer))

    def _last_call_lead(self, suspicion: Suspicion) -> float:
        # Room for a whole probe, ping-reqs included, before each remaining call.
        return self._node.config.probe_interval * suspicion.calls_left


def _joined(update: Update) -> PeerJoined:
    return PeerJoined(
        addr=update.addr, identity=update.identity, incarnation=update.incarnation, tags=update.tags
    )


def _tags_size(update: Update) -> int:
    return sum(len(k) + len(v) for k, v in update.tags) if update.tags else 0
