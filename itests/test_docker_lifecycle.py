"""Nodes that start, crash, restart, stop and scale, each in a container of one compose project.

Every test starts from 8 running nodes that have converged (the ``mesh`` fixture) and waits
for each condition with a deadline; a condition that is not met in time fails the test with
every node's ``kaboodle peers --json`` and the tail of its log.
"""

from __future__ import annotations

import subprocess
import time

from dockermesh import NODES, Compose, Mesh, counted, started_at, state_of, wait_until

from kaboodle.protocol.addr import Addr


def test_eight_nodes_converge_on_the_fingerprint_of_their_containers(
    mesh: Mesh, compose: Compose, record: list[str]
) -> None:
    """8 fresh containers converge: every node's fingerprint is the one computed from the
    containers' own addresses and identities.

    A node's member address is its unicast socket; ``kaboodle peers --json`` gives it as
    "self". Its IP must be the container's IP as Docker reports it, and its identity the
    container's hostname (the image's default identity); the expected fingerprint is then
    ``kaboodle.protocol.fingerprint.fingerprint`` over those (address, identity) pairs.
    """
    compose.run("up", "-d", "--no-build", "--force-recreate", "--scale", f"node={NODES}")
    group = mesh.containers()
    assert len(group) == NODES
    last_start = max(started_at(c) for c in group)
    conv = mesh.wait_converged(group, 30.0, "8 fresh nodes converge")
    took = mesh.settled_at(group, conv.fingerprint, last_start) - last_start
    record.append(f"start: 8 nodes on one fingerprint {took:.2f} s after the last start (logs)")

    addrs = {m.addr for m in conv.members.values()}
    assert len(addrs) == NODES
    assert len({Addr.parse(a).host for a in addrs}) == NODES, "two nodes share an IP"
    # The same, through the command a user runs: docker exec C kaboodle peers --json.
    for c in group:
        view = mesh.cli_view(c)
        assert view["self"] == conv.member(c).addr
        assert view["fingerprint"] == conv.fingerprint, mesh.describe()
        assert counted(view) == addrs
        code, out = mesh.cli(c, "fingerprint")
        assert (code, out.strip()) == (0, conv.fingerprint)


def test_kill_9_the_survivors_converge_without_it(mesh: Mesh, record: list[str]) -> None:
    """kill -9 one container: the 7 survivors converge on the fingerprint of the 7."""
    group = mesh.containers()
    before = mesh.wait_converged(group, 5.0)
    victim = group[2]
    survivors = [c for c in group if c.id != victim.id]
    killed_at = time.time()
    victim.kill(signal="SIGKILL")
    conv = mesh.wait_converged(survivors, 20.0, "the 7 survivors converge without the killed node")
    gone = before.member(victim).addr
    assert all(gone not in counted(v) for v in conv.views.values())
    took = mesh.settled_at(survivors, conv.fingerprint, killed_at) - killed_at
    record.append(f"kill -9: the 7 survivors on one fingerprint {took:.2f} s after the kill (logs)")


def test_restarted_node_rejoins_and_its_old_address_is_gone(mesh: Mesh, record: list[str]) -> None:
    """kill -9 one container, then start it again: 8 converge, and no view counts the old
    address any more (the restarted node has a new unicast port, hence a new address; the
    old one may stay listed as ``dead`` for the tombstone time, never as a member)."""
    group = mesh.containers()
    before = mesh.wait_converged(group, 5.0)
    victim = group[3]
    old = before.member(victim).addr
    survivors = [c for c in group if c.id != victim.id]
    victim.kill(signal="SIGKILL")
    mesh.wait_converged(survivors, 20.0, "the 7 survivors converge without the killed node")

    victim.start()
    victim = mesh.refresh(victim)
    group = mesh.containers()
    conv = mesh.wait_converged(group, 20.0, "8 converge after the restart")
    took = mesh.settled_at(group, conv.fingerprint, started_at(victim)) - started_at(victim)
    new = conv.member(victim).addr
    assert new != old, "the restarted node kept its old address"
    assert conv.member(victim).identity == before.member(victim).identity
    for name, view in conv.views.items():
        assert old not in counted(view), f"{name} still counts the old address {old}"
        assert state_of(view, old) in (None, "dead"), f"{name}: {old} is {state_of(view, old)}"
    record.append(f"restart: 8 on one fingerprint {took:.2f} s after the container started (logs)")


def test_docker_stop_the_survivors_record_it_as_left_within_a_second(
    mesh: Mesh, record: list[str]
) -> None:
    """``docker stop`` (SIGTERM: the node leaves gracefully): within one second of the
    command, every survivor records the node as ``left`` and no longer counts it."""
    group = mesh.containers()
    before = mesh.wait_converged(group, 5.0)
    victim = group[4]
    addr = before.member(victim).addr
    survivors = [c for c in group if c.id != victim.id]

    # The docker CLI, as a user runs it, in the background: `docker stop` returns only once
    # the container has exited, and the survivors are watched meanwhile.
    started = time.monotonic()
    stop = subprocess.Popen(
        ["docker", "stop", "-t", "10", victim.id or ""], stdout=subprocess.DEVNULL
    )

    def all_left() -> float | None:
        for c in survivors:
            view = mesh.view(c)
            if view is None or state_of(view, addr) != "left" or addr in counted(view):
                return None
        return time.monotonic() - started

    try:
        took = wait_until(all_left, 5.0, f"every survivor records {addr} as left", mesh.describe)
    finally:
        assert stop.wait(timeout=30) == 0
    record.append(f"docker stop: every survivor recorded it as left {took:.3f} s after the command")
    assert took < 1.0, f"the survivors took {took:.3f} s to record the stopped node as left"

    mesh.wait_converged(survivors, 5.0, "the 7 survivors converge without the stopped node")
    # The command a user runs says so too: kaboodle peers --json --state left.
    for c in survivors:
        left = mesh.cli_view(c, "--state", "left")
        assert addr in {p["addr"] for p in left["peers"]}, f"{c.name}: {left}"


def test_scale_from_8_to_16_to_4_converges_at_every_step(
    mesh: Mesh, compose: Compose, record: list[str]
) -> None:
    """``compose up --scale node=16``, then 4, then 8 again: every step converges (the nodes
    that scaling down removes are stopped, so they leave gracefully)."""
    steps = []
    for n, timeout in ((16, 60.0), (4, 30.0), (NODES, 30.0)):
        started = time.monotonic()
        compose.up(n)
        group = mesh.containers()
        assert len(group) == n
        mesh.wait_converged(group, timeout, f"{n} nodes converge after scaling")
        steps.append(f"{n} in {time.monotonic() - started:.1f} s")
    record.append("scale (compose up included): " + ", ".join(steps))
