"""Lifeguard's local health multiplier: a node that is itself slow stops accusing others."""

from __future__ import annotations

__all__ = ["Awareness"]


class Awareness:
    """A saturating score in 0..maximum-1; probe interval and timeout scale by ``score + 1``.

    Raised by a failed probe, by nacks that never came, and by having to refute a suspicion about
    ourselves; lowered by every successful probe.
    """

    __slots__ = ("maximum", "score")

    def __init__(self, maximum: int) -> None:
        self.maximum = maximum
        self.score = 0

    def apply(self, delta: int) -> None:
        """Move the score by ``delta``, within 0..maximum-1."""
        self.score = min(self.maximum - 1, max(0, self.score + delta))

    def scale(self, seconds: float) -> float:
        """``seconds`` stretched by the current health multiplier."""
        return seconds * (self.score + 1)
