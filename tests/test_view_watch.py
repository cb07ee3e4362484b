"""Fingerprint reports on their own: one event for a burst of changes, none for no change."""

from __future__ import annotations

from parts import B, C, alive, make_parts

from kaboodle.protocol.effects import Effects
from kaboodle.protocol.events import FingerprintChanged
from kaboodle.protocol.timers import FingerprintCheck
from kaboodle.protocol.view_watch import ViewWatch


def test_a_burst_of_changes_becomes_one_check_and_one_event() -> None:
    parts = make_parts()
    watch = ViewWatch(parts.config, parts.members)
    fx = Effects()
    for addr in (B, C):
        parts.add(alive(addr))
        watch.changed(1.0, fx)
    assert [t.timer for t in fx.timers] == [FingerprintCheck()]
    assert fx.timers[0].at == 1.0 + parts.config.event_delay
    watch.check(fx)
    assert fx.events == [FingerprintChanged(fingerprint=parts.members.fingerprint(), members=3)]


def test_an_unchanged_fingerprint_is_not_reported_again() -> None:
    parts = make_parts(B)
    watch = ViewWatch(parts.config, parts.members)
    fx = Effects()
    watch.changed(1.0, fx)
    watch.check(fx)
    watch.changed(2.0, fx)  # e.g. a member left and came back within the window
    watch.check(fx)
    assert len(fx.events) == 1 and len(fx.timers) == 2
