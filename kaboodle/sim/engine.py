"""The event loop of the simulated network: datagrams, timers and calls in virtual time.

One heap of ``(time, seq, kind, process, x, y)`` tuples holds every pending delivery, timer and
scheduled call; ``seq`` is unique, so comparisons never look past it. This module moves entries
through time and into nodes; :mod:`.network` decides who exists and who can reach whom.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Sequence
from typing import Any, Generic

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.effects import Effects, Send
from kaboodle.protocol.events import Event
from kaboodle.protocol.messages import Message

from .loss import LossModel
from .process import CRASHED, PAUSED, N, Process
from .stats import NetStats

__all__ = ["Engine", "EventHook"]

# Kinds of heap entries. Held kinds are datagrams a paused process buffered: they were already
# "in its socket", so a partition started after they arrived no longer blocks them.
_UNICAST = 0
_MULTICAST = 1
_TIMER = 2
_HELD_DATAGRAM = 3
_HELD_MESSAGE = 4
_CALL = 5

EventHook = Callable[[float, Process[N], Sequence[Event]], None]
"""Called with (now, process, events) after every node call that reported events."""


def _default_decode(data: bytes) -> Message | None:
    # Imported late: the codec is optional for networks that carry toy nodes in tests.
    from kaboodle.protocol import codec  # noqa: PLC0415

    try:
        return codec.decode(data)
    except codec.DecodeError:
        return None


class Engine(Generic[N]):
    """Delivery of datagrams and timers to processes in virtual time (see :class:`SimNetwork`,
    which adds hosts, lifecycles and partitions).

    Args:
        rng: the generator of latency and loss draws.
        loss: probability that one datagram (or one multicast reception) is lost, in [0, 1), or
            a :class:`~kaboodle.sim.loss.LossModel` that decides per datagram (bursts, one
            direction).
        latency: (min, max) one-way latency in seconds, drawn uniformly per datagram.
        decode: turns a multicast datagram into a message, or None when it does not decode.
        hold_limit: datagrams a paused process buffers.
        topology: the one-way delay between two hosts (by number), added to the latency draw of
            every unicast datagram (e.g. :class:`.latency.PlaneLatency`); None adds nothing.
    """

    def __init__(
        self,
        rng: random.Random,
        loss: float | LossModel,
        latency: tuple[float, float],
        decode: Callable[[bytes], Message | None] | None,
        hold_limit: int,
        *,
        topology: Callable[[int, int], float] | None = None,
    ) -> None:
        if isinstance(loss, int | float) and not 0.0 <= loss < 1.0:
            raise ValueError(f"loss must be in [0, 1), not {loss}")
        low, high = latency
        if not 0.0 <= low <= high:
            raise ValueError(f"latency must be 0 <= min <= max, not {latency}")
        if hold_limit < 0:
            raise ValueError(f"hold_limit must be >= 0, not {hold_limit}")
        self.now = 0.0
        """The virtual time, in seconds."""
        self.stats = NetStats()
        """What the network did so far."""
        self.loss = float(loss) if isinstance(loss, int | float) else 0.0
        """The uniform loss rate (0 under a loss model)."""
        self.loss_model: LossModel | None = None if isinstance(loss, int | float) else loss
        """The loss model, if the loss is not uniform."""
        self.latency = (float(low), float(high))
        self.topology = topology
        self._rng = rng
        self._decode = decode if decode is not None else _default_decode
        self._hold_limit = hold_limit
        # One flat tuple shape for every entry (Any where the meaning depends on the kind):
        # no per-datagram object beyond the tuple itself, which matters at 10,000 nodes.
        self._heap: list[tuple[float, int, int, Any, Any, Any]] = []
        self._seq = itertools.count()
        self._by_addr: dict[Addr, Process[N]] = {}  # every process ever, crashed ones too
        self._receivers: tuple[Process[N], ...] | None = None  # running processes, cached
        self._hooks: list[EventHook[N]] = []
        self._host_hooks: dict[int, list[EventHook[N]]] = {}
        # Timers a node cancelled (Effects.cancels), by identity, until they come due and are
        # dropped: as the runtime drops them, so that the simulated node wakes as a real one
        # does. Keeping the timer keeps its id from being reused meanwhile.
        self._cancelled: dict[int, object] = {}

    def next_time(self) -> float | None:
        """When the next pending entry is due, or None if nothing is pending."""
        return self._heap[0][0] if self._heap else None

    def pending(self) -> int:
        """How many deliveries, timers and calls are waiting (stale timers included)."""
        return len(self._heap)

    def call_at(self, at: float, fn: Callable[[], object]) -> None:
        """Call ``fn()`` at virtual time ``at`` (now, if ``at`` is in the past)."""
        heapq.heappush(self._heap, (max(at, self.now), next(self._seq), _CALL, None, fn, None))

    def add_event_hook(self, hook: EventHook[N], *, host: int | None = None) -> None:
        """Call ``hook(now, process, events)`` whenever a node reports events (only the nodes
        of ``host``, in every life, when given)."""
        if host is None:
            self._hooks.append(hook)
        else:
            self._host_hooks.setdefault(host, []).append(hook)

    def run_for(self, seconds: float) -> None:
        """Run ``seconds`` of virtual time."""
        self.run_until(self.now + seconds)

    def run_until(self, t_end: float) -> None:
        """Process everything due at or before ``t_end``, then set the clock to ``t_end``."""
        heap = self._heap
        pop = heapq.heappop
        apply = self._apply
        stats = self.stats
        cancelled = self._cancelled
        while heap and heap[0][0] <= t_end:
            t, _, kind, proc, x, y = pop(heap)
            self.now = t
            if kind == _UNICAST:
                # Hot path: a unicast datagram from process x to proc.
                if proc.mode or proc.group != x.group:
                    self._divert(proc, _HELD_DATAGRAM, x, y)
                    continue
                stats.delivered += 1
                apply(proc, proc.node.handle_datagram(t, x.addr, y))
            elif kind == _TIMER:
                if cancelled and id(x) in cancelled:
                    del cancelled[id(x)]
                    continue
                if proc.mode:
                    if proc.held is not None:  # paused, not crashed
                        proc.held.append((kind, x, y))
                    continue
                stats.timers += 1
                apply(proc, proc.node.handle_timer(t, x))
            elif kind == _MULTICAST:
                self._deliver_multicast(t, proc, x)
            elif kind in (_HELD_DATAGRAM, _HELD_MESSAGE):
                if proc.mode:
                    if proc.mode == PAUSED:
                        self._hold(proc, kind, x, y)
                    else:
                        stats.undeliverable += 1
                    continue
                stats.delivered += 1
                src: Addr = x.addr
                if kind == _HELD_DATAGRAM:
                    apply(proc, proc.node.handle_datagram(t, src, y))
                else:
                    apply(proc, proc.node.handle_message(t, src, y))
            else:
                x()
        self.now = max(self.now, t_end)

    # ------------------------------------------------------------------------------- internal

    def _release(self, proc: Process[N], held: list[tuple[int, Any, Any]]) -> None:
        """Hand what a paused process held back to it now, in its original order."""
        for kind, x, y in held:
            heapq.heappush(self._heap, (self.now, next(self._seq), kind, proc, x, y))

    def _inject(self, proc: Process[N], src: Addr, data: bytes, delay: float) -> None:
        entry = (self.now + delay, next(self._seq), _HELD_DATAGRAM, proc, _Outsider(src), data)
        heapq.heappush(self._heap, entry)

    def _divert(self, proc: Process[N], kind: int, src: Any, payload: object) -> None:
        """Off the fast path: a datagram for a paused, crashed or cut-off process."""
        if proc.mode == CRASHED:
            self.stats.undeliverable += 1
        elif proc.group != src.group:
            self.stats.cut += 1
        else:
            self._hold(proc, kind, src, payload)

    def _hold(self, proc: Process[N], kind: int, src: object, payload: object) -> None:
        if not proc.hold((kind, src, payload), self._hold_limit):
            self.stats.overflow += 1

    def _deliver_multicast(self, t: float, src: Process[N], data: bytes) -> None:
        msg = self._decode(data)
        stats = self.stats
        if msg is None:
            stats.undecodable += 1
            return
        receivers = self._receivers
        if receivers is None:
            running = (p for p in self._by_addr.values() if p.mode != CRASHED)
            receivers = self._receivers = tuple(running)
        group = src.group
        src_addr = src.addr
        loss = self.loss
        model = self.loss_model
        rnd = self._rng.random
        apply = self._apply
        src_host = src.host
        # The tuple is a snapshot: a hook that crashes a process mid-loop cannot upset iteration.
        for proc in receivers:
            if proc is src or proc.group != group:
                continue
            if (loss and rnd() < loss) or (
                model is not None and model.lost(src_host, proc.host, t)
            ):
                stats.lost += 1
                continue
            if proc.mode:
                if proc.mode == PAUSED:
                    self._hold(proc, _HELD_MESSAGE, src, msg)
                continue
            stats.delivered += 1
            effects = proc.node.handle_message(t, src_addr, msg)
            # Most receivers of an announce already know the sender and answer nothing: skip
            # the call when there is nothing to apply (it adds up at 1,000+ receivers per send).
            if effects.sends or effects.timers or effects.events:
                apply(proc, effects)

    def _apply(self, proc: Process[N], effects: Effects) -> None:
        now = self.now
        heap = self._heap
        push = heapq.heappush
        seq = self._seq
        sends = effects.sends
        if sends:
            # Counters are summed locally and written once: attribute writes cost in this loop.
            stats = self.stats
            loss = self.loss
            model = self.loss_model
            rnd = self._rng.random
            low, high = self.latency
            span = high - low
            topology = self.topology
            by_addr = self._by_addr
            total = 0
            largest = stats.max_datagram
            multicasts = 0
            for send in sends:
                data = send.data
                size = len(data)
                total += size
                if size > largest:  # noqa: PLR1730 (cheaper than max() here)
                    largest = size
                if type(send) is Send:
                    if loss and rnd() < loss:
                        stats.lost += 1
                        continue
                    dst = by_addr.get(send.to)
                    if dst is None or dst.mode == CRASHED:
                        # A crashed process never comes back, so drop now rather than later.
                        stats.undeliverable += 1
                        continue
                    if model is not None and model.lost(proc.host, dst.host, now):
                        stats.lost += 1
                        continue
                    at = now + low + span * rnd()
                    if topology is not None:
                        at += topology(proc.host, dst.host)
                    push(heap, (at, next(seq), _UNICAST, dst, proc, data))
                else:
                    multicasts += 1
                    push(heap, (now + low + span * rnd(), next(seq), _MULTICAST, proc, data, None))
            stats.unicasts += len(sends) - multicasts
            stats.multicasts += multicasts
            stats.bytes_sent += total
            stats.max_datagram = largest
            proc.sent += len(sends)
            proc.sent_bytes += total
        for set_timer in effects.timers:
            at = set_timer.at
            push(heap, (at if at > now else now, next(seq), _TIMER, proc, set_timer.timer, None))
        for stale in effects.cancels:
            # Effects.cancels names only timers not yet handed back, so each entry leaves
            # when its timer comes up.
            self._cancelled[id(stale)] = stale
        if effects.events:
            for hook in self._hooks:
                hook(now, proc, effects.events)
            if self._host_hooks:
                for hook in self._host_hooks.get(proc.host, ()):
                    hook(now, proc, effects.events)


class _Outsider:
    """The source of an injected datagram: an address outside the simulation, in no partition."""

    __slots__ = ("addr", "group")

    def __init__(self, addr: Addr) -> None:
        self.addr = addr
        self.group = -1
