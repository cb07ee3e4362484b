"""The containers in rust-0.1 mode (KABOODLE_WIRE=rust-0.1, docs/interop.md): a compose
project of its own, on a network of its own, whose nodes speak the kaboodle crate 0.1.5's
protocol and must still converge, and again after kill -9 of one of them."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from dockermesh import REPO, Mesh, SideProject, counted

PROJECT_RUST = "kbitestrust"
NODES_RUST = 4
NETWORK = {  # beside the session's IPv6 mesh, so a bridge and subnets of its own
    "KABOODLE_WIRE": "rust-0.1",
    "KABOODLE_BRIDGE": "kbitestr6",
    "KABOODLE_SUBNET6": "fd6b:6264:19a3::/64",  # the keyed project has 19a2
    "KABOODLE_SUBNET4": "172.31.193.0/24",
}


@pytest.fixture(scope="module")
def rust_mesh(side_project: SideProject) -> Iterator[Mesh]:
    """4 nodes in rust-0.1 mode, removed after the module's tests."""
    with side_project([REPO / "docker-compose.yml"], PROJECT_RUST, NODES_RUST, NETWORK) as mesh:
        yield mesh


def test_containers_in_rust_mode_converge_and_survive_a_kill(
    rust_mesh: Mesh, record: list[str]
) -> None:
    mesh = rust_mesh
    group = mesh.containers()
    assert len(group) == NODES_RUST
    started = time.monotonic()
    conv = mesh.wait_converged(group, 60.0, "4 rust-0.1 containers converge")
    took = time.monotonic() - started
    for c in group:
        info = mesh.info(c)
        assert info is not None and info["wire"] == "rust-0.1"
    victim = group[0]
    gone = conv.member(victim).addr
    survivors = group[1:]
    victim.kill(signal="SIGKILL")
    killed = time.monotonic()
    # The crate's timings: a ping, 2 s, ping-requests, 2 s more, checked once a second.
    after = mesh.wait_converged(survivors, 30.0, "the 3 rust-0.1 survivors converge")
    assert all(gone not in counted(v) for v in after.views.values())
    record.append(
        f"rust-0.1 containers: 4 converged {took:.2f} s after the first look; "
        f"kill -9 agreed {time.monotonic() - killed:.2f} s after"
    )
