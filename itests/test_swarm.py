"""deploy/stack.yml on a single-node Docker Swarm: the nodes meet over an overlay network, with
no multicast, through the swarm's DNS (``tasks.node``) as seeds.

The engine is put in swarm mode for this module if it is not in it already, and taken out of it
afterwards only then (with what swarm mode created), so the engine is left as it was found.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Sequence

import docker
import docker.errors
import pytest
from docker.models.containers import Container
from dockermesh import REPO, Mesh, counted, wait_until

STACK = "kbitestswarm"
SERVICE = f"{STACK}_node"
REPLICAS = 8


class SwarmMesh(Mesh):
    """The running task containers of the stack's service, by task slot."""

    def containers(self, *, include_stopped: bool = False) -> list[Container]:
        found = self.client.containers.list(
            all=include_stopped, filters={"label": [f"com.docker.swarm.service.name={SERVICE}"]}
        )
        return sorted(found, key=self.number)

    @staticmethod
    def number(container: Container) -> int:
        # "kbitestswarm_node.3.<task id>": the slot, stable across a task's replacements.
        return int(container.labels["com.docker.swarm.task.name"].split(".")[1])


def _docker(*args: str, timeout: float = 120.0) -> str:
    done = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)}: exit {done.returncode}: {done.stderr}")
    return done.stdout


def _swarm_state(client: docker.DockerClient) -> str:
    return str(client.info()["Swarm"]["LocalNodeState"])


@pytest.fixture(scope="module")
def swarm(docker_client: docker.DockerClient, itest_env: dict[str, str]) -> Iterator[Mesh]:
    """The stack deployed with 8 replicas on a swarm (made here when the engine had none)."""
    made = _swarm_state(docker_client) == "inactive"
    networks_before = {n.name for n in docker_client.networks.list()}
    if made:
        _docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        _docker("stack", "rm", STACK)  # what a crashed earlier run left
        _wait_gone(docker_client)
        env = {"KABOODLE_IMAGE": itest_env["KABOODLE_IMAGE"], "KABOODLE_REPLICAS": str(REPLICAS)}
        subprocess.run(
            ["docker", "stack", "deploy", "--resolve-image", "never", "-c",
             str(REPO / "deploy" / "stack.yml"), STACK],
            env={**os.environ, **env}, check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        yield SwarmMesh(docker_client, STACK)
    finally:
        try:
            _docker("stack", "rm", STACK)
            _wait_gone(docker_client)
        finally:
            if made:
                _docker("swarm", "leave", "--force")
                # Swarm mode made docker_gwbridge (leave removes ingress): take it away too,
                # so the engine has the networks it had.
                if "docker_gwbridge" not in networks_before:
                    wait_until(
                        lambda: _removed(docker_client, "docker_gwbridge"),
                        30.0,
                        "docker_gwbridge removed",
                    )


def _removed(client: docker.DockerClient, network: str) -> bool | None:
    """Remove ``network`` if it is there; True once it is gone (its last endpoints may take a
    moment to go after the swarm's containers)."""
    try:
        client.api.remove_network(network)
    except docker.errors.NotFound:
        return True
    except docker.errors.APIError:
        return None
    return True


def _wait_gone(client: docker.DockerClient) -> None:
    # A stack's network goes only once its last task container has gone.
    def gone() -> bool | None:
        # The low-level list: the high-level one inspects each container, and a container
        # removed between the two calls would raise NotFound.
        tasks = client.api.containers(
            all=True, filters={"label": f"com.docker.swarm.service.name={SERVICE}"}
        )
        networks = client.api.networks(names=[f"{STACK}_mesh"])
        return True if not tasks and not networks else None

    wait_until(gone, 60.0, f"the stack {STACK} removed")


def _running(mesh: Mesh, count: int) -> Sequence[Container]:
    """Exactly ``count`` running task containers (swarm starts and stops them in its time)."""

    def found() -> Sequence[Container] | None:
        group = mesh.containers()
        return group if len(group) == count else None

    result: Sequence[Container] = wait_until(
        found, 90.0, f"{count} running tasks", lambda: f"found {len(mesh.containers())}"
    )
    return result


def _converged(mesh: Mesh, count: int, what: str) -> float:
    """Wait until exactly ``count`` tasks run and all agree on one fingerprint of exactly
    them; returns how long it took."""
    started = time.monotonic()

    def agreed() -> bool | None:
        group = mesh.containers()
        return True if len(group) == count and mesh.converged(group) is not None else None

    wait_until(agreed, 90.0, what, mesh.describe)
    return time.monotonic() - started


_SCRAPE = (
    "import urllib.request; "
    "print(urllib.request.urlopen('http://127.0.0.1:9475/metrics', timeout=5).read().decode())"
)


def _scrape(container: Container) -> tuple[int, str]:
    """The task's /metrics, fetched by the image's own Python: exit code and text."""
    result = container.exec_run(["python3", "-c", _SCRAPE])
    output = result.output or b""
    assert isinstance(output, bytes)  # not a stream
    return int(result.exit_code or 0), output.decode(errors="replace")


def test_the_stack_meets_over_the_overlay_survives_a_kill_and_scales(
    swarm: Mesh, record: list[str]
) -> None:
    group = _running(swarm, REPLICAS)
    assert {Mesh.network_name(c) for c in group} == {f"{STACK}_mesh"}
    took = _converged(swarm, REPLICAS, "8 tasks converge over the overlay")
    for c in group:
        info = swarm.info(c)
        assert info is not None and info["interface"]["name"] == "eth0"
    # Each task serves its metrics (KABOODLE_METRICS_PORT): scraped from inside one.
    code, text = _scrape(group[0])
    assert code == 0, text
    assert f'kaboodle_members{{state="alive"}} {float(REPLICAS)}' in text.splitlines(), text

    victim = swarm.refresh(group[2])
    conv = swarm.converged(swarm.containers())
    assert conv is not None
    gone = conv.member(victim).addr
    victim.kill(signal="SIGKILL")
    # Swarm replaces the task: the survivors drop the dead one and take in its replacement.
    replaced = _converged(swarm, REPLICAS, "the survivors and the replacement task agree")
    views = swarm.converged(swarm.containers())
    assert views is not None
    assert all(gone not in counted(v) for v in views.views.values())

    steps = []
    for size in (12, 6):
        _docker("service", "scale", "--detach", f"{SERVICE}={size}")
        steps.append(f"{size} in {_converged(swarm, size, f'scaled to {size}'):.1f} s")
    record.append(
        f"swarm: 8 tasks agreed {took:.1f} s after deploy was seen; kill -9 to agreement "
        f"with the replacement {replaced:.1f} s; scale {', '.join(steps)}"
    )
