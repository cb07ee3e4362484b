"""Round-robin probe order over a shuffled list, as in the SWIM paper.

Every member is probed once per pass, so the gap between two probes of one member is at most
2N - 1 periods. Newcomers take a random place among the members not yet probed in this pass.
Removed members are skipped lazily rather than deleted from the list.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .addr import Addr

__all__ = ["ProbeOrder"]


class ProbeOrder:
    """The order in which a node probes its members."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._order: list[Addr] = []
        self._next = 0

    def add(self, addr: Addr) -> None:
        """Add a member at a random place among those not yet probed in this pass (O(1)).

        Call it when a member starts to count; a member that stopped counting and came back
        may stand twice until the end of the pass, which costs one extra probe at most.
        """
        # random() is several times cheaper than randint(), and this runs once per newcomer
        # on every node: a million times when a thousand nodes start together.
        order = self._order
        first = self._next
        last = len(order)
        swap = first + int(self._rng.random() * (last - first + 1))
        order.append(addr)
        order[last] = order[swap]
        order[swap] = addr

    def next(self, eligible: Callable[[Addr], bool]) -> Addr | None:
        """The next member to probe for which ``eligible`` holds, or None if there is none.

        Members no longer eligible are dropped from the order at the end of each pass.
        """
        for _ in range(2):
            while self._next < len(self._order):
                addr = self._order[self._next]
                self._next += 1
                if eligible(addr):
                    return addr
            self._order = [a for a in dict.fromkeys(self._order) if eligible(a)]
            self._rng.shuffle(self._order)
            self._next = 0
        return None

    def sample(self, k: int, eligible: Callable[[Addr], bool]) -> list[Addr]:
        """Up to ``k`` distinct random members for which ``eligible`` holds.

        Draws random places in the order rather than building a list of all members, so that
        it costs O(k) however large the mesh; it may return fewer than ``k`` when eligible
        members are scarce.
        """
        if len(self._order) <= 8 * k + 8:
            candidates = [addr for addr in dict.fromkeys(self._order) if eligible(addr)]
            return self._rng.sample(candidates, min(k, len(candidates)))
        chosen: list[Addr] = []
        for _ in range(4 * k + 4):
            addr = self._order[self._rng.randrange(len(self._order))]
            if addr not in chosen and eligible(addr):
                chosen.append(addr)
                if len(chosen) == k:
                    break
        return chosen
