"""Vivaldi network coordinates, in Serf's variant: the value and its arithmetic.

A coordinate places a node in a Euclidean space of :data:`DIMENSIONS` dimensions plus a
*height* (the node's own access delay, which no direction can shorten), with an *error*
estimate of its own accuracy and an *adjustment* (the mean of recent residuals, which absorbs
what the space cannot represent). The estimated round trip between two nodes is the distance
between their coordinates. The constants are Serf's (hashicorp/serf ``coordinate`` package);
:mod:`.proximity` keeps the state that moves a node's coordinate as RTTs are measured.
"""

from __future__ import annotations

import math
import operator
import random
from dataclasses import dataclass

__all__ = [
    "CC",
    "CE",
    "DIMENSIONS",
    "ERROR_MAX",
    "GRAVITY_RHO",
    "HEIGHT_MIN",
    "MAX_DIMENSIONS",
    "MAX_FORCE",
    "MAX_RTT",
    "Coordinate",
    "corrected",
    "push",
    "raw_distance",
]

DIMENSIONS = 8
"""Euclidean dimensions of a coordinate (the height comes on top)."""
MAX_DIMENSIONS = 16
"""The most dimensions a coordinate on the wire may have."""
ERROR_MAX = 1.5
"""The error estimate of a new coordinate, and the most any error grows to."""
CE = 0.25
"""How fast the error estimate follows the observed relative error (Vivaldi's c_e)."""
CC = 0.25
"""How far one sample moves a coordinate, as a fraction of its residual (Vivaldi's c_c)."""
HEIGHT_MIN = 1.0e-5
"""The smallest height, in seconds."""
GRAVITY_RHO = 150.0
"""Seconds at which the pull back to the origin is as strong as one unit of force: keeps the
coordinates of a mesh from drifting away together."""
MAX_RTT = 10.0
"""The longest plausible round trip, in seconds: samples outside (0, MAX_RTT] are absurd, and no
component of a plausible coordinate is larger."""
MAX_FORCE = CC * MAX_RTT
"""The most one sample may move a coordinate, in each of its Euclidean part and its height, in
seconds: a hostile peer can push a coordinate one bounded step, never throw it away."""

_ZERO = 1.0e-6  # below this, a distance or an error counts as zero (Serf's zeroThreshold)


@dataclass(frozen=True, slots=True)
class Coordinate:
    """A node's position: Euclidean ``vec`` plus ``height``, with ``error`` and ``adjustment``.

    All in seconds except ``error``, which is relative. Frozen: every move makes a new one.
    """

    vec: tuple[float, ...]
    error: float = ERROR_MAX
    adjustment: float = 0.0
    height: float = HEIGHT_MIN

    @classmethod
    def origin(cls, dimensions: int = DIMENSIONS) -> Coordinate:
        """A new node's coordinate: at the origin, with the largest error."""
        return cls(vec=(0.0,) * dimensions)

    def plausible(self, dimensions: int) -> bool:
        """Whether a peer's coordinate may be used with ours: the same dimensions, every value
        finite and within what a real mesh produces (:data:`MAX_RTT`, :data:`ERROR_MAX`)."""
        if len(self.vec) != dimensions:
            return False
        values = (*self.vec, self.error, self.adjustment, self.height)
        if not all(map(math.isfinite, values)):
            return False
        return (
            _magnitude(self.vec) <= MAX_RTT
            and 0.0 <= self.error <= ERROR_MAX
            and abs(self.adjustment) <= MAX_RTT
            # Not HEIGHT_MIN: half precision on the wire rounds it down a little.
            and 0.0 < self.height <= MAX_RTT
        )

    def distance_to(self, other: Coordinate) -> float:
        """The estimated round trip to ``other``, in seconds: the distance, corrected by both
        adjustments unless that would make it negative."""
        raw = self.raw_distance_to(other)
        return corrected(raw, self.adjustment, other.adjustment)

    def raw_distance_to(self, other: Coordinate) -> float:
        """The distance to ``other`` without adjustments: Euclidean part plus both heights."""
        return raw_distance((self.vec, self.height), (other.vec, other.height))

    def pushed(self, force: float, other: Coordinate, rng: random.Random) -> Coordinate:
        """This coordinate moved by ``force`` seconds away from ``other`` (towards it when
        negative), its height with it; each part moves at most :data:`MAX_FORCE`."""
        vec, height = push((self.vec, self.height), (other.vec, other.height), force, rng)
        return Coordinate(vec=vec, error=self.error, adjustment=self.adjustment, height=height)

    def changed(self, *, error: float | None = None, adjustment: float | None = None) -> Coordinate:
        """A copy with a new error estimate or adjustment."""
        return Coordinate(
            vec=self.vec,
            error=self.error if error is None else error,
            adjustment=self.adjustment if adjustment is None else adjustment,
            height=self.height,
        )


_Point = tuple[tuple[float, ...], float]  # a coordinate's (vec, height), the parts that move


def raw_distance(point: _Point, other: _Point) -> float:
    """:meth:`Coordinate.raw_distance_to` on bare ``(vec, height)`` values."""
    return math.dist(point[0], other[0]) + point[1] + other[1]


def corrected(raw: float, adjustment: float, other_adjustment: float) -> float:
    """A raw distance corrected by both adjustments, unless that would make it negative."""
    adjusted = raw + adjustment + other_adjustment
    return adjusted if adjusted > 0.0 else raw


def push(point: _Point, other: _Point, force: float, rng: random.Random) -> _Point:
    """:meth:`Coordinate.pushed` on bare ``(vec, height)`` values, for callers that make
    several moves in a row and build one coordinate at the end."""
    vec, height = point
    other_vec, other_height = other
    force = max(-MAX_FORCE, min(MAX_FORCE, force))
    unit, apart = _unit_away(vec, other_vec, rng)
    moved = tuple(map(operator.add, vec, map(force.__mul__, unit)))
    if apart > _ZERO:
        rise = (height + other_height) * force / apart
        height = max(HEIGHT_MIN, height + max(-MAX_FORCE, min(MAX_FORCE, rise)))
    return moved, height


# The arithmetic runs on every ack (a third of a simulated mesh's time was here): map and
# math.hypot keep the loops in C.
def _diff(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, ...]:
    if len(a) != len(b):
        raise ValueError("coordinates of different dimensions")
    return tuple(map(operator.sub, a, b))


def _magnitude(v: tuple[float, ...]) -> float:
    return math.hypot(*v)


def _unit_away(
    a: tuple[float, ...], b: tuple[float, ...], rng: random.Random
) -> tuple[tuple[float, ...], float]:
    """The unit vector from ``b`` to ``a`` and their distance; a random direction (and 0) when
    they coincide, so that two new nodes at the origin can push each other apart."""
    delta = _diff(a, b)
    apart = _magnitude(delta)
    if apart > _ZERO:
        return tuple(map(apart.__rtruediv__, delta)), apart
    while True:
        delta = tuple(rng.random() - 0.5 for _ in a)
        length = _magnitude(delta)
        if length > _ZERO:
            return tuple(x / length for x in delta), 0.0
