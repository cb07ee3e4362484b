"""Noticing that the counted view changed, and reporting its fingerprint without chatter.

A node compares the O(1) digest of its counted members before and after each call. When it
moved, a :class:`FingerprintCheck` timer is set (one at a time), and when it comes due the
fingerprint is reported if it differs from the last one reported: the changes of a short
window (a sync that brings a hundred members) become one event.
"""

from __future__ import annotations

from .config import Config
from .effects import Effects, SetTimer
from .events import FingerprintChanged
from .members import MemberTable
from .timers import FingerprintCheck

__all__ = ["ViewWatch"]


class ViewWatch:
    """Coalesced :class:`FingerprintChanged` events for one member table.

    Args:
        config: protocol settings (``event_delay``, the coalescing window).
        members: the member table watched.
    """

    def __init__(self, config: Config, members: MemberTable) -> None:
        self._config = config
        self._members = members
        self._reported: int | None = None
        self._pending = False

    def changed(self, now: float, before: tuple[int, int], fx: Effects) -> bool:
        """Whether the view moved since its digest was ``before``; if so, a report is due."""
        if self._members.digest() == before:
            return False
        self.schedule(now, fx)
        return True

    def schedule(self, now: float, fx: Effects) -> None:
        """Check the fingerprint after the coalescing window (unless a check is pending)."""
        if not self._pending:
            self._pending = True
            fx.timers.append(SetTimer(at=now + self._config.event_delay, timer=FingerprintCheck()))

    def check(self, fx: Effects) -> None:
        """The check came due: report the fingerprint if it is not the one reported last."""
        self._pending = False
        fingerprint = self._members.fingerprint()
        if fingerprint != self._reported:
            self._reported = fingerprint
            fx.events.append(
                FingerprintChanged(fingerprint=fingerprint, members=self._members.counted)
            )
