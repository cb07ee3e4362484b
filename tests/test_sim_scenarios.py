"""Protocol behaviour at mesh scale, in the seeded simulator: seconds of wall time each."""

from __future__ import annotations

import random

import pytest

from kaboodle.protocol.codec import encode
from kaboodle.protocol.events import PeerFailed, PeerJoined, PeerLeft, PeerSuspected
from kaboodle.protocol.messages import Gossip, MemberState, Update
from kaboodle.sim.cluster import Cluster


@pytest.mark.parametrize("size", [8, 100])
def test_a_mesh_started_together_converges_on_the_true_fingerprint(size: int) -> None:
    cluster = Cluster(size, seed=size)
    at = cluster.run_until_converged(10.0)
    assert at is not None and at < 3.0
    assert set(cluster.fingerprints().values()) == {cluster.true_fingerprint()}


def _storm(size: int, spread: float, seed: int) -> tuple[Cluster, float, float | None]:
    """``size`` nodes started at random within ``spread`` seconds: the cluster, the last
    start, and when all agreed (None: not within 30 s)."""
    cluster = Cluster(0, seed=seed)
    last = cluster.add_nodes_over(size, spread, random.Random(seed))
    return cluster, last, cluster.run_until_converged(last + 30.0, step=0.01)


def test_nodes_added_over_a_window_start_within_it_from_now() -> None:
    cluster = Cluster(2, seed=1)
    cluster.run_until(3.0)
    last = cluster.add_nodes_over(20, 0.5, random.Random(1))
    assert len(cluster) == 22
    assert 3.0 < last <= 3.5 and cluster.now == last
    assert len(cluster.live_hosts()) == 22


def _full_states(cluster: Cluster) -> tuple[int, int]:
    """Full states sent by every node so far, and their datagrams."""
    nodes = cluster.nodes
    return sum(n.stats["sync-sent"] for n in nodes), sum(n.stats["sync-parts-sent"] for n in nodes)


@pytest.mark.parametrize(("size", "spread"), [(8, 0.3), (32, 0.3), (64, 1.0)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nodes_started_a_little_apart_agree_soon(size: int, spread: float, seed: int) -> None:
    # A start storm: each node misses the announces made before it listened, so the members
    # that started before a newcomer must tell it, however new they are themselves (or it
    # catches up by itself at its first probes).
    _, last, converged = _storm(size, spread, seed)
    assert converged is not None and converged - last < 2.0, converged


@pytest.mark.parametrize("size", [4, 8, 24])
@pytest.mark.parametrize("seed", [0, 1])
def test_a_small_mesh_started_together_agrees_before_the_repeats(size: int, seed: int) -> None:
    # Its states fit one datagram each, and those are pushed whatever the repeats would
    # tell: what `docker compose up --scale node=8` sees.
    cluster, last, converged = _storm(size, 1.0, seed)
    assert converged is not None and converged - last < cluster.config.announce_repeat / 2


def test_nodes_started_in_one_instant_agree_without_pushing_large_states() -> None:
    # Every announce reached every node: welcome pushes would only repeat them (deciding at
    # once, about 3 N ln N of them pushed: 21,000 full states at N = 1,000).
    cluster, last, converged = _storm(300, 0.0, seed=5)
    assert converged is not None and converged - last < 0.5
    cluster.run_until(last + 5.0)
    states, datagrams = _full_states(cluster)
    assert datagrams == states <= 300  # a few small ones, from nodes that had just started


def test_a_start_storm_costs_a_few_datagrams_of_state_per_node() -> None:
    # Those that start within announce_repeat of each other learn each other from the
    # announces and their repeats; the rest get about sync_pushers pushes per newcomer.
    cluster, last, converged = _storm(256, 3.0, seed=6)
    assert converged is not None and converged - last < 3.0
    cluster.run_until(last + 5.0)
    assert _full_states(cluster)[1] < 16 * 256


@pytest.mark.parametrize("seed", [6, 7])
def test_nodes_started_within_the_repeat_push_each_other_only_small_states(seed: int) -> None:
    # Before the repeats, every newcomer got about three full states: 900 for 256 nodes.
    cluster, last, converged = _storm(256, 1.0, seed=seed)
    assert converged is not None and converged - last < cluster.config.announce_repeat + 0.5
    cluster.run_until(last + 5.0)
    states, datagrams = _full_states(cluster)
    assert datagrams < 8 * 256
    assert datagrams - states < 64  # parts beyond the first: large states, hardly any


def test_a_start_storm_under_heavy_loss_agrees() -> None:
    # A newcomer that missed an announce and its repeat catches up from a differing ack.
    cluster = Cluster(0, seed=3, loss=0.2)
    last = cluster.add_nodes_over(64, 1.0, random.Random(3))
    converged = cluster.run_until_converged(last + 30.0, step=0.05)
    assert converged is not None, "a 64-node storm at 20 % loss never agreed within 30 s"


def test_a_killed_node_is_removed_by_every_live_node() -> None:
    cluster = Cluster(16, seed=3)
    assert cluster.run_until_converged(10.0) is not None
    victim = cluster.live_hosts()[5]
    addr = cluster.addr(victim)
    cluster.crash(victim)
    killed_at = cluster.now
    gone_at = cluster.run_until_forgotten([addr], killed_at + 30.0)
    assert gone_at is not None and gone_at - killed_at < 10.0
    assert cluster.run_until_converged(gone_at + 5.0) is not None
    assert cluster.audit.false_failures == 0


def test_a_restarted_node_rejoins_at_its_new_address_and_the_old_one_is_forgotten() -> None:
    cluster = Cluster(12, seed=4)
    assert cluster.run_until_converged(10.0) is not None
    host = cluster.live_hosts()[2]
    old = cluster.addr(host)
    cluster.run_for(5.0)
    cluster.restart(host)
    new = cluster.addr(host)
    assert new != old
    start = cluster.now
    assert cluster.run_until_forgotten([old], start + 30.0) is not None
    assert cluster.run_until_converged(cluster.now + 30.0) is not None
    assert cluster.counted_by(new) == len(cluster.live_hosts())
    assert cluster.audit.false_failures == 0


def test_graceful_leave_is_seen_as_left_by_everyone_within_a_second() -> None:
    cluster = Cluster(20, seed=5)
    assert cluster.run_until_converged(10.0) is not None
    events = cluster.record_events()
    host = cluster.live_hosts()[7]
    addr = cluster.addr(host)
    cluster.stop(host)
    stopped_at = cluster.now
    gone_at = cluster.run_until_forgotten([addr], stopped_at + 5.0)
    assert gone_at is not None and gone_at - stopped_at < 1.0
    left_by = {h for _, h, e in events if isinstance(e, PeerLeft) and e.addr == addr}
    assert left_by == set(cluster.live_hosts())
    assert cluster.audit.false_failures == 0


def test_a_pause_shorter_than_the_suspicion_timeout_removes_nobody() -> None:
    cluster = Cluster(16, seed=6)
    assert cluster.run_until_converged(10.0) is not None
    minimum, _ = cluster.config.suspicion_bounds(16)
    paused = cluster.live_hosts()[:2]
    for host in paused:
        cluster.pause(host)
    cluster.run_for(minimum * 0.9)
    for host in paused:
        cluster.resume(host)
    cluster.run_for(10.0)
    assert cluster.audit.verdicts["paused"] == 0
    assert cluster.audit.false_failures == 0
    assert cluster.converged()


def test_a_long_pause_is_detected_and_the_node_rejoins_after_it() -> None:
    cluster = Cluster(16, seed=7)
    assert cluster.run_until_converged(10.0) is not None
    host = cluster.live_hosts()[3]
    addr = cluster.addr(host)
    cluster.pause(host)
    assert cluster.run_until_forgotten([addr], cluster.now + 30.0) is not None
    cluster.resume(host)
    assert cluster.run_until_converged(cluster.now + 30.0) is not None
    assert cluster.counted_by(addr) == 16
    assert cluster.audit.false_failures == 0


@pytest.mark.parametrize("seconds", [5.0, 40.0])
def test_a_healed_partition_merges_back_into_one_mesh(seconds: float) -> None:
    cluster = Cluster(24, seed=8)
    assert cluster.run_until_converged(10.0) is not None
    hosts = cluster.live_hosts()
    cluster.partition([hosts[:12], hosts[12:]])
    cluster.run_for(seconds)
    cluster.heal()
    healed = cluster.run_until_converged(cluster.now + 60.0)
    assert healed is not None
    assert cluster.fingerprints()[hosts[0]] == cluster.true_fingerprint()


def test_twenty_percent_loss_for_five_minutes_causes_no_false_failure() -> None:
    cluster = Cluster(32, seed=9, loss=0.2)
    assert cluster.run_until_converged(60.0) is not None
    cluster.run_until(300.0)
    assert cluster.audit.false_failures == 0
    assert cluster.audit.events["PeerSuspected"] > 0  # the loss was felt, and survived


def test_stale_gossip_never_resurrects_a_dead_member() -> None:
    cluster = Cluster(8, seed=10)
    assert cluster.run_until_converged(10.0) is not None
    victim = cluster.live_hosts()[1]
    ghost = cluster.node(victim).members.get(cluster.addr(victim))
    assert ghost is not None
    stale = Update(
        addr=ghost.addr,
        state=MemberState.ALIVE,
        incarnation=ghost.incarnation,
        identity=ghost.identity,
    )
    cluster.crash(victim)
    assert cluster.run_until_forgotten([ghost.addr], cluster.now + 30.0) is not None
    joined = cluster.record_events()
    for host in cluster.live_hosts():
        cluster.network.inject(
            host, cluster.addr(cluster.live_hosts()[0]), encode(Gossip(updates=(stale,)))
        )
    cluster.run_for(5.0)
    assert cluster.counted_by(ghost.addr) == 0
    assert not any(isinstance(e, PeerJoined) and e.addr == ghost.addr for _, _, e in joined)


def test_a_forged_left_sent_to_everyone_removes_the_live_member_from_no_view() -> None:
    cluster = Cluster(16, seed=12)
    assert cluster.run_until_converged(10.0) is not None
    victim, liar = cluster.live_hosts()[3], cluster.live_hosts()[0]
    record = cluster.node(victim).members.get(cluster.addr(victim))
    assert record is not None
    forged = record.changed(state=MemberState.LEFT)  # its current incarnation
    events = cluster.record_events()
    for host in cluster.live_hosts():
        if host != victim:
            cluster.network.inject(host, cluster.addr(liar), encode(Gossip(updates=(forged,))))
    cluster.run_for(5.0)
    removals = (PeerLeft, PeerFailed, PeerSuspected)
    assert not [e for _, _, e in events if isinstance(e, removals) and e.addr == record.addr]
    assert cluster.node(victim).incarnation == record.incarnation + 1  # it refuted
    assert cluster.counted_by(record.addr) == len(cluster.live_hosts())
    assert cluster.views_agree()


def test_a_newcomer_syncs_a_thousand_member_state() -> None:
    cluster = Cluster(1000, seed=11)
    assert cluster.run_until_converged(10.0) is not None
    cluster.run_for(3.0)
    newcomer = cluster.add_node()
    at = cluster.run_until_converged(cluster.now + 10.0)
    assert at is not None
    assert cluster.node(newcomer).members.counted == 1001
    assert cluster.node(newcomer).stats["received"] > 1
