"""The IPv4-only network (docker-compose.ipv4.yml): no IPv6 at all, so the nodes must find
each other by IPv4 broadcast.

A compose project of its own (:data:`PROJECT4`), brought up and removed around this module
with pytest-docker's ``get_docker_services``, the way the session's ``docker_services`` brings
up the IPv6 mesh.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest
from dockermesh import NODES, REPO, Mesh, SideProject, counted

from kaboodle.protocol.addr import Addr

PROJECT4 = "kbitest4"


@pytest.fixture(scope="module")
def ipv4_mesh(side_project: SideProject) -> Iterator[Mesh]:
    """8 nodes on the IPv4-only network, removed after the module's tests."""
    with side_project([REPO / "docker-compose.ipv4.yml"], PROJECT4, NODES, {}) as mesh:
        yield mesh


def test_the_ipv4_only_network_converges_by_broadcast(ipv4_mesh: Mesh, record: list[str]) -> None:
    """8 nodes on a network without IPv6 converge on the fingerprint of their containers'
    IPv4 addresses and identities; then kill -9 one, and the 7 converge without it.

    The nodes have no seeds, so the group channel is their only way to meet, and with no
    IPv6 on the container (not even fe80::) that channel is IPv4 broadcast.
    """
    mesh = ipv4_mesh
    group = mesh.containers()
    assert len(group) == NODES
    for c in group:
        net = Mesh.network(c)
        assert not net.get("GlobalIPv6Address"), f"{c.name} has IPv6: {net}"
        assert "inet6" not in mesh.root(c, "ip -o addr show"), f"{c.name} has IPv6 addresses"
    started = time.monotonic()
    conv = mesh.wait_converged(group, 30.0, "8 nodes converge on the IPv4-only network")
    took = time.monotonic() - started
    for member in conv.members.values():
        assert isinstance(ipaddress.ip_address(Addr.parse(member.addr).host), ipaddress.IPv4Address)
    for c in group:
        info = mesh.info(c)
        if info is not None:
            assert isinstance(ipaddress.ip_address(info["interface"]["ip"]), ipaddress.IPv4Address)

    victim = group[1]
    gone = conv.member(victim).addr
    survivors = [c for c in group if c.id != victim.id]
    victim.kill(signal="SIGKILL")
    after = mesh.wait_converged(survivors, 20.0, "the 7 IPv4 survivors converge without it")
    assert all(gone not in counted(v) for v in after.views.values())
    record.append(f"IPv4 only: 8 converged {took:.2f} s after the first look; kill -9 handled")
