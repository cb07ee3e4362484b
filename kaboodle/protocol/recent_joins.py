"""The members that joined lately by their own announce.

A node repeats its start's announce ``announce_repeat`` seconds later (:mod:`.announcer`), so
a newcomer that listens now will hear the repeats of every member that announced itself less
than that long ago. Those need not be pushed to it, and they are not among the members that
should push to it (:mod:`.sync`).
"""

from __future__ import annotations

from .addr import Addr

__all__ = ["RecentJoins"]

_BUCKETS = 8  # the window is kept in eighths, so no join older than it is ever counted


class RecentJoins:
    """The members that joined by an announce within the last ``window`` seconds.

    What is kept covers between 7/8 of the window and all of it, never more: what it is used
    for (leaving members out of a push, thinning who pushes) must not count an older join. It
    costs one reference per first announce in the window, and nothing once the window has
    passed.
    """

    __slots__ = ("_counts", "_epoch", "_firsts", "_width")

    def __init__(self, window: float) -> None:
        self._width = window / _BUCKETS
        self._counts = [0] * _BUCKETS
        self._firsts: list[list[Addr]] = [[] for _ in range(_BUCKETS)]
        self._epoch = 0

    def joined(self, now: float, addr: Addr, *, first: bool) -> None:
        """The member at ``addr`` joined by an announce now: ``first``, its first one (which
        a newcomer that listens now will hear repeated), as far as we can tell."""
        self._roll(now)
        bucket = self._epoch % _BUCKETS
        self._counts[bucket] += 1
        if first:
            self._firsts[bucket].append(addr)

    def count(self, now: float) -> int:
        """How many members joined by an announce within the window."""
        self._roll(now)
        return sum(self._counts)

    def firsts(self, now: float) -> set[Addr]:
        """The members that joined by their first announce within the window."""
        self._roll(now)
        return {addr for bucket in self._firsts for addr in bucket}

    def _roll(self, now: float) -> None:
        epoch = int(now // self._width)
        if epoch <= self._epoch:
            return
        for passed in range(self._epoch + 1, min(epoch, self._epoch + _BUCKETS) + 1):
            self._counts[passed % _BUCKETS] = 0
            self._firsts[passed % _BUCKETS] = []
        self._epoch = epoch
