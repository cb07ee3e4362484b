"""Proximity: this node's Vivaldi coordinate, moved by the RTTs of its direct probes, and the
coordinates its peers sent on their acks (Serf's coordinate client).

Each direct ack carries the sender's coordinate; the probe's round trip is a sample. A sample
goes through a per-peer moving median (one slow answer is not a move), then moves our
coordinate (Vivaldi), updates the adjustment (the mean residual over a window) and applies a
weak gravity toward the origin. Absurd samples and implausible coordinates are dropped and
counted, never used: ``dropped:rtt-sample``, ``dropped:coordinate``.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from .addr import Addr
from .coordinate import (
    CC,
    CE,
    DIMENSIONS,
    ERROR_MAX,
    GRAVITY_RHO,
    MAX_RTT,
    Coordinate,
    corrected,
    push,
    raw_distance,
)

__all__ = ["ADJUSTMENT_WINDOW", "LATENCY_FILTER", "Proximity"]

ADJUSTMENT_WINDOW = 20
"""Samples whose mean residual makes the adjustment."""
LATENCY_FILTER = 3
"""Samples per peer in the moving median that filters its RTTs."""

_ZERO = 1.0e-6


class Proximity:
    """One node's coordinate and what it knows of its peers' coordinates.

    Args:
        rng: the node's randomness (the direction two coinciding coordinates part in).
        stats: the node's counters.
        dimensions: Euclidean dimensions of the coordinates.
    """

    __slots__ = (
        "_adjustments",
        "_filters",
        "_next",
        "_origin",
        "_rng",
        "_stats",
        "coordinate",
        "peers",
    )

    def __init__(
        self, rng: random.Random, stats: Counter[str], dimensions: int = DIMENSIONS
    ) -> None:
        self._rng = rng
        self._stats = stats
        self._origin = Coordinate.origin(dimensions)
        self.coordinate = self._origin
        """This node's coordinate."""
        self.peers: dict[Addr, Coordinate] = {}
        """The latest coordinate each peer sent us, by address."""
        self._filters: dict[Addr, list[float]] = {}
        self._adjustments = [0.0] * ADJUSTMENT_WINDOW
        self._next = 0

    def observe(self, addr: Addr, theirs: Coordinate, rtt: float) -> bool:
        """Take one direct round trip of ``rtt`` seconds to ``addr``, which sent ``theirs``.

        Returns:
            Whether the sample was used (absurd ones are dropped and counted).
        """
        if not 0.0 < rtt <= MAX_RTT:  # NaN fails it too
            self._stats["dropped:rtt-sample"] += 1
            return False
        if not theirs.plausible(len(self._origin.vec)):
            self._stats["dropped:coordinate"] += 1
            return False
        samples = self._filters.setdefault(addr, [])
        samples.append(rtt)
        if len(samples) > LATENCY_FILTER:
            del samples[0]
        rtt = sorted(samples)[len(samples) // 2]
        coordinate = self._moved(theirs, rtt)
        if not coordinate.plausible(len(self._origin.vec)):
            # Bounded steps from plausible input should never get here; if they ever do,
            # start over rather than spread a coordinate nobody would take.
            self._stats["coordinate-resets"] += 1
            coordinate = self._origin
        self.coordinate = coordinate
        self.peers[addr] = theirs
        return True

    def estimate(self, addr: Addr) -> float | None:
        """The estimated round trip to ``addr`` in seconds, or None without its coordinate."""
        theirs = self.peers.get(addr)
        return None if theirs is None else self.coordinate.distance_to(theirs)

    def retain(self, keep: Callable[[Addr], bool]) -> None:
        """Forget the coordinates and samples of every peer ``keep`` rejects."""
        for table in (self.peers, self._filters):
            for addr in [a for a in table if not keep(a)]:
                del table[addr]

    def _moved(self, theirs: Coordinate, rtt: float) -> Coordinate:
        # One sample's three steps on bare values, building one coordinate at the end (this
        # runs on every ack): Vivaldi's move, the adjustment, then gravity.
        mine = self.coordinate
        rng = self._rng
        # Vivaldi: the less sure we are of ourselves relative to them, the more we move.
        distance = mine.distance_to(theirs)
        clamped = max(rtt, _ZERO)
        wrongness = abs(distance - clamped) / clamped
        weight = mine.error / max(mine.error + theirs.error, _ZERO)
        error = min(ERROR_MAX, CE * weight * wrongness + mine.error * (1.0 - CE * weight))
        force = CC * weight * (clamped - distance)
        there = (theirs.vec, theirs.height)
        vec, height = push((mine.vec, mine.height), there, force, rng)
        # The adjustment: the mean residual over the window, against where we are now.
        self._adjustments[self._next] = rtt - raw_distance((vec, height), there)
        self._next = (self._next + 1) % ADJUSTMENT_WINDOW
        adjustment = sum(self._adjustments) / (2.0 * ADJUSTMENT_WINDOW)
        # Gravity: a weak pull toward the origin, so that a mesh does not drift away together.
        origin = self._origin
        centre = (origin.vec, origin.height)
        raw = raw_distance(centre, (vec, height))
        gravity = -((corrected(raw, origin.adjustment, adjustment) / GRAVITY_RHO) ** 2)
        vec, height = push((vec, height), centre, gravity, rng)
        return Coordinate(vec=vec, error=error, adjustment=adjustment, height=height)
