"""Loss that is not a uniform coin: in bursts (Gilbert-Elliott), or by direction.

Real LANs lose datagrams in bursts (Wi-Fi, an overloaded switch) and sometimes in one direction
only. A :class:`LossModel` decides each datagram's fate from its sending and receiving host and
the virtual time; :class:`~kaboodle.sim.network.SimNetwork` takes one in place of a rate. Each
model draws from a generator of its own, seeded, so a run stays reproducible.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Protocol

__all__ = ["BurstyLoss", "DirectedLoss", "LossModel"]


class LossModel(Protocol):
    """Whether one datagram from host ``src`` to host ``dst``, sent at ``now``, is lost."""

    def lost(self, src: int, dst: int, now: float) -> bool: ...


class BurstyLoss:
    """Gilbert-Elliott loss in time, on every directed link of its own: a link alternates between
    a good state (``good_loss``) and bursts (``burst_loss``), each lasting an exponentially
    distributed time; bursts last ``burst_s`` on average and come often enough that the
    long-run loss rate is ``mean_loss``.

    Raises:
        ValueError: a rate out of [0, 1], a burst that cannot reach ``mean_loss``, or
            ``burst_s`` not positive.
    """

    def __init__(
        self,
        mean_loss: float,
        *,
        burst_s: float = 0.2,
        burst_loss: float = 0.5,
        good_loss: float = 0.0,
        seed: int = 0,
    ) -> None:
        if not 0.0 <= good_loss <= mean_loss <= burst_loss <= 1.0 or good_loss == burst_loss:
            raise ValueError(
                "need 0 <= good_loss <= mean_loss <= burst_loss <= 1 with good_loss < "
                f"burst_loss, not {good_loss}, {mean_loss}, {burst_loss}"
            )
        if burst_s <= 0:
            raise ValueError(f"burst_s must be > 0, not {burst_s}")
        self.mean_loss = mean_loss
        self.burst_s = burst_s
        self.burst_loss = burst_loss
        self.good_loss = good_loss
        self.bad_share = (mean_loss - good_loss) / (burst_loss - good_loss)
        """The share of time a link spends in bursts."""
        # Mean time between bursts, from bad_share = burst / (burst + good).
        self.good_s = burst_s * (1 - self.bad_share) / self.bad_share if self.bad_share else 0.0
        self._rng = random.Random(seed)
        self._links: dict[tuple[int, int], list[float]] = {}  # [bad (0/1), until]

    def _draw(self, now: float) -> list[float]:
        """A link's state at ``now`` drawn afresh from the long-run mix (memoryless)."""
        bad = self._rng.random() < self.bad_share
        return [float(bad), now + self._rng.expovariate(1 / self._mean(bad))]

    def _mean(self, bad: bool) -> float:
        return self.burst_s if bad else self.good_s

    def in_burst(self, src: int, dst: int, now: float) -> bool:
        """Whether the link from ``src`` to ``dst`` is in a burst at ``now``."""
        if not self.bad_share:
            return False
        link = self._links.get((src, dst))
        if link is None or now - link[1] > 10 * (self.burst_s + self.good_s):
            link = self._links[(src, dst)] = self._draw(now)  # new, or idle for long
        while now >= link[1]:
            bad = not link[0]
            link[0] = float(bad)
            link[1] += self._rng.expovariate(1 / self._mean(bad))
        return bool(link[0])

    def lost(self, src: int, dst: int, now: float) -> bool:
        """Whether one datagram on that link is lost (see :class:`LossModel`)."""
        rate = self.burst_loss if self.in_burst(src, dst, now) else self.good_loss
        return rate > 0 and self._rng.random() < rate


class DirectedLoss:
    """Loss by direction: a rate for a link (``links[src, dst]``), for all a host sends
    (``senders``) or receives (``receivers``), over a ``base`` rate for every datagram; where
    several apply, the highest. A rate of 1 cuts that direction.

    Raises:
        ValueError: a rate out of [0, 1].
    """

    def __init__(
        self,
        base: float = 0.0,
        *,
        links: Mapping[tuple[int, int], float] | None = None,
        senders: Mapping[int, float] | None = None,
        receivers: Mapping[int, float] | None = None,
        seed: int = 0,
    ) -> None:
        self.base = base
        self.links = dict(links or {})
        self.senders = dict(senders or {})
        self.receivers = dict(receivers or {})
        rates = [base, *self.links.values(), *self.senders.values(), *self.receivers.values()]
        if not all(0.0 <= r <= 1.0 for r in rates):
            raise ValueError(f"loss rates must be in [0, 1], not {rates}")
        self._rng = random.Random(seed)

    def rate(self, src: int, dst: int) -> float:
        """The loss rate from ``src`` to ``dst``."""
        return max(
            self.base,
            self.links.get((src, dst), 0.0),
            self.senders.get(src, 0.0),
            self.receivers.get(dst, 0.0),
        )

    def lost(self, src: int, dst: int, now: float) -> bool:
        """Whether one datagram from ``src`` to ``dst`` is lost (see :class:`LossModel`)."""
        rate = self.rate(src, dst)
        return rate >= 1.0 or (rate > 0 and self._rng.random() < rate)
