"""Fan-out of a node's events to any number of independent async subscribers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from kaboodle.protocol.events import Event

__all__ = ["DEFAULT_QUEUE", "Subscription", "Subscriptions"]

DEFAULT_QUEUE = 1024
"""Events a subscriber may fall behind by before the oldest are dropped."""


class Subscription:
    """One subscriber's bounded queue of events.

    A slow subscriber never blocks the node: when its queue is full, the oldest event is
    dropped to make room and ``dropped`` counts it. Iteration ends when the node stops.
    """

    def __init__(self, maxsize: int) -> None:
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(maxsize)
        self.dropped = 0
        """Events this subscriber lost because it fell behind."""
        self._closed = False

    def put(self, event: Event | None) -> None:
        """Queue ``event`` (None marks the end), dropping the oldest if the queue is full."""
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(event)
        if event is None:
            self._closed = True

    def close(self) -> None:
        """Unsubscribe: no more events are queued, and iteration ends after those queued."""
        if not self._closed:
            self.put(None)

    @property
    def closed(self) -> bool:
        """True once the subscription ended (closed by its owner or by the node stopping)."""
        return self._closed

    def __aiter__(self) -> AsyncIterator[Event]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                return
            yield event


class Subscriptions:
    """Every current subscriber of one node."""

    def __init__(self) -> None:
        self._subscribers: list[Subscription] = []
        self._dropped_by_gone = 0

    @property
    def dropped(self) -> int:
        """Events lost by slow subscribers, those gone included."""
        return self._dropped_by_gone + sum(s.dropped for s in self._subscribers)

    def subscribe(self, maxsize: int = DEFAULT_QUEUE) -> Subscription:
        """A new subscriber that sees every event from now on."""
        subscription = Subscription(maxsize)
        self._subscribers.append(subscription)
        return subscription

    def publish(self, events: list[Event]) -> None:
        """Hand ``events`` to every subscriber."""
        if any(s.closed for s in self._subscribers):
            self._dropped_by_gone += sum(s.dropped for s in self._subscribers if s.closed)
            self._subscribers = [s for s in self._subscribers if not s.closed]
        for subscription in self._subscribers:
            for event in events:
                subscription.put(event)

    def close(self) -> None:
        """End every subscriber's iteration."""
        for subscription in self._subscribers:
            subscription.put(None)
        self._subscribers.clear()
