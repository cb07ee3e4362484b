"""Noticing that the counted view changed: when it last did, and reporting its fingerprint
without chatter.

A node compares the O(1) digest of its counted members before and after each call. When it
moved, it tells the watch, which sets a :class:`FingerprintCheck` timer (one at a time); when
that comes due, the fingerprint is reported if it differs from the last one reported: the
changes of a short window (a sync that brings a hundred members) become one event.
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

    __slots__ = ("_config", "_members", "_pending", "_reported", "changed_at")

    def __init__(self, config: Config, members: MemberTable) -> None:
        self._config = config
        self._members = members
        self.changed_at = 0.0
        """When the counted view last changed."""
        self._reported: int | None = None
        self._pending = False

    def changed(self, now: float, fx: Effects) -> None:
        """The view changed (or is new): check the fingerprint after the coalescing window,
        unless a check is pending already."""
        self.changed_at = now
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
