"""Integration tests: a mesh of Kaboodle nodes in Docker containers (docker-compose.yml).

pytest-docker brings the compose project up once per session (``docker_services``), with its
``docker_compose_command``, ``docker_setup`` and ``docker_cleanup`` fixtures overridden here:
compose v2 or v1, whichever the machine has, and ``--scale node=8``. Each test then starts from
the same state, restored by the ``mesh`` fixture: 8 running nodes that have converged.

Without Docker (or compose) the tests skip, saying why; on CI (``CI=true``) they fail instead,
so that a CI machine without Docker can never pass them by skipping.

The project's network uses its own bridge and subnets (:data:`ITEST_ENV`), so that it never
collides with a mesh someone runs with docker-compose.yml's defaults on the same machine.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import docker
import docker.errors
import pytest
from dockermesh import (
    NODES,
    REPO,
    Compose,
    ComposeMissingError,
    Mesh,
    SideProject,
    compose_command,
    project_lock,
    raise_neighbour_limits,
)
from pytest_docker.plugin import get_docker_services

PROJECT = os.environ.get("KABOODLE_ITEST_PROJECT", "kbitest")
"""The compose project of the IPv6 mesh; a fixed name, so a run removes what a crashed earlier
run left behind (``docker_setup`` starts with ``down``)."""

ITEST_ENV = {
    "KABOODLE_IMAGE": "kaboodle:itest",
    "KABOODLE_BRIDGE": "kbitest6",
    "KABOODLE_SUBNET6": "fd6b:6264:19a1::/64",
    "KABOODLE_SUBNET4": "172.31.191.0/24",
    "KABOODLE_NETWORK4": "kbitest4_mesh4",
    "KABOODLE_BRIDGE4": "kbitest4",
    "KABOODLE_SUBNET4_ONLY": "172.31.192.0/24",
}
"""Compose variables (docker-compose.yml, docker-compose.ipv4.yml) for the tests' networks and
image; each can be overridden from the environment."""

_timings: list[str] = []


def _on_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _docker_problem() -> str | None:
    """Why the integration tests cannot run here, or None if they can."""
    try:
        client = docker.from_env()
        client.ping()
        client.close()
    except docker.errors.DockerException as exc:
        return f"no Docker daemon answers ({exc})"
    try:
        compose_command()
    except ComposeMissingError as exc:
        return str(exc)
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print what the tests measured (convergence times), so a CI log shows them."""
    if _timings:
        terminalreporter.section("kaboodle mesh timings")
        for line in _timings:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def record() -> list[str]:
    """Lines for the terminal summary: a test appends what it measured."""
    return _timings


@pytest.fixture(scope="session")
def itest_env() -> Iterator[dict[str, str]]:
    """The compose variables of :data:`ITEST_ENV` in os.environ (pytest-docker runs compose
    in a shell that inherits it), unless already set."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in ITEST_ENV.items():
            mp.setenv(key, os.environ.get(key, value))
        yield {key: os.environ[key] for key in ITEST_ENV}


@pytest.fixture(scope="session")
def docker_client(itest_env: dict[str, str]) -> Iterator[docker.DockerClient]:
    """A Docker client, once Docker, compose and the node image are known to be there, held
    with the lock of the tests' compose projects (another run on this machine waits for it).

    Skips the tests without Docker, but fails them on CI. Builds the image with
    itests/image.sh when it is missing (scripts/test.sh builds it before the tests).
    """
    problem = _docker_problem()
    if problem is not None:
        if _on_ci():
            pytest.fail(f"CI=true but the integration tests cannot run: {problem}")
        pytest.skip(f"the integration tests need Docker and compose: {problem}")
    raise_neighbour_limits()
    client = docker.from_env(timeout=120)
    image = itest_env["KABOODLE_IMAGE"]
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        subprocess.run([str(REPO / "itests" / "image.sh")], check=True, cwd=REPO)
    # One run at a time on this Docker daemon: the projects' names and bridges are fixed.
    with project_lock(PROJECT):
        yield client
    client.close()


@pytest.fixture(scope="session")
def compose_argv(docker_client: docker.DockerClient) -> list[str]:
    """The compose command: ``docker compose`` (v2) or ``docker-compose`` (v1)."""
    return compose_command()


@pytest.fixture(scope="session")
def docker_compose_command(compose_argv: list[str]) -> str:
    """pytest-docker: v2 or v1, whichever this machine has (its default is v2 only)."""
    return shlex.join(compose_argv)


@pytest.fixture(scope="session")
def docker_compose_file() -> list[str]:
    """pytest-docker: the project's own compose file, unchanged."""
    return [str(REPO / "docker-compose.yml")]


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    """pytest-docker: a fixed project name (see :data:`PROJECT`)."""
    return PROJECT


@pytest.fixture(scope="session")
def docker_setup() -> list[str]:
    """pytest-docker: remove whatever an earlier run left, then start 8 nodes.

    Not pytest-docker's ``up --build --wait``: the image is built beforehand with no registry
    (itests/image.sh), v1 has no ``--wait``, and the nodes need ``--scale``.
    """
    return ["down -v --remove-orphans -t 2", f"up -d --no-build --scale node={NODES}"]


@pytest.fixture(scope="session")
def docker_cleanup() -> list[str]:
    """pytest-docker: remove the project (KABOODLE_ITEST_KEEP=1 keeps it, for a look after)."""
    if os.environ.get("KABOODLE_ITEST_KEEP"):
        return []
    return ["down -v --remove-orphans -t 2"]


@pytest.fixture(scope="session")
def side_project(
    docker_client: docker.DockerClient, docker_compose_command: str, itest_env: dict[str, str]
) -> SideProject:
    """A compose project of its own beside the session's mesh, for a module's fixture:
    ``with side_project(files, project, nodes, env) as mesh:`` brings ``nodes`` nodes up from
    the compose ``files`` (an earlier run's leftovers removed first), with the compose
    variables ``env`` set while it lives (its own bridge and subnets, say), and removes it
    after."""

    @contextmanager
    def project_of(
        files: Sequence[Path], project: str, nodes: int, env: Mapping[str, str]
    ) -> Iterator[Mesh]:
        down = "down -v --remove-orphans -t 2"
        with pytest.MonkeyPatch.context() as mp:
            for name, value in env.items():
                mp.setenv(name, value)
            with get_docker_services(
                docker_compose_command,
                [str(f) for f in files],
                project,
                [down, f"up -d --no-build --scale node={nodes}"],
                [down],
            ):
                yield Mesh(docker_client, project)

    return project_of


@pytest.fixture(scope="session")
def compose(compose_argv: list[str]) -> Compose:
    """The IPv6 mesh's compose project."""
    return Compose(tuple(compose_argv), (REPO / "docker-compose.yml",), PROJECT)


def restore(mesh: Mesh, compose: Compose, nodes: int = NODES) -> float:
    """Bring the project back to ``nodes`` running, converged nodes; return the seconds taken.

    Unpauses paused nodes and lets ``compose up --scale`` start stopped ones and add or remove
    containers; a test undoes its own partitions and disconnections. If the mesh still does
    not converge, the project is removed and brought up anew, once.
    """
    start = time.monotonic()
    for attempt in range(2):
        for c in mesh.containers(include_stopped=True):
            if c.status == "paused":
                c.unpause()
        compose.up(nodes)
        try:
            group = mesh.containers()
            assert len(group) == nodes, f"{len(group)} nodes running after up, not {nodes}"
            mesh.wait_converged(group, 60.0, f"the {nodes}-node mesh converges before the test")
            return time.monotonic() - start
        except AssertionError:
            if attempt:
                raise
            print(f"restoring the mesh failed; recreating project {compose.project}")
            compose.down()
    raise AssertionError("unreachable")


@pytest.fixture
def mesh(docker_services: object, docker_client: docker.DockerClient, compose: Compose) -> Mesh:
    """The 8-node IPv6 mesh, running and converged."""
    m = Mesh(docker_client, PROJECT)
    restore(m, compose)
    return m
