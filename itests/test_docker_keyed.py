"""An encrypted mesh: docker-compose.yml with docker-compose.secret.yml, every node's key a
Docker secret (KABOODLE_KEY_FILE), and a container without the key on the same network.

A compose project of its own (:data:`PROJECT_KEYED`, on its own bridge and subnets), brought
up and removed around this module, as test_docker_ipv4.py does for the IPv4-only network.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator

import docker
import pytest
from dockermesh import NODES, REPO, Mesh, SideProject, counted, wait_until

from kaboodle.runtime.keyring import key_id

PROJECT_KEYED = "kbitestkey"
KEYED_ENV = {
    "KABOODLE_BRIDGE": "kbitestk",
    "KABOODLE_SUBNET6": "fd6b:6264:19a2::/64",
    "KABOODLE_SUBNET4": "172.31.194.0/24",
}
"""The project's network, apart from the other itest projects'."""
KEY = os.urandom(32)


@pytest.fixture(scope="module")
def keyed_mesh(
    side_project: SideProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mesh]:
    """8 nodes whose key is a Docker secret, removed after the module's tests."""
    secrets = tmp_path_factory.mktemp("secrets")
    secrets.chmod(0o700)  # the key file itself must be readable by the image's user
    key_file = secrets / "mesh.key"
    key_file.write_text(base64.b64encode(KEY).decode() + "\n")
    key_file.chmod(0o644)
    files = [REPO / "docker-compose.yml", REPO / "docker-compose.secret.yml"]
    env = {**KEYED_ENV, "KABOODLE_KEY_SECRET": str(key_file)}
    with side_project(files, PROJECT_KEYED, NODES, env) as mesh:
        yield mesh


def test_a_keyed_mesh_converges_and_a_container_without_the_key_never_gets_in(
    keyed_mesh: Mesh,
    docker_client: docker.DockerClient,
    itest_env: dict[str, str],
    record: list[str],
) -> None:
    mesh = keyed_mesh
    group = mesh.containers()
    assert len(group) == NODES
    conv = mesh.wait_converged(group, 30.0, "8 nodes with the key converge")
    code, out = mesh.cli(group[0], "keys", "list", "--json")
    assert code == 0, out
    assert f'"primary": "{key_id(KEY)}"' in out
    outsider = docker_client.containers.run(
        itest_env["KABOODLE_IMAGE"],
        ["join", "--port", "7475"],
        network=Mesh.network_name(group[0]),
        detach=True,
        init=True,
        name=f"{PROJECT_KEYED}-outsider",
    )
    try:
        # The mesh refuses its plain announces (and says so once per node, not per datagram).
        wait_until(
            lambda: (
                True
                if any("(plaintext:" in line.text for c in group for line in mesh.log(c))
                else None
            ),
            30.0,
            "a member refuses the keyless container's plain announces",
            mesh.describe,
        )
        after = mesh.wait_converged(group, 10.0, "the 8 still agree on exactly themselves")
        assert after.fingerprint == conv.fingerprint
        code, out = mesh.cli(outsider, "peers", "--json")
        assert code == 0, out
        assert out.count('"addr"') == 1  # only itself
        assert all(len(counted(v)) == NODES for v in after.views.values())
        for c in group:
            refusals = [line for line in mesh.log(c) if "refused a datagram" in line.text]
            assert len(refusals) <= 1, refusals
    finally:
        outsider.remove(force=True)
    record.append(f"keyed mesh: {NODES} converged; a keyless container stayed out")
