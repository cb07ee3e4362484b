"""Counting the members that joined lately by an announce."""

from __future__ import annotations

from parts import B, C

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.recent_joins import RecentJoins


def test_a_join_is_counted_for_most_of_the_window_and_never_after_it() -> None:
    joins = RecentJoins(1.0)
    peers = [Addr.from_ip(f"fd00::1:{n:x}", 7000) for n in range(5)]
    for n, peer in enumerate(peers):
        joins.joined(10.0 + n * 0.01, peer, first=True)
    assert joins.count(10.05) == 5 and joins.firsts(10.05) == set(peers)
    at = 10.0 + 7 / 8 - 0.001  # every join is seen for 7/8 of the window at least
    assert joins.count(at) == 5 and joins.firsts(at) == set(peers)
    assert joins.count(11.0) == 0 and joins.firsts(11.0) == set()  # none after it
    joins.joined(50.0, B, first=True)  # long after: nothing of before is left either
    assert joins.count(50.0) == 1 and joins.firsts(50.0) == {B}


def test_a_join_that_may_be_a_repeat_is_counted_but_not_among_the_first_announces() -> None:
    joins = RecentJoins(1.0)
    joins.joined(1.0, B, first=True)
    joins.joined(1.1, C, first=False)
    assert joins.count(1.2) == 2 and joins.firsts(1.2) == {B}
