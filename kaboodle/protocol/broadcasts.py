"""The broadcast queue: updates waiting to be piggybacked, least-sent first.

One entry per member: a newer update about a member replaces the older one (superseded news is
never sent). Each update leaves the queue after it has been sent ``limit`` times, a limit the
caller derives from the mesh size (about lambda * log(N + 1)).
"""

from __future__ import annotations

from collections.abc import Callable

from .addr import Addr
from .messages import Update

__all__ = ["BroadcastQueue"]


class BroadcastQueue:
    """Updates bucketed by how often they have been sent, so selection never sorts."""

    def __init__(self, size_of: Callable[[Update], int], max_entries: int = 8192) -> None:
        self._size_of = size_of
        self._max_entries = max_entries
        # sends -> {addr: (update, encoded size)}; dicts keep insertion order, newest last.
        self._buckets: dict[int, dict[Addr, tuple[Update, int]]] = {}
        self._sends_of: dict[Addr, int] = {}

    def __len__(self) -> int:
        return len(self._sends_of)

    def __contains__(self, addr: object) -> bool:
        return addr in self._sends_of

    def fewest_sends(self) -> int | None:
        """How many times the least-sent queued update was sent, or None when none is queued."""
        return min(self._buckets) if self._buckets else None

    def push(self, update: Update, sends: int = 0) -> bool:
        """Queue ``update``, replacing any queued update about the same member, as if sent
        ``sends`` times already; True when the queue was full and its most-sent update left to
        make room."""
        self.discard(update.addr)
        full = len(self._sends_of) >= self._max_entries
        if full:
            self._drop_most_sent()
        self._buckets.setdefault(sends, {})[update.addr] = (update, self._size_of(update))
        self._sends_of[update.addr] = sends
        return full

    def discard(self, addr: Addr) -> None:
        """Forget any queued update about ``addr``."""
        sends = self._sends_of.pop(addr, None)
        if sends is not None:
            bucket = self._buckets[sends]
            del bucket[addr]
            if not bucket:
                del self._buckets[sends]

    def take(self, budget: int, limit: int, first: Update | None = None) -> tuple[Update, ...]:
        """Updates whose encoded sizes fit ``budget`` bytes, least-sent and then newest first.

        Each taken update counts one more send; one sent ``limit`` times leaves the queue.
        ``first``, when given, goes in front (the buddy system: a suspect hears of its
        suspicion from the member probing it) without counting as a queued send.
        """
        taken: list[Update] = []
        if first is not None:
            size = self._size_of(first)
            if size <= budget:
                taken.append(first)
                budget -= size
        moved: list[tuple[Addr, int]] = []
        for sends in sorted(self._buckets):
            for addr, (update, size) in reversed(self._buckets[sends].items()):
                if size > budget:
                    continue
                if first is not None and addr == first.addr:
                    continue
                taken.append(update)
                budget -= size
                moved.append((addr, sends))
                if budget < 16:
                    break
            if budget < 16:
                break
        for addr, sends in moved:
            update, size = self._buckets[sends].pop(addr)
            if not self._buckets[sends]:
                del self._buckets[sends]
            if sends + 1 >= limit:
                del self._sends_of[addr]
            else:
                self._buckets.setdefault(sends + 1, {})[addr] = (update, size)
                self._sends_of[addr] = sends + 1
        return tuple(taken)

    def _drop_most_sent(self) -> None:
        sends = max(self._buckets)
        addr = next(iter(self._buckets[sends]))
        self.discard(addr)
