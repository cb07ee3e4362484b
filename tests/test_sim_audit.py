"""The failure audit's verdicts on removals, against the simulator's ground truth."""

from __future__ import annotations

from kaboodle.protocol.events import Event, PeerFailed, PeerSuspected
from kaboodle.sim.cluster import Cluster


def _removed(cluster: Cluster, observer: int, target: int, incarnation: int) -> None:
    _reports(cluster, observer, PeerFailed(addr=cluster.addr(target), incarnation=incarnation))


def _reports(cluster: Cluster, observer: int, event: Event) -> None:
    cluster.audit.observe(cluster.now, cluster.process(observer), [event])


def _verdict(cluster: Cluster, observer: int, target: int, incarnation: int) -> str:
    """The verdict on one removal, reported now."""
    before = cluster.audit.verdicts.copy()
    _removed(cluster, observer, target, incarnation)
    (verdict,) = (cluster.audit.verdicts - before).elements()
    return verdict


def _suspects(cluster: Cluster, observer: int, target: int, incarnation: int) -> None:
    _reports(cluster, observer, PeerSuspected(addr=cluster.addr(target), incarnation=incarnation))


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


def test_a_suspicion_from_across_a_cut_that_runs_out_just_after_the_heal_is_late() -> None:
    cluster = Cluster(4, seed=1)
    cluster.run_for(1.0)
    final_round = cluster.config.probe_interval  # the nodes are healthy
    cluster.partition([[0, 1], [2, 3]])
    _suspects(cluster, 0, 2, incarnation=5)
    _suspects(cluster, 1, 3, incarnation=5)
    _suspects(cluster, 3, 2, incarnation=5)
    cluster.run_for(0.1)
    cluster.heal()
    _suspects(cluster, 0, 3, incarnation=9)
    cluster.run_for(0.01)
    assert _verdict(cluster, 0, 2, incarnation=5) == "late"
    # The same death as it spreads, even to a member on 2's side: stale.
    assert _verdict(cluster, 3, 2, incarnation=5) == "stale"
    # A suspicion begun after the heal had its chance.
    assert _verdict(cluster, 0, 3, incarnation=9) == "false"
    # Past the final round, the member had time to refute.
    cluster.run_for(final_round)
    assert _verdict(cluster, 1, 3, incarnation=5) == "false"
    assert cluster.audit.late_failures == 1


def test_a_suspicion_of_a_member_on_our_own_side_of_a_cut_is_not_late() -> None:
    cluster = Cluster(4, seed=1)
    cluster.run_for(1.0)
    cluster.partition([[0, 1], [2, 3]])
    _suspects(cluster, 0, 1, incarnation=5)
    cluster.run_for(0.1)
    cluster.heal()
    cluster.run_for(0.01)
    assert _verdict(cluster, 0, 1, incarnation=5) == "false"


def test_a_suspicion_of_a_paused_member_that_runs_out_just_after_its_resume_is_late() -> None:
    cluster = Cluster(3, seed=1)
    cluster.run_for(1.0)
    cluster.pause(2)
    _suspects(cluster, 0, 2, incarnation=5)
    cluster.run_for(0.1)
    cluster.resume(2)
    cluster.run_for(0.01)
    assert _verdict(cluster, 0, 2, incarnation=5) == "late"
    # Unsuspected before the resume: a removal now has no excuse.
    assert _verdict(cluster, 1, 2, incarnation=7) == "false"


def test_reunited_at_finds_the_heal_that_brought_two_hosts_together() -> None:
    cluster = Cluster(4, seed=1)
    cluster.run_for(0.5)
    cluster.partition([[0, 1], [2, 3]])
    cluster.run_for(0.1)
    cluster.heal()
    healed = cluster.now
    network = cluster.network
    assert network.reunited_at(0, 2, since=0.0) == healed
    assert network.reunited_at(0, 1, since=0.0) is None  # never apart
    assert network.reunited_at(0, 2, since=healed) is None  # not after ``since``
    cluster.run_for(0.1)
    cluster.partition([[0], [1, 2, 3]])
    cluster.run_for(0.1)
    cluster.heal()
    assert network.reunited_at(0, 1, since=0.0) == cluster.now
    assert network.reunited_at(2, 3, since=0.0) is None
    assert network.reunited_at(0, 2, since=0.0) == cluster.now
