"""The failure audit's verdicts on removals, against the simulator's ground truth."""

from __future__ import annotations

from kaboodle.protocol.events import PeerFailed
from kaboodle.sim.cluster import Cluster


def _removed(cluster: Cluster, observer: int, target: int, incarnation: int) -> None:
    event = PeerFailed(addr=cluster.addr(target), incarnation=incarnation)
    cluster.audit.observe(cluster.now, cluster.process(observer), [event])


def test_a_death_decided_during_a_pause_and_heard_after_it_is_stale_not_false() -> None:
    cluster = Cluster(3, seed=1)
    cluster.run_for(1.0)
    cluster.pause(2)
    _removed(cluster, 0, 2, incarnation=5)
    cluster.run_for(0.5)
    _removed(cluster, 1, 2, incarnation=5)  # still paused
    cluster.resume(2)
    cluster.run_for(0.01)
    _removed(cluster, 1, 2, incarnation=5)  # the same death, arriving after the resume
    _removed(cluster, 0, 2, incarnation=6)  # it refuted, and was removed again: false
    verdicts = cluster.audit.verdicts
    assert (verdicts["paused"], verdicts["stale"], verdicts["false"]) == (2, 1, 1)
    assert cluster.audit.false_failures == 1 and cluster.audit.stale_removals == 1


def test_a_removal_inside_the_partition_that_is_still_on_stays_false() -> None:
    cluster = Cluster(3, seed=1)
    cluster.run_for(1.0)
    cluster.partition([[0], [1, 2]])
    _removed(cluster, 0, 2, incarnation=5)  # across the cut
    _removed(cluster, 1, 2, incarnation=5)  # on 2's side, while the cut is still there
    cluster.run_for(0.5)
    cluster.heal()
    _removed(cluster, 1, 2, incarnation=5)  # after the heal: what was decided across it
    verdicts = cluster.audit.verdicts
    assert (verdicts["partitioned"], verdicts["false"], verdicts["stale"]) == (1, 1, 1)


def test_a_removal_of_a_member_never_paused_or_cut_off_is_false() -> None:
    cluster = Cluster(3, seed=1)
    cluster.run_for(1.0)
    _removed(cluster, 0, 2, incarnation=5)
    _removed(cluster, 1, 2, incarnation=5)
    assert cluster.audit.false_failures == 2 and cluster.audit.stale_removals == 0
