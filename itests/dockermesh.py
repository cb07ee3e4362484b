"""Driving a Kaboodle mesh of Docker containers: compose, the containers of one project, and
what each node says about the mesh.

Shared by the integration tests (itests/) and the benchmark (bench/docker_mesh.py).

How a node's view is read: ``kaboodle peers --json`` answers from the node's control socket, and
the socket's ``peers`` answer is exactly that JSON object (docs/cli.md). Starting the CLI in a
container costs a new process in it (0.04 s of CPU for ``fingerprint``, 0.2 s for ``peers``,
and docker exec's own), so polling 16 nodes with ``docker exec`` would load this machine's two
cores and slow the very nodes under test. As root, with the daemon on
this host, the socket is reachable from outside through ``/proc/<pid>/root``, which costs a
millisecond; :meth:`Mesh.view` uses that for polling and falls back to ``docker exec`` where it
cannot. The CLI itself is still exercised: :meth:`Mesh.cli_view` runs ``docker exec ...
kaboodle peers --json`` for the tests' final checks and for every failure report.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import ipaddress
import json
import os
import re
import shlex
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import docker
import docker.errors
from docker.models.containers import Container

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.fingerprint import fingerprint

__all__ = [
    "NODES",
    "REPO",
    "SERVICE",
    "Compose",
    "ComposeMissingError",
    "Convergence",
    "LogLine",
    "Member",
    "Mesh",
    "SideProject",
    "compose_command",
    "counted",
    "docker_time",
    "fingerprint_text",
    "name",
    "project_lock",
    "raise_neighbour_limits",
    "started_at",
    "state_of",
    "wait_until",
]

REPO = Path(__file__).resolve().parent.parent
SERVICE = "node"
"""The compose service that runs the nodes (docker-compose.yml)."""
NODES = 8
"""The size of the mesh every test starts from."""
PORT = 7475
"""The discovery port the image's default command joins."""
_RUNTIME_DIR = "/run/kaboodle"
"""The image's KABOODLE_RUNTIME_DIR (Dockerfile), where the control socket lives."""
_POLL = 0.05
"""Seconds between two polls of a condition: a view costs about a millisecond per node."""

T = TypeVar("T")

SideProject = Callable[..., contextlib.AbstractContextManager["Mesh"]]
"""``side_project(files, project, nodes, env)``: a compose project of its own beside the
session's mesh, as a context manager of its :class:`Mesh` (the fixture in conftest.py)."""


class ComposeMissingError(RuntimeError):
    """Neither ``docker compose`` (v2) nor ``docker-compose`` (v1) is installed."""


@contextlib.contextmanager
def project_lock(project: str, timeout: float = 1800.0) -> Iterator[None]:
    """Hold the machine-wide lock of a compose project while it is in use.

    Two runs of the same project on one Docker daemon would remove each other's containers
    (each begins with ``down``). An ``flock`` serialises them instead, and the kernel drops it
    when a run dies, however it dies.

    Raises:
        TimeoutError: another run held the lock for ``timeout`` seconds.
    """
    path = Path(tempfile.gettempdir()) / f"kaboodle-compose-{project}.lock"
    with path.open("a") as f:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"{path} still locked after {timeout:g} s") from None
                if not told:
                    print(f"waiting for another run of compose project {project} ({path})")
                    told = True
                time.sleep(1.0)  # polling a lock whose holder gives no other signal
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def raise_neighbour_limits() -> None:
    """Raise (never lower) the kernel's neighbour-table limits, shared by every network
    namespace, containers included (docs/containers.md, section 4).

    With the default 1024 entries, network-namespace labs of the unit tests or benchmarks on
    the same machine can fill the table, and then every IPv6 send from a container fails with
    EINVAL. Needs root; without it the limits stay as they are.
    """
    for family in ("ipv4", "ipv6"):
        for level, wanted in ((2, 4096), (3, 8192)):
            path = Path(f"/proc/sys/net/{family}/neigh/default/gc_thresh{level}")
            with contextlib.suppress(OSError, ValueError):
                if int(path.read_text()) < wanted:
                    path.write_text(f"{wanted}\n")


def compose_command() -> list[str]:
    """The compose command this machine has, chosen as scripts/compose.sh chooses it (v2 first).

    Raises:
        ComposeMissingError: neither is installed.
    """
    result = subprocess.run(
        [str(REPO / "scripts" / "compose.sh"), "--which"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ComposeMissingError(result.stderr.strip() or "scripts/compose.sh --which failed")
    return result.stdout.split()


@dataclass(frozen=True)
class Compose:
    """One compose project: the command (v1 or v2), its files and its name."""

    command: tuple[str, ...]
    files: tuple[Path, ...]
    project: str

    def argv(self, *args: str) -> list[str]:
        """The full command line for a compose subcommand."""
        argv = list(self.command)
        for f in self.files:
            argv += ["-f", str(f)]
        return [*argv, "-p", self.project, *args]

    def run(self, *args: str, timeout: float = 300.0) -> str:
        """Run a compose subcommand from the repository root and return its output.

        Raises:
            RuntimeError: it failed (the message has its output) or took longer than timeout.
        """
        argv = self.argv(*args)
        try:
            result = subprocess.run(
                argv,
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{shlex.join(argv)} took longer than {timeout} s") from exc
        if result.returncode != 0:
            raise RuntimeError(
                f"{shlex.join(argv)} failed with exit {result.returncode}:\n"
                f"{result.stdout}{result.stderr}"
            )
        return result.stdout + result.stderr

    def up(self, scale: int) -> None:
        """Bring the node service to ``scale`` running containers (starting stopped ones).

        --no-build: the image is built once, before the tests (itests/image.sh), never here.
        --no-recreate: a container keeps its identity (hostname) and address across steps.
        """
        self.run("up", "-d", "--no-build", "--no-recreate", "--scale", f"{SERVICE}={scale}")

    def down(self) -> None:
        """Remove the project's containers and networks."""
        self.run("down", "-v", "--remove-orphans", "-t", "2")


class Member(NamedTuple):
    """One node as the fingerprint sees it: its member address and its identity bytes."""

    addr: str
    identity: bytes


def fingerprint_text(members: Iterable[Member]) -> str:
    """The fingerprint of ``members`` as the CLI prints it: ``0x`` and 8 lowercase hex digits."""
    value = fingerprint((Addr.parse(m.addr), m.identity) for m in members)
    return f"0x{value:08x}"


def name(container: Container) -> str:
    """The container's name (compose always gives one; the SDK's type allows None)."""
    return container.name or str(container.id)


def counted(view: dict[str, Any]) -> set[str]:
    """The addresses a view counts: alive and suspect members, self included."""
    return {p["addr"] for p in view["peers"] if p["state"] in ("alive", "suspect")}


def state_of(view: dict[str, Any], addr: str) -> str | None:
    """The state a view gives ``addr`` (alive, suspect, dead, left), or None if it lacks it."""
    for p in view["peers"]:
        if p["addr"] == addr:
            return str(p["state"])
    return None


@dataclass
class Convergence:
    """A moment when every node of a group had the fingerprint of exactly that group."""

    fingerprint: str
    members: dict[str, Member]
    """Container name -> its member address and identity."""
    views: dict[str, dict[str, Any]]
    """Container name -> its view (the ``peers --json`` object)."""
    at: float = field(default_factory=time.monotonic)

    def member(self, container: Container) -> Member:
        """The container's node: its member address and identity."""
        return self.members[name(container)]

    def view(self, container: Container) -> dict[str, Any]:
        """The container's view at that moment."""
        return self.views[name(container)]


class LogLine(NamedTuple):
    """One line of a node's log, with the time Docker received it (seconds since the epoch)."""

    time: float
    text: str


_EVENT_LINE = re.compile(r"^\d\d:\d\d:\d\d\s+(\w+)\s")
"""An event line of ``kaboodle join``'s plain output: ``03:44:11  failed  [fd00::5]:34903 ...``"""
_FINGERPRINT_LINE = re.compile(r"\bfingerprint\s+(0x[0-9a-f]{8})\s+(\d+) members?\b")


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    describe: Callable[[], str] = lambda: "",
) -> T:
    """Poll ``check`` until it returns something other than None, and return that.

    Raises:
        AssertionError: not within ``timeout`` seconds; the message says what was awaited and
            ends with ``describe()`` (for the mesh: every node's view and the tail of its log).
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s\n{describe()}")
        time.sleep(_POLL)


class Mesh:
    """The node containers of one compose project, selected by their labels.

    Compose v1 names replicas ``project_node_N`` and v2 ``project-node-N``, so containers are
    found by the labels ``com.docker.compose.project`` / ``.service`` / ``.container-number``,
    never by name.
    """

    def __init__(self, client: docker.DockerClient, project: str, service: str = SERVICE):
        self.client = client
        self.project = project
        self.service = service
        self._pids: dict[str, int] = {}
        # The socket through /proc/<pid>/root needs root and the daemon's own host; anything
        # else (a remote DOCKER_HOST, a user in the docker group) asks through docker exec.
        docker_host = os.environ.get("DOCKER_HOST", "")
        self.direct = os.geteuid() == 0 and (not docker_host or docker_host.startswith("unix:"))

    # -- the containers --------------------------------------------------------------------

    def containers(self, *, include_stopped: bool = False) -> list[Container]:
        """The project's node containers, by container number (running ones unless told)."""
        found = self.client.containers.list(
            all=include_stopped,
            filters={
                "label": [
                    f"com.docker.compose.project={self.project}",
                    f"com.docker.compose.service={self.service}",
                ]
            },
        )
        return sorted(found, key=self.number)

    @staticmethod
    def number(container: Container) -> int:
        """The container's replica number (``com.docker.compose.container-number``)."""
        return int(container.labels["com.docker.compose.container-number"])

    @staticmethod
    def network(container: Container) -> dict[str, Any]:
        """The settings of the container's one network (compose gives a node only ``mesh``)."""
        networks: dict[str, dict[str, Any]] = container.attrs["NetworkSettings"]["Networks"]
        if len(networks) != 1:
            raise AssertionError(f"{container.name} is on {len(networks)} networks: {networks}")
        return next(iter(networks.values()))

    @classmethod
    def network_name(cls, container: Container) -> str:
        """The name of the container's one network."""
        names = list(container.attrs["NetworkSettings"]["Networks"])
        if len(names) != 1:
            raise AssertionError(f"{container.name} is on networks {names}")
        return str(names[0])

    @classmethod
    def ip(cls, container: Container) -> str:
        """The address a node on this container should pick: its global (ULA) IPv6 address
        on an IPv6 network, else its IPv4 one (the node prefers IPv6 and never link-local)."""
        net = cls.network(container)
        return str(net.get("GlobalIPv6Address") or net["IPAddress"])

    @staticmethod
    def hostname(container: Container) -> str:
        """The container's hostname: the node's identity, as the image runs it."""
        return str(container.attrs["Config"]["Hostname"])

    def refresh(self, container: Container) -> Container:
        """The container's current state (addresses, status, pid)."""
        container.reload()
        return container

    # -- what a node says ------------------------------------------------------------------

    def view(self, container: Container, timeout: float = 1.0) -> dict[str, Any] | None:
        """The node's view (the ``kaboodle peers --json`` object), or None if it did not
        answer within ``timeout`` (not started yet, stopped, paused, or leaving)."""
        if not self.direct:
            return self._exec_json(container, "peers", "--json")
        return self._ask(container, "peers", timeout)

    def info(self, container: Container, timeout: float = 1.0) -> dict[str, Any] | None:
        """The node's ``info`` answer (docs/cli.md: self, identity, interface name, IP and
        index ...), or None if it did not answer."""
        if not self.direct:
            return None  # the CLI has no command that prints it
        return self._ask(container, "info", timeout)

    def _ask(self, container: Container, cmd: str, timeout: float) -> dict[str, Any] | None:
        """One request on the node's control socket, through /proc/<pid>/root."""
        for attempt in range(2):
            pid = self._pids.get(container.id or "")
            if pid is None or attempt:
                # A restarted container has a new pid: look it up again before giving up.
                try:
                    state = self.client.api.inspect_container(name(container))["State"]
                except docker.errors.NotFound:
                    return None
                pid = int(state["Pid"])
                self._pids[container.id or ""] = pid
            if not pid:
                return None
            answer = _ask(f"/proc/{pid}/root{_RUNTIME_DIR}/{PORT}.sock", cmd, timeout)
            if answer is not None:
                answer.pop("ok", None)
                return answer
        return None

    def _exec_json(self, container: Container, *args: str) -> dict[str, Any] | None:
        try:
            code, out = self.cli(container, *args)
        except docker.errors.APIError:
            return None
        if code != 0:
            return None
        parsed: dict[str, Any] = json.loads(out)
        return parsed

    def cli(self, container: Container, *args: str, user: str = "") -> tuple[int, str]:
        """Run ``kaboodle ARGS`` in the container (as the image's user unless told); return
        the exit code and stdout with stderr."""
        return _exec(container, ["kaboodle", *args], user)

    def cli_view(self, container: Container, *args: str) -> dict[str, Any]:
        """``docker exec C kaboodle peers --json ARGS``: the view as the command prints it.

        Raises:
            AssertionError: the command failed or printed something else than JSON.
        """
        code, out = self.cli(container, "peers", "--json", *args)
        if code != 0:
            raise AssertionError(f"kaboodle peers --json on {container.name}: exit {code}: {out}")
        try:
            parsed: dict[str, Any] = json.loads(out)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"kaboodle peers --json on {container.name}: {out!r}") from exc
        return parsed

    def root(self, container: Container, command: str) -> str:
        """Run a shell command as root in the container (``docker exec -u 0``).

        Raises:
            AssertionError: it failed.
        """
        code, output = _exec(container, ["sh", "-c", command], "0")
        if code != 0:
            raise AssertionError(f"{command!r} on {container.name}: exit {code}: {output}")
        return output

    def member(self, container: Container, view: dict[str, Any]) -> Member:
        """The node's own member address and identity, taken from its view and checked
        against what Docker says of the container.

        Raises:
            AssertionError: the address is not the container's own IP, or the identity is not
                its hostname.
        """
        me = view["self"]
        entry = next((p for p in view["peers"] if p["addr"] == me), None)
        if entry is None:
            raise AssertionError(f"{container.name}: its view lacks its own address {me}")
        identity = base64.b64decode(entry["identity_b64"])
        expected_ip = ipaddress.ip_address(self.ip(container))
        if ipaddress.ip_address(Addr.parse(me).host) != expected_ip:
            raise AssertionError(
                f"{container.name}: member address {me}, container IP {expected_ip}"
            )
        if identity != self.hostname(container).encode():
            raise AssertionError(
                f"{container.name}: identity {identity!r}, hostname {self.hostname(container)!r}"
            )
        return Member(me, identity)

    # -- conditions ------------------------------------------------------------------------

    def converged(self, group: Sequence[Container]) -> Convergence | None:
        """A :class:`Convergence` if every node of ``group`` counts exactly the group (its
        fingerprint is the one computed from the group's addresses and identities), else None.
        """
        views: dict[str, dict[str, Any]] = {}
        members: dict[str, Member] = {}
        for c in group:
            v = self.view(c)
            if v is None:
                return None
            views[name(c)] = v
            members[name(c)] = self.member(c, v)
        expected = fingerprint_text(members.values())
        addrs = {m.addr for m in members.values()}
        for v in views.values():
            if v["fingerprint"] != expected or counted(v) != addrs:
                return None
        return Convergence(expected, members, views)

    def wait_converged(
        self, group: Sequence[Container], timeout: float, what: str = ""
    ) -> Convergence:
        """Wait until :meth:`converged` holds for ``group``.

        Raises:
            AssertionError: not within ``timeout`` seconds, with every node's view and log.
        """
        names = ", ".join(name(c) for c in group)
        return wait_until(
            lambda: self.converged(group),
            timeout,
            what or f"{len(group)} nodes converge ({names})",
            self.describe,
        )

    # -- logs ------------------------------------------------------------------------------

    def log(self, container: Container, since: float | None = None) -> list[LogLine]:
        """The node's log lines (stdout and stderr), with Docker's receive times."""
        kwargs: dict[str, Any] = {"timestamps": True}
        if since is not None:
            kwargs["since"] = float(since)  # the SDK passes a float on as fractional seconds
        raw = container.logs(**kwargs)
        assert isinstance(raw, bytes)  # not a stream: no follow=True
        lines = []
        for text in raw.decode(errors="replace").splitlines():
            stamp, _, rest = text.partition(" ")
            lines.append(LogLine(docker_time(stamp), rest))
        return lines

    def events(self, container: Container, kind: str, since: float) -> list[LogLine]:
        """The node's event lines of one kind (``failed``, ``left``, ``suspected`` ...) logged
        at or after ``since`` (seconds since the epoch)."""
        found = []
        for line in self.log(container, since=since):
            m = _EVENT_LINE.match(line.text)
            if m and m.group(1) == kind and line.time >= since:
                found.append(line)
        return found

    def fingerprint_since(self, container: Container, value: str, since: float) -> float | None:
        """When the node's log last reported fingerprint ``value``, at or after ``since``
        (seconds since the epoch), or None if it did not."""
        found = None
        for line in self.log(container, since=since - 1.0):
            m = _FINGERPRINT_LINE.search(line.text)
            if m and line.time >= since:
                found = line.time if m.group(1) == value else None
        return found

    def settled_at(
        self, group: Sequence[Container], value: str, since: float, timeout: float = 3.0
    ) -> float:
        """When the last node of ``group`` logged fingerprint ``value`` (seconds since the
        epoch), looking at lines from ``since`` on.

        A node logs a fingerprint change once 50 ms pass without another (the runtime's event
        coalescing), so this is up to about 50 ms later than the change itself; the line can
        also lag a view that already shows the change, hence the wait.

        Raises:
            AssertionError: a node logged no such line within ``timeout`` seconds.
        """

        def check() -> float | None:
            times = [self.fingerprint_since(c, value, since) for c in group]
            return None if None in times else max(t for t in times if t is not None)

        return wait_until(check, timeout, f"every node logs fingerprint {value}", self.describe)

    # -- diagnosis -------------------------------------------------------------------------

    def describe(self, tail: int = 25) -> str:
        """Every node of the project: status, addresses, ``kaboodle peers --json`` and the
        tail of its log, so that a failure can be diagnosed from the test's output alone."""
        out = [f"---- project {self.project}: every node's view and log ----"]
        try:
            containers = self.containers(include_stopped=True)
        except docker.errors.APIError as exc:
            return f"{out[0]}\n(listing containers failed: {exc})"
        for c in containers:
            try:
                ip = self.ip(c)
            except (AssertionError, KeyError):
                ip = "?"
            out.append(
                f"== {c.name} (#{self.number(c)}, {c.status}, ip {ip}, hostname {self.hostname(c)})"
            )
            if c.status == "running":
                try:
                    code, text = self.cli(c, "peers", "--json")
                    out.append(f"kaboodle peers --json (exit {code}): {text.strip()}")
                except docker.errors.APIError as exc:
                    out.append(f"kaboodle peers --json: {exc}")
            else:
                out.append("kaboodle peers --json: (not running)")
            try:
                raw = c.logs(tail=tail, timestamps=True)
                assert isinstance(raw, bytes)  # not a stream: no follow=True
                logs = raw.decode(errors="replace")
            except docker.errors.APIError as exc:
                logs = f"(no log: {exc})"
            out.append(f"last {tail} log lines:\n{logs.rstrip()}")
        return "\n".join(out)


def _exec(container: Container, argv: list[str], user: str) -> tuple[int, str]:
    """``docker exec``: the exit code, and stdout with stderr as text."""
    result = container.exec_run(argv, user=user)
    output = result.output or b""
    assert isinstance(output, bytes)  # not a stream: exec_run was not asked to stream
    code = -1 if result.exit_code is None else int(result.exit_code)
    return code, output.decode(errors="replace")


def _ask(path: str, cmd: str, timeout: float) -> dict[str, Any] | None:
    """One request on a node's control socket (JSON lines, docs/cli.md); None on no answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        try:
            s.connect(path)
            s.sendall(json.dumps({"cmd": cmd}).encode() + b"\n")
            with s.makefile("rb") as f:
                line = f.readline()
        except OSError:
            return None
    with contextlib.suppress(ValueError):
        answer = json.loads(line)
        if isinstance(answer, dict) and answer.get("ok"):
            return answer
    return None


def started_at(container: Container) -> float:
    """When the container last started, in seconds since the epoch (Docker's own clock, the
    host's: the same one its log timestamps use)."""
    return docker_time(str(container.attrs["State"]["StartedAt"]))


def docker_time(stamp: str) -> float:
    """Docker's RFC 3339 timestamp with nanoseconds (``2026-11-26T03:44:11.123456789Z``) as
    seconds since the epoch (microseconds kept: Python's datetime has no nanoseconds)."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    base = datetime.fromisoformat(head + "+00:00").timestamp()
    return base + float(f"0.{frac or '0'}")
