"""Nodes as processes on separate hosts (network namespaces on one bridge): discovery by IPv6
multicast and IPv4 broadcast, kill, graceful stop, restart, and seeds without multicast."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest
from netns_lab import Lab, require_lab
from nodes import NodeProcess, converged, describe_all, expected_fingerprint
from waiting import wait_until

pytestmark = pytest.mark.netns


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_lab()
    with Lab(5) as lab:
        yield lab


def start(lab: Lab, hosts: range, *args: str) -> list[NodeProcess]:
    return [NodeProcess(lab, h, f"host-{h}", *args) for h in hosts]


def test_nodes_find_each_other_by_ipv6_multicast(lab: Lab) -> None:
    nodes = start(lab, range(4))
    assert all(n.addr.startswith("[fd42:") for n in nodes)  # ULA preferred over link-local
    wait_until(lambda: converged(nodes), 10.0, lambda: describe_all(nodes))


def test_nodes_find_each_other_by_ipv4_broadcast() -> None:
    require_lab()
    with Lab(3, ipv6=False) as lab:
        nodes = start(lab, range(3))
        assert all(not n.addr.startswith("[") for n in nodes)
        wait_until(lambda: converged(nodes), 10.0, lambda: describe_all(nodes))


def test_a_killed_node_is_removed_and_a_stopped_one_recorded_as_left(lab: Lab) -> None:
    nodes = start(lab, range(5))
    wait_until(lambda: converged(nodes), 10.0, lambda: describe_all(nodes))
    victim, leaver = nodes[4], nodes[3]
    victim.proc.kill()
    survivors = nodes[:4]
    wait_until(lambda: converged(survivors), 10.0, lambda: describe_all(survivors))
    leaver.proc.send_signal(signal.SIGTERM)
    assert leaver.proc.wait(5) == 0
    rest = nodes[:3]
    wait_until(
        lambda: all(leaver.addr in n.events("PeerLeft") for n in rest),
        2.0,  # within a gossip round or two, not a failure-detection timeout
        lambda: describe_all(rest),
    )
    wait_until(lambda: converged(rest), 5.0, lambda: describe_all(rest))


def test_a_restarted_node_rejoins_and_its_old_address_is_forgotten(lab: Lab) -> None:
    nodes = start(lab, range(3))
    wait_until(lambda: converged(nodes), 10.0, lambda: describe_all(nodes))
    old = nodes[2]
    old.proc.kill()
    old.proc.wait(5)
    new = NodeProcess(lab, 2, "host-2")
    assert new.addr != old.addr
    mesh = [*nodes[:2], new]
    wait_until(lambda: converged(mesh), 15.0, lambda: describe_all(mesh))
    assert all(old.addr not in n.view["peers"] for n in mesh)


def test_seeds_make_a_mesh_where_multicast_does_not_reach(lab: Lab) -> None:
    # Each node listens for discovery on a port of its own, so no announce reaches anyone:
    # only the seed (host 0's fixed unicast port) can bring them together.
    first = NodeProcess(lab, 0, "host-0", "--port", "7100", "--unicast-port", "7000")
    seed = f"[{lab.hosts[0].ipv6}]:7000"
    others = [
        NodeProcess(lab, h, f"host-{h}", "--port", str(7100 + h), "--seed", seed)
        for h in range(1, 4)
    ]
    nodes = [first, *others]
    wait_until(lambda: converged(nodes), 15.0, lambda: describe_all(nodes))
    assert expected_fingerprint(nodes) == first.view["fingerprint"]


@pytest.mark.parametrize("ifname", [None, "eth1"])
def test_a_node_rejoins_the_group_when_its_interface_comes_back_with_a_new_index(
    lab: Lab, ifname: str | None
) -> None:
    nodes = start(lab, range(2))
    wait_until(lambda: converged(nodes), 10.0, lambda: describe_all(nodes))
    lab.replug(1, ifname)  # eth1: back under another name, as Docker may bring it
    wait_until(lambda: nodes[1].stats.get("rejoined", 0) >= 1, 10.0, nodes[1].describe)
    newcomer = NodeProcess(lab, 2, "host-2")
    mesh = [*nodes, newcomer]
    wait_until(lambda: converged(mesh), 10.0, lambda: describe_all(mesh))


_FEED_WATCHER = """
import select, sys
from kaboodle.runtime.interfaces import change_feed
feed = change_feed()
print("ready" if feed is not None else "no feed", flush=True)
readable, _, _ = select.select([feed], [], [], float(sys.argv[1]))
print("changed" if readable else "silent", flush=True)
"""


def test_the_change_feed_tells_of_an_interface_that_went_away_and_came_back(lab: Lab) -> None:
    # What lets an idle node stop polling its interface: the replug test above shows the
    # whole rejoin; this shows the feed itself says something, and only when it should.
    watchers = [
        lab.run(h, [sys.executable, "-c", _FEED_WATCHER, wait], stdout=subprocess.PIPE, text=True)
        for h, wait in ((0, "10"), (1, "3"))
    ]
    for watcher in watchers:
        assert watcher.stdout is not None
        assert watcher.stdout.readline().strip() == "ready"
    lab.replug(0)
    out, _ = watchers[0].communicate(timeout=15)
    assert out.strip() == "changed"
    out, _ = watchers[1].communicate(timeout=15)  # another host's namespace heard nothing
    assert out.strip() == "silent"


def test_a_probe_finds_a_member_without_joining(lab: Lab) -> None:
    nodes = start(lab, range(3))
    wait_until(lambda: converged(nodes), 10.0, lambda: describe_all(nodes))
    probe = (
        "import json, kaboodle; "
        "m = kaboodle.BlockingKaboodle.discover_mesh_member(port=7475, timeout=10); "
        "print(json.dumps({'addr': str(m.addr), 'identity': m.identity.decode(), "
        "'members': m.members}))"
    )
    done = lab.exec(3, [sys.executable, "-c", probe], timeout=20)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    by_addr = {n.addr: n for n in nodes}
    assert found["addr"] in by_addr
    assert found["identity"] == by_addr[found["addr"]].identity
    assert found["members"] == 3
    assert converged(nodes)  # the prober joined nobody's view
