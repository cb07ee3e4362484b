"""A synthetic latency model for proximity tests: hosts as points in a plane, each with its own
access delay, so that some hosts are near each other and others far.

The one-way delay between two hosts is their distance in the plane plus both access delays;
the network adds its uniform per-datagram jitter on top. A round trip is twice the one-way
delay (plus two draws of jitter). Points are drawn from the model's own seed, host by host in
number order, so a model replays exactly and adding hosts does not move the earlier ones.
"""

from __future__ import annotations

import math
import random

__all__ = ["PlaneLatency"]


class PlaneLatency:
    """Hosts at random points of a ``span`` x ``span`` square (in seconds of one-way delay),
    each with an access delay drawn uniformly from ``access``.

    Args:
        seed: the seed of the points and access delays.
        span: the side of the square, in seconds.
        access: (min, max) access delay of one host, in seconds.
    """

    __slots__ = ("_access", "_points", "_rng", "span")

    def __init__(
        self, seed: int = 0, *, span: float = 0.050, access: tuple[float, float] = (0.0005, 0.005)
    ) -> None:
        low, high = access
        if span < 0 or not 0 <= low <= high:
            raise ValueError(f"need span >= 0 and 0 <= access min <= max, not {span}, {access}")
        self._rng = random.Random(seed)
        self.span = span
        self._access = (low, high)
        self._points: list[tuple[float, float, float]] = []

    def one_way(self, a: int, b: int) -> float:
        """Seconds one datagram takes from host ``a`` to host ``b``, before jitter."""
        if a == b:
            return 0.0
        ax, ay, a_access = self._point(a)
        bx, by, b_access = self._point(b)
        return math.hypot(ax - bx, ay - by) + a_access + b_access

    def rtt(self, a: int, b: int) -> float:
        """The true round trip between two hosts, before jitter."""
        return 2.0 * self.one_way(a, b)

    def _point(self, host: int) -> tuple[float, float, float]:
        points, rng = self._points, self._rng
        while len(points) <= host:
            low, high = self._access
            points.append(
                (rng.uniform(0, self.span), rng.uniform(0, self.span), rng.uniform(low, high))
            )
        return points[host]
