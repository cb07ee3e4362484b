"""Judging the nodes' events against the simulator's ground truth.

Every PeerFailed and PeerLeft a node reports is classified at the moment it is reported: the
target was really gone (crashed, or leaving), paused, cut off from the observer by a partition,
stale or late (see below), or none of these -- a false failure, the thing Lifeguard exists to
prevent.

A death decided while its member was paused or cut off spreads as gossip, and goes on arriving
for a few tens of milliseconds after the pause or the partition ended, before the member can
have refuted it. A removal of a live, reachable member is *stale*, not false, when the same
member at the same incarnation was already removed while it was paused (and it has resumed
since) or cut off from some observer (and the partition has changed since), or late.

A suspicion begun while its member was paused or cut off runs out when its timeout says, and
that can be just after the resume or the heal: the observer's last probe round went out while
the member could not answer, and its refutation cannot have come back yet. A failure is
*late* when the observer's suspicion began while the member was unreachable from it, and the
member became reachable again within the observer's final probe round before the removal (the
``round_of`` the audit is given: for the protocol's Node, its probe interval stretched by its
health, as the last call's lead is).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.events import Event, PeerFailed, PeerLeft, PeerSuspected

from .network import SimNetwork
from .process import N, Process

__all__ = ["FailureAudit", "Removal"]


@dataclass(frozen=True, slots=True)
class Removal:
    """One node removing another from its view (a PeerFailed or PeerLeft event)."""

    at: float
    """Virtual time of the event."""
    observer: int
    """Host of the node that reported it."""
    target: Addr
    """The member it removed."""
    target_host: int | None
    """The host of that member, or None if no simulated process ever had the address."""
    left: bool
    """True for PeerLeft, False for PeerFailed."""
    verdict: str
    """``gone``, ``paused``, ``partitioned``, ``stale``, ``late``, ``unknown`` or ``false``."""


class FailureAudit(Generic[N]):
    """Counts every event the nodes of ``network`` report and classifies every removal.

    Attach it before running: it installs an event hook. ``round_of`` gives the length of an
    observer's final probe round before a burial; without it no failure is judged late.
    """

    def __init__(
        self, network: SimNetwork[N], round_of: Callable[[Process[N]], float] | None = None
    ) -> None:
        self._network = network
        self._round_of = round_of
        self._counts: dict[type, int] = {}
        self.verdicts: Counter[str] = Counter()
        """Removals by verdict."""
        self.false_removals: list[Removal] = []
        """The false failures themselves, for debugging (capped at ``keep``)."""
        self.paused_removals: list[Removal] = []
        """Removals of paused processes (capped at ``keep``)."""
        self.keep = 1000
        # (member, incarnation) removed while paused or cut off: when first, and which.
        self._unreachable: dict[tuple[Addr, int], tuple[float, str]] = {}
        # (observer, member) -> (incarnation, when) of the observer's latest suspicion of it.
        self._suspected: dict[tuple[Addr, Addr], tuple[int, float]] = {}
        self.batches = 0
        """How many node calls reported events: a cheap "something changed" counter."""
        network.add_event_hook(self.observe)

    @property
    def events(self) -> Counter[str]:
        """Events reported, by class name (PeerJoined, PeerFailed, ...)."""
        return Counter({kind.__name__: count for kind, count in self._counts.items()})

    @property
    def false_failures(self) -> int:
        """Removals of a member that was live and reachable from the observer at the time."""
        return self.verdicts["false"]

    @property
    def pause_false_failures(self) -> int:
        """Removals of a member that was paused at the time (not counted as false failures:
        a paused node is indistinguishable from a dead one, but its users may care)."""
        return self.verdicts["paused"]

    @property
    def stale_removals(self) -> int:
        """Removals of a member that a pause or partition, ended since, had already removed
        at the same incarnation (not counted as false failures)."""
        return self.verdicts["stale"]

    @property
    def late_failures(self) -> int:
        """Failures decided on a last probe round that went out while the member was still
        paused or cut off from the observer (not counted as false failures)."""
        return self.verdicts["late"]

    def observe(self, now: float, proc: Process[N], events: Sequence[Event]) -> None:
        """The network's event hook: count ``events`` that ``proc`` reported, and judge its
        removals."""
        self.batches += 1
        counts = self._counts
        for event in events:
            kind = type(event)
            counts[kind] = counts.get(kind, 0) + 1
            if kind is PeerFailed or kind is PeerLeft:
                assert isinstance(event, (PeerFailed, PeerLeft))
                self._judge(now, proc, event)
            elif kind is PeerSuspected and self._round_of is not None:
                assert isinstance(event, PeerSuspected)
                self._suspected[proc.addr, event.addr] = (event.incarnation, now)

    def _judge(self, now: float, observer: Process[N], event: PeerFailed | PeerLeft) -> None:
        target = self._network.process_at(event.addr)
        if target is None:
            verdict = "unknown"
        elif target.crashed or target.stopping:
            verdict = "gone"
        elif target.paused:
            verdict = "paused"
        elif target.group != observer.group:
            verdict = "partitioned"
        elif self._stale(target, event):
            verdict = "stale"
        elif isinstance(event, PeerFailed) and self._late(now, observer, target, event):
            verdict = "late"
        else:
            verdict = "false"
        if verdict in ("paused", "partitioned", "late"):
            self._unreachable.setdefault((event.addr, event.incarnation), (now, verdict))
        self.verdicts[verdict] += 1
        if verdict in ("false", "paused"):
            removal = Removal(
                at=now,
                observer=observer.host,
                target=event.addr,
                target_host=None if target is None else target.host,
                left=isinstance(event, PeerLeft),
                verdict=verdict,
            )
            kept = self.false_removals if verdict == "false" else self.paused_removals
            if len(kept) < self.keep:
                kept.append(removal)

    def _stale(self, target: Process[N], event: PeerFailed | PeerLeft) -> bool:
        first = self._unreachable.get((event.addr, event.incarnation))
        if first is None:
            return False
        at, verdict = first
        if verdict == "late":
            return True
        if verdict == "paused":
            return target.resumed_at is not None and target.resumed_at >= at
        return self._network.regrouped_at > at  # (a partition begun in that instant: no)

    def _late(
        self, now: float, observer: Process[N], target: Process[N], event: PeerFailed
    ) -> bool:
        if self._round_of is None:
            return False
        suspected = self._suspected.get((observer.addr, event.addr))
        if suspected is None or suspected[0] != event.incarnation:
            return False
        began = suspected[1]
        since = now - self._round_of(observer)
        resumed = target.resumed_at
        if resumed is not None and since < resumed and began < resumed:
            return True
        reunited = self._network.reunited_at(observer.host, target.host, since)
        return reunited is not None and began < reunited
