"""Lifeguard's suspicion: a timeout that shrinks as independent members confirm it."""

from __future__ import annotations

import math

from .addr import Addr

__all__ = ["Suspicion", "suspicion_timeout"]


def suspicion_timeout(minimum: float, maximum: float, confirmations: int, expected: int) -> float:
    """Seconds a suspicion runs: ``maximum`` with no confirmation, falling logarithmically to
    ``minimum`` once ``expected`` independent confirmations have arrived."""
    if expected < 1 or confirmations >= expected:
        return minimum
    fraction = math.log(confirmations + 1) / math.log(expected + 1)
    return max(minimum, maximum - (maximum - minimum) * fraction)


class Suspicion:
    """One running suspicion about a member at one incarnation."""

    __slots__ = (
        "calls_left",
        "confirmations",
        "expected",
        "incarnation",
        "maximum",
        "minimum",
        "start",
        "token",
    )

    def __init__(
        self,
        *,
        incarnation: int,
        origin: Addr,
        start: float,
        minimum: float,
        maximum: float,
        expected: int,
        token: int,
        calls: int = 0,
    ) -> None:
        self.incarnation = incarnation
        self.start = start
        self.minimum = minimum
        self.maximum = maximum
        self.expected = expected
        self.token = token
        self.calls_left = calls  # last-call probes still to send before the deadline
        # The member that raised the suspicion is not a confirmation of it.
        self.confirmations: set[Addr] = {origin}

    @property
    def deadline(self) -> float:
        """When the suspected member is declared dead unless it refutes first."""
        timeout = suspicion_timeout(
            self.minimum, self.maximum, len(self.confirmations) - 1, self.expected
        )
        return self.start + timeout

    def confirm(self, origin: Addr) -> bool:
        """Count ``origin``'s independent suspicion; True if it was new and moved the deadline."""
        if origin in self.confirmations or len(self.confirmations) > self.expected:
            return False
        self.confirmations.add(origin)
        return True
