"""The simulator's loss models: bursts (Gilbert-Elliott) and loss by direction."""

from __future__ import annotations

import itertools

import pytest

from kaboodle.sim import Cluster
from kaboodle.sim.loss import BurstyLoss, DirectedLoss


def test_bursts_have_the_mean_loss_and_the_burst_length_asked_for() -> None:
    model = BurstyLoss(0.1, burst_s=0.2, burst_loss=0.5, seed=3)
    assert model.bad_share == pytest.approx(0.2)
    step, steps = 0.01, 200_000  # 2,000 s of one link, sampled every 10 ms
    states = [model.in_burst(0, 1, i * step) for i in range(steps)]
    assert sum(states) / steps == pytest.approx(0.2, abs=0.02)
    bursts = sum(1 for a, b in itertools.pairwise(states) if b and not a)
    assert sum(states) * step / bursts == pytest.approx(0.2, rel=0.15)  # mean burst, seconds
    lost = sum(model.lost(0, 2, i * step) for i in range(steps))  # another link, from t = 0
    assert lost / steps == pytest.approx(0.1, abs=0.015)


def test_links_burst_independently_and_each_direction_on_its_own() -> None:
    model = BurstyLoss(0.25, burst_s=0.5, burst_loss=1.0, seed=1)
    ab = [model.in_burst(0, 1, i * 0.05) for i in range(20_000)]
    ba = [model.in_burst(1, 0, i * 0.05) for i in range(20_000)]
    both = sum(a and b for a, b in zip(ab, ba, strict=True)) / len(ab)
    assert both == pytest.approx(0.25 * 0.25, abs=0.03)  # independent, not one shared state


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="mean_loss"):
        BurstyLoss(0.6, burst_loss=0.5)
    with pytest.raises(ValueError, match="burst_s"):
        BurstyLoss(0.1, burst_s=0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        DirectedLoss(links={(0, 1): 1.5})


def test_directed_loss_takes_the_highest_rate_that_applies() -> None:
    model = DirectedLoss(0.1, links={(0, 1): 1.0}, senders={2: 0.5}, receivers={3: 0.3}, seed=0)
    assert model.rate(0, 1) == 1.0 and model.rate(1, 0) == 0.1
    assert model.rate(2, 3) == 0.5 and model.rate(4, 3) == 0.3
    assert all(model.lost(0, 1, t) for t in range(100))  # a cut direction
    assert 35 < sum(model.lost(2, 0, t) for t in range(100)) < 65


def test_a_link_cut_one_way_keeps_both_ends_in_the_mesh() -> None:
    # Host 0 cannot reach host 1 directly; relays (ping-req) and gossip still can.
    cluster = Cluster(16, seed=5, loss=DirectedLoss(links={(0, 1): 1.0}))
    assert cluster.run_until_converged(30.0) is not None
    cluster.run_for(300.0)
    assert cluster.audit.false_failures == 0
    assert cluster.converged()


def test_runs_with_a_loss_model_are_reproducible() -> None:
    def run() -> tuple[int, int, int]:
        cluster = Cluster(16, seed=2, loss=BurstyLoss(0.2, burst_s=0.2, burst_loss=0.5, seed=2))
        cluster.run_for(60.0)
        return cluster.stats.lost, cluster.stats.delivered, cluster.true_fingerprint()

    first = run()
    assert first[0] > 0
    assert run() == first
