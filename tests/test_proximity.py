"""Vivaldi coordinates on their own: the arithmetic, the client's filters, and hostile input."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from parts import A, B, C, alive, sent

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.config import Config
from kaboodle.protocol.coordinate import (
    DIMENSIONS,
    ERROR_MAX,
    HEIGHT_MIN,
    MAX_FORCE,
    MAX_RTT,
    Coordinate,
)
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.messages import Ack, Gossip, Ping, PingReq
from kaboodle.protocol.node import Node
from kaboodle.protocol.proximity import LATENCY_FILTER, Proximity


def client(seed: int = 1) -> Proximity:
    return Proximity(random.Random(seed), Counter())


def at(*vec: float, height: float = HEIGHT_MIN, error: float = 0.1) -> Coordinate:
    padded = vec + (0.0,) * (DIMENSIONS - len(vec))
    return Coordinate(vec=padded, height=height, error=error)


def test_the_distance_is_euclidean_plus_heights_and_adjustments() -> None:
    a, b = at(0.003, height=0.001), at(0.0, 0.004, height=0.002)
    assert a.raw_distance_to(b) == pytest.approx(0.005 + 0.003)
    adjusted = a.changed(adjustment=0.001)
    assert adjusted.distance_to(b) == pytest.approx(0.009)
    # An adjustment that would make the estimate negative is left out.
    assert a.changed(adjustment=-1.0).distance_to(b) == pytest.approx(0.008)


def test_two_peers_at_the_origin_push_apart_in_some_direction() -> None:
    moved = Coordinate.origin().pushed(0.01, Coordinate.origin(), random.Random(3))
    assert math.dist(moved.vec, Coordinate.origin().vec) == pytest.approx(0.01)


def test_a_steady_round_trip_to_a_settled_peer_is_learned() -> None:
    prox = client()
    peer = at(0.02, error=0.05)
    for _ in range(200):
        assert prox.observe(B, peer, 0.030)
    assert prox.estimate(B) == pytest.approx(0.030, rel=0.05)
    assert prox.coordinate.error < 0.2  # it grew sure of itself


def test_one_slow_answer_is_filtered_out_by_the_moving_median() -> None:
    prox, control = client(), client()
    peer = at(0.02, error=0.05)
    for _ in range(50):
        prox.observe(B, peer, 0.030)
        control.observe(B, peer, 0.030)
    prox.observe(B, peer, 2.0)  # the median of [0.030, 0.030, 2.0] is 0.030
    control.observe(B, peer, 0.030)
    assert prox.coordinate == control.coordinate
    assert LATENCY_FILTER == 3


@pytest.mark.parametrize("rtt", [-0.01, 0.0, MAX_RTT + 0.001, math.nan, math.inf])
def test_an_absurd_sample_is_dropped_and_counted(rtt: float) -> None:
    prox = client()
    assert not prox.observe(B, at(0.01), rtt)
    assert prox.coordinate == Coordinate.origin()
    assert prox.peers == {}
    assert prox._stats["dropped:rtt-sample"] == 1


@pytest.mark.parametrize(
    "theirs",
    [
        at(math.nan),
        at(math.inf),
        at(0.01, height=math.nan),
        Coordinate(vec=(0.0,) * DIMENSIONS, error=math.nan),
        Coordinate(vec=(0.0,) * DIMENSIONS, adjustment=-math.inf),
        at(MAX_RTT + 1),
        at(0.01, height=0.0),  # no height at all
        at(0.01, height=MAX_RTT * 2),
        at(0.01, error=-0.1),
        at(0.01, error=ERROR_MAX * 2),
        Coordinate(vec=(0.0,) * (DIMENSIONS - 1)),  # another dimensionality
    ],
)
def test_an_implausible_coordinate_is_dropped_and_counted(theirs: Coordinate) -> None:
    prox = client()
    assert not prox.observe(B, theirs, 0.01)
    assert prox.coordinate == Coordinate.origin()
    assert prox._stats["dropped:coordinate"] == 1


plausible = st.builds(
    Coordinate,
    vec=st.lists(
        st.floats(-MAX_RTT / 3, MAX_RTT / 3), min_size=DIMENSIONS, max_size=DIMENSIONS
    ).map(tuple),
    error=st.floats(0.0, ERROR_MAX),
    adjustment=st.floats(-MAX_RTT, MAX_RTT),
    height=st.floats(HEIGHT_MIN, MAX_RTT),
)


@given(theirs=plausible, rtt=st.floats(1e-6, MAX_RTT), warm=st.integers(0, 30))
def test_a_hostile_coordinate_moves_ours_one_bounded_step(
    theirs: Coordinate, rtt: float, warm: int
) -> None:
    prox = client()
    for _ in range(warm):
        prox.observe(C, at(0.01, error=0.2), 0.012)
    before = prox.coordinate
    prox.observe(B, theirs, rtt)
    after = prox.coordinate
    # One step for the sample and one (tiny) for gravity, each bounded by MAX_FORCE.
    assert math.dist(after.vec, before.vec) <= 2 * MAX_FORCE + 1e-9
    assert abs(after.height - before.height) <= 2 * MAX_FORCE + 1e-9
    assert all(map(math.isfinite, (*after.vec, after.error, after.adjustment, after.height)))
    assert 0.0 <= after.error <= ERROR_MAX


@pytest.mark.parametrize(
    ("theirs", "rtt"),
    [
        # As far as plausible, claiming to be sure of itself, answering at once: a long pull.
        (
            Coordinate(vec=(MAX_RTT,) + (0.0,) * 7, error=0.0, adjustment=MAX_RTT, height=MAX_RTT),
            1e-6,
        ),
        # All but on top of us, as high as plausible, answering late: a long push, and a
        # height change divided by almost nothing.
        (
            Coordinate(vec=(2e-6,) + (0.0,) * 7, error=0.0, adjustment=-MAX_RTT, height=MAX_RTT),
            MAX_RTT,
        ),
    ],
)
def test_the_worst_plausible_coordinates_move_ours_one_bounded_step(
    theirs: Coordinate, rtt: float
) -> None:
    prox = client()
    assert prox.observe(B, theirs, rtt)
    moved = prox.coordinate
    assert math.dist(moved.vec, Coordinate.origin().vec) <= MAX_FORCE + 1e-6
    assert moved.height - HEIGHT_MIN <= MAX_FORCE + 1e-6


def test_retain_forgets_the_coordinates_of_former_members() -> None:
    prox = client()
    prox.observe(B, at(0.01), 0.01)
    prox.observe(C, at(0.02), 0.02)
    prox.retain(lambda addr: addr == C)
    assert set(prox.peers) == {C}
    assert prox.estimate(B) is None
    assert prox.estimate(C) is not None


# ------------------------------------------------------------------------------ in the node


def _node(addr: Addr, **config: object) -> Node:
    node = Node(addr, b"n", config=Config(**config), rng=random.Random(1), incarnation=1)  # type: ignore[arg-type]
    node.start(0.0)
    return node


def _acks(fx: Effects) -> list[Ack]:
    return [m for _, m in sent(fx) if isinstance(m, Ack)]


def test_a_direct_ack_carries_a_coordinate_and_its_round_trip_is_a_sample() -> None:
    a, b = _node(A), _node(B)
    a.handle_message(0.1, B, Gossip(updates=(alive(B),)))
    ping_fx = a.contact(0.1, [B])
    [ping] = [m for _, m in sent(ping_fx) if isinstance(m, Ping)]
    [ack] = _acks(b.handle_message(0.11, A, ping))
    mine = b.proximity.coordinate  # type: ignore[union-attr]
    assert ack.coordinate is not None  # in half precision on the wire
    assert ack.coordinate.height == pytest.approx(mine.height, rel=2e-3)
    assert ack.coordinate.error == pytest.approx(mine.error, rel=1e-3)
    a.handle_message(0.12, B, ack)
    assert a.proximity is not None and B in a.proximity.peers
    assert a.proximity.coordinate != Coordinate.origin()  # 20 ms moved it


def test_a_relayed_ack_is_no_sample_of_the_target() -> None:
    a = _node(A)
    a.handle_message(0.1, B, Gossip(updates=(alive(B), alive(C))))
    fx = a.handle_message(0.1, B, PingReq(seq=9, target=C))
    [(to, ping)] = [(to, m) for to, m in sent(fx) if isinstance(m, Ping)]
    assert to == C
    a.handle_message(0.12, C, Ack(seq=ping.seq, fingerprint=0, members=2, coordinate=at(0.01)))  # type: ignore[union-attr]
    assert a.proximity is not None and a.proximity.peers == {}  # not our ping: no sample


def test_with_proximity_off_acks_carry_no_coordinate_and_none_is_kept() -> None:
    a, b = _node(A, proximity=False), _node(B)
    assert a.proximity is None
    a.handle_message(0.1, B, Gossip(updates=(alive(B),)))
    [ping] = [m for _, m in sent(a.contact(0.1, [B])) if isinstance(m, Ping)]
    [ack] = _acks(b.handle_message(0.11, A, ping))
    a.handle_message(0.12, B, ack)  # its coordinate is ignored
    [answer] = _acks(a.handle_message(0.13, B, Ping(seq=1)))
    assert answer.coordinate is None
    assert a.sizes()["coordinates"] == 0
