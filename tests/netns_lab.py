"""A throwaway multi-host LAN built from Linux network namespaces, for tests without Docker.

``Lab(n)`` makes one *switch* namespace holding a Linux bridge and ``n`` *host* namespaces, each
joined to the bridge by a veth pair whose host-side end is ``eth0``::

    kb<pid>-<hex>-sw      bridge kbbr<hex> (mcast_snooping 0, no IP at all)
      ├─ port h0 ── veth ── eth0 in kb<pid>-<hex>-h0   fd42:<hex>::1/64, 10.<a>.<b>.1/24
      ├─ port h1 ── veth ── eth0 in kb<pid>-<hex>-h1   fd42:<hex>::2/64, 10.<a>.<b>.2/24
      └─ ...

Nothing is created in the root namespace, so a lab can't disturb the machine's own network, and
the hosts have no route anywhere but their own subnet (plus 255.255.255.255 on eth0), so test
traffic stays between the lab's own hosts.

Failure injection:

* ``cut(i)`` / ``restore(i)`` set the bridge-side veth end of host ``i`` down / up: the host's
  eth0 loses carrier, like an unplugged cable.
* ``partition(groups)`` / ``heal()`` move the bridge ports of each group onto a bridge of its own
  inside the switch namespace (see ``Lab.partition`` for why this rather than a packet filter).

Names carry the creating process id, so a new lab never collides with a live one, and namespaces
left by a process that has died (a crashed or killed test run) are removed when the next lab is
made. ``close()`` is idempotent and also runs at interpreter exit.

Tests call ``require_lab()`` first: it skips with the reason where namespaces can't be made, except
on CI (``CI=true``), where the same condition fails the test instead.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any

import pytest

__all__ = [
    "PING_SCRIPT",
    "Host",
    "Lab",
    "LabError",
    "lab_available",
    "reap_stale_labs",
    "require_lab",
]

# Every name this module gives a namespace matches this, so stale ones can be found again; the
# number is the id of the process that made it.
_NETNS_RE = re.compile(r"^kb(?P<pid>\d+)-[0-9a-z-]+-(?:sw|h\d+|probe)$")

# One ``ip`` call should take milliseconds; the limit only stops a wedged call from hanging a run.
_IP_TIMEOUT = 10.0

# The host side of every veth pair, as the brief for these tests (and Kaboodle's docs) call it.
HOST_IFNAME = "eth0"

# Sends ICMP(v6) echo requests from inside a namespace until a reply comes or the time is up; exit
# status 0 means reachable. A raw socket in Python rather than ping(8), because iputils is not
# installed everywhere these tests run (root may open raw sockets). argv: address, timeout (s).
PING_SCRIPT = r"""
import os, select, socket, struct, sys, time

dst, timeout = sys.argv[1], float(sys.argv[2])
v6 = ":" in dst
family = socket.AF_INET6 if v6 else socket.AF_INET
proto = socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP
request, reply = (128, 129) if v6 else (8, 0)
sockaddr = socket.getaddrinfo(dst, None, family, socket.SOCK_RAW, proto)[0][4]
sock = socket.socket(family, socket.SOCK_RAW, proto)
ident, payload = os.getpid() & 0xFFFF, os.urandom(16)


def checksum(data):
    data += b"\0" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return ~total & 0xFFFF


deadline = time.monotonic() + timeout
seq = 0
while time.monotonic() < deadline:
    seq += 1
    packet = struct.pack("!BBHHH", request, 0, 0, ident, seq) + payload
    if not v6:  # the kernel fills in the ICMPv6 checksum itself, but not the ICMPv4 one
        packet = packet[:2] + struct.pack("!H", checksum(packet)) + packet[4:]
    try:
        sock.sendto(packet, sockaddr)
    except OSError:
        pass  # e.g. no carrier yet: keep trying until the deadline
    resend_at = min(deadline, time.monotonic() + 0.2)
    while (left := resend_at - time.monotonic()) > 0:
        if not select.select([sock], [], [], left)[0]:
            break
        data = sock.recv(2048)
        if not v6:
            data = data[(data[0] & 0x0F) * 4 :]  # raw IPv4 sockets see the IP header too
        if len(data) >= 8 + len(payload):
            kind, _, _, got_ident, _ = struct.unpack("!BBHHH", data[:8])
            if kind == reply and got_ident == ident and data[8:] == payload:
                sys.exit(0)
sys.exit(1)
"""

# Writes sysctls inside a namespace: /proc/sys/net shows the network namespace of the process
# that opens it, and this avoids depending on procps' sysctl(8). argv: key value key value ...
_SYSCTL_SCRIPT = r"""
import sys

args = sys.argv[1:]
for key, value in zip(args[::2], args[1::2]):
    with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
        f.write(value)
"""


class LabError(RuntimeError):
    """A command that builds or changes a lab failed."""


@dataclass(frozen=True)
class Host:
    """One host of a lab.

    ``ipv6`` / ``ipv4`` are the addresses on eth0 without prefix length, or None when that family
    is disabled for the lab. The host also has an IPv6 link-local address on eth0.
    """

    index: int
    name: str  # the network namespace's name, for ``ip netns exec``
    ipv6: str | None
    ipv4: str | None
    ifname: str = HOST_IFNAME


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``ip ARGS``; raise LabError with its stderr when it fails and ``check`` is set."""
    try:
        result = subprocess.run(
            ["ip", *args], capture_output=True, text=True, timeout=_IP_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"ip {' '.join(args)}: {exc}") from exc
    if check and result.returncode != 0:
        raise LabError(f"ip {' '.join(args)}: {result.stderr.strip() or result.returncode}")
    return result


_NEIGHBOUR_SYSCTLS = "/proc/sys/net/{family}/neigh/default/gc_thresh{level}"


def _make_room_for_neighbours(hosts: int) -> None:
    """Raise the kernel's neighbour-table limits when a lab needs more entries than they allow.

    The IPv4 and IPv6 neighbour tables are shared by every network namespace, and each of a
    lab's hosts keeps an entry per peer address (ULA, link-local, multicast). With the defaults
    (1,024 entries at most) a lab of 32 hosts overflows them: sends then fail with EINVAL and
    the kernel logs "neighbor table overflow". Limits are only ever raised, never lowered.
    """
    wanted = 4 * hosts * hosts + 1024
    for family in ("ipv4", "ipv6"):
        for level, value in ((2, wanted // 2), (3, wanted)):
            path = _NEIGHBOUR_SYSCTLS.format(family=family, level=level)
            with contextlib.suppress(OSError, ValueError):
                with open(path) as current:
                    if int(current.read()) >= value:
                        continue
                with open(path, "w") as limit:
                    limit.write(str(value))


def _sysctl(netns: str, settings: Mapping[str, str]) -> None:
    """Set network sysctls inside ``netns`` (one short-lived Python process for all of them)."""
    argv = [sys.executable, "-c", _SYSCTL_SCRIPT]
    for key, value in settings.items():
        argv += [key, value]
    result = subprocess.run(
        ["ip", "netns", "exec", netns, *argv],
        capture_output=True,
        text=True,
        timeout=_IP_TIMEOUT,
        check=False,
    )
    if result.returncode != 0:
        raise LabError(f"sysctl in {netns}: {result.stderr.strip() or result.returncode}")


def _netns_names() -> list[str]:
    """Names of all network namespaces known to ``ip netns`` (those under /run/netns)."""
    # `ip netns list` prints "name (id: N)" for namespaces that have a peer id.
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def _kill_netns_processes(netns: str) -> None:
    """SIGKILL whatever still runs inside ``netns``.

    A namespace lives on while a process is in it, even after ``ip netns del``, so anything a
    test left behind (including grandchildren that escaped their process group) goes first.
    """
    out = _ip("netns", "pids", netns, check=False).stdout
    pids = [int(word) for word in out.split() if word.isdigit()]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    # SIGKILL is delivered asynchronously: wait (briefly) until each is gone or a zombie, so
    # that close() returns with nothing of the lab still running.
    deadline = time.monotonic() + 2.0
    while any(_still_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)


def _still_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _delete_netns(netns: str) -> None:
    """Kill the processes in ``netns`` and delete it; deleting the switch namespace also deletes
    its bridges and the veth pairs (a veth pair goes when either end does)."""
    _kill_netns_processes(netns)
    _ip("netns", "del", netns, check=False)


def reap_stale_labs() -> list[str]:
    """Delete lab namespaces whose creating process no longer exists; return their names.

    Labs of live processes (this one included) are left alone, so concurrent test runs don't
    disturb each other. A reused pid only delays the cleanup until that process has gone too.
    """
    reaped = []
    for netns in _netns_names():
        match = _NETNS_RE.match(netns)
        if match and not _pid_alive(int(match["pid"])):
            _delete_netns(netns)
            reaped.append(netns)
    return reaped


@functools.cache
def lab_available() -> tuple[bool, str]:
    """Whether labs can be built here, and why not when they can't.

    Beyond root and the ``ip`` binary it builds a namespace with a bridge and a veth pair, since
    a container may be root yet lack CAP_SYS_ADMIN or the bridge/veth drivers. Cached: the answer
    does not change during a run.
    """
    if not sys.platform.startswith("linux"):
        return False, f"network namespaces need Linux, this is {sys.platform}"
    if os.geteuid() != 0:
        return False, "network namespaces need root (euid is not 0)"
    if shutil.which("ip") is None:
        return False, "the `ip` binary (iproute2) is not installed"
    probe = f"kb{os.getpid()}-{secrets.token_hex(2)}-probe"
    try:
        _ip("netns", "add", probe)
        try:
            _ip("-n", probe, "link", "add", "kbprobebr", "type", "bridge")
            _ip("-n", probe, "link", "add", "kbprobea", "type", "veth", "peer", "name", "kbprobeb")
        finally:
            _delete_netns(probe)
    except LabError as exc:
        return False, f"cannot build a network namespace lab: {exc}"
    return True, "network namespaces, bridges and veth pairs work"


def require_lab() -> None:
    """Skip the calling test when no lab can be built here; on CI (CI=true) fail it instead.

    The project's rule: a test that needs namespaces may skip only off CI (e.g. a developer
    without root), and must say why; CI runs as root, so there it is a real failure.
    """
    ok, reason = lab_available()
    if ok:
        return
    if os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}:
        pytest.fail(f"netns lab unavailable on CI: {reason}", pytrace=False)
    pytest.skip(f"netns lab unavailable: {reason}")


# Labs not yet closed; closed at interpreter exit so even a test that never reached its teardown
# leaves nothing behind (a SIGKILLed run is covered by reap_stale_labs in the next one).
_open_labs: set[Lab] = set()


@atexit.register
def _close_open_labs() -> None:
    for lab in list(_open_labs):
        with contextlib.suppress(Exception):
            lab.close()


class Lab:
    """A switch namespace with a bridge plus ``hosts`` host namespaces; see the module docstring.

    Use it as a context manager, or call ``close()``. ``name`` is an optional short label
    (lowercase letters, digits) put into the namespace names to tell labs apart when debugging.
    """

    def __init__(
        self, hosts: int, *, ipv6: bool = True, ipv4: bool = True, name: str | None = None
    ) -> None:
        if not 1 <= hosts <= 250:
            raise ValueError(f"a lab has 1 to 250 hosts (one IPv4 /24), not {hosts}")
        if name is not None and not re.fullmatch(r"[a-z0-9]{1,16}", name):
            raise ValueError(f"lab name must be 1-16 lowercase letters or digits, not {name!r}")
        self._closed = False
        self._procs: list[subprocess.Popen[Any]] = []
        self._partition_bridges: list[str] = []
        self._namespaces: list[str] = []  # created so far, for cleanup after a failure

        reap_stale_labs()
        existing = set(_netns_names())
        while True:  # pid + 16 random bits: unique unless this process made the same draw
            token = secrets.randbits(16)
            self.id = f"{os.getpid()}-{token:04x}" + (f"-{name}" if name else "")
            self.switch = f"kb{self.id}-sw"
            if self.switch not in existing:
                break
        # Interface names are per namespace, so these only need to be unique inside the switch.
        self.bridge = f"kbbr{token:04x}"
        self.hosts: list[Host] = [
            Host(
                index=i,
                name=f"kb{self.id}-h{i}",
                ipv6=f"fd42:{token:x}::{i + 1:x}" if ipv6 else None,
                ipv4=f"10.{token >> 8}.{token & 0xFF}.{i + 1}" if ipv4 else None,
            )
            for i in range(hosts)
        ]
        self._ipv6 = ipv6
        self._ipv4 = ipv4
        _open_labs.add(self)
        try:
            self._build()
        except BaseException:
            self.close()
            raise

    # -- building -------------------------------------------------------------------------------

    def _build(self) -> None:
        _make_room_for_neighbours(len(self.hosts))
        _ip("netns", "add", self.switch)
        self._namespaces.append(self.switch)
        # The switch is pure layer 2: without IPv6 on its ports they send no router
        # solicitations, MLD reports or DAD probes into the lab.
        _sysctl(
            self.switch,
            {"net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"},
        )
        # mcast_snooping 0: the bridge floods all multicast, so a host's ff02:: datagrams reach
        # every port whether or not the bridge has seen an MLD report for the group yet.
        self._add_bridge(self.bridge)
        for host in self.hosts:
            self._build_host(host)

    def _add_bridge(self, bridge: str) -> None:
        # STP stays off (the default), so ports forward at once instead of after forward_delay.
        _ip("-n", self.switch, "link", "add", bridge, "type", "bridge", "mcast_snooping", "0")
        _ip("-n", self.switch, "link", "set", bridge, "up")

    def _port(self, host: int) -> str:
        """The bridge-side veth end of host ``host``, in the switch namespace."""
        return f"h{self.hosts[host].index}"

    def _build_host(self, host: Host) -> None:
        ns = host.name
        _ip("netns", "add", ns)
        self._namespaces.append(ns)
        if self._ipv6:
            # DAD off before eth0 exists, so that its link-local address (which inherits
            # "default") is usable at once, like the ULA address added with nodad, and stays so
            # when restore() brings the carrier back (a carrier change restarts DAD).
            settings = {
                "net.ipv6.conf.all.accept_dad": "0",
                "net.ipv6.conf.default.accept_dad": "0",
            }
        else:
            settings = {
                "net.ipv6.conf.all.disable_ipv6": "1",
                "net.ipv6.conf.default.disable_ipv6": "1",
            }
        _sysctl(ns, settings)
        _ip("-n", ns, "link", "set", "lo", "up")
        self._plug(host)

    def _plug(self, host: Host) -> None:
        """Give ``host`` a fresh eth0 on the bridge, with its addresses and routes."""
        ns = host.name
        port = self._port(host.index)
        # Made in the switch namespace with the peer created straight inside the host's, so
        # neither end ever exists in the root namespace.
        _ip(
            "-n", self.switch, "link", "add", port, "type", "veth",
            "peer", "name", host.ifname, "netns", ns,
        )  # fmt: skip
        _ip("-n", self.switch, "link", "set", port, "master", self.bridge, "up")
        if host.ipv6 is not None:
            _ip("-n", ns, "addr", "add", f"{host.ipv6}/64", "dev", host.ifname, "nodad")
        if host.ipv4 is not None:
            _ip("-n", ns, "addr", "add", f"{host.ipv4}/24", "dev", host.ifname)
        _ip("-n", ns, "link", "set", host.ifname, "up")
        if host.ipv4 is not None:
            # Linux routes a limited broadcast like any other destination: without a route for
            # 255.255.255.255 sendto() fails with ENETUNREACH. A host route rather than a
            # default route, so that nothing else has anywhere to go.
            _ip("-n", ns, "route", "add", "255.255.255.255/32", "dev", host.ifname)

    # -- running things -------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise LabError(f"lab {self.id} is closed")

    def run(self, host: int, argv: Sequence[str], **popen_kwargs: Any) -> subprocess.Popen[Any]:
        """Start ``argv`` inside host ``host`` (``ip netns exec``); close() kills it.

        It gets a session of its own unless ``start_new_session`` says otherwise, so close() can
        signal its whole process group.
        """
        self._check_open()
        popen_kwargs.setdefault("start_new_session", True)
        proc: subprocess.Popen[Any] = subprocess.Popen(
            ["ip", "netns", "exec", self.hosts[host].name, *argv], **popen_kwargs
        )
        self._procs.append(proc)
        return proc

    def exec(
        self,
        host: int,
        argv: Sequence[str],
        timeout: float = 10.0,
        *,
        input: str | None = None,  # named as in subprocess.run
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``argv`` inside host ``host`` to completion and capture its output as text.

        Raises subprocess.TimeoutExpired (after killing it) when it takes over ``timeout``
        seconds, and CalledProcessError for a non-zero exit when ``check`` is set.
        """
        self._check_open()
        return subprocess.run(
            ["ip", "netns", "exec", self.hosts[host].name, *argv],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=check,
        )

    def ping(self, src: int, address: str, timeout: float = 2.0) -> bool:
        """Whether host ``src`` gets an ICMP(v6) echo reply from ``address`` within ``timeout``.

        It keeps sending (every 0.2 s) until a reply or the deadline, so ``True`` comes as soon
        as the path works and ``False`` only after the whole ``timeout``.
        """
        argv = [sys.executable, "-c", PING_SCRIPT, address, str(timeout)]
        return self.exec(src, argv, timeout=timeout + 5.0).returncode == 0

    def link_local(self, host: int) -> str:
        """The IPv6 link-local address of host ``host``'s eth0, without a zone."""
        h = self.hosts[host]
        out = _ip("-n", h.name, "-6", "-o", "addr", "show", "dev", h.ifname, "scope", "link")
        for line in out.stdout.splitlines():
            fields = line.split()
            if "inet6" in fields:
                return fields[fields.index("inet6") + 1].split("/")[0]
        raise LabError(f"{h.name} has no IPv6 link-local address on {h.ifname}")

    # -- failures -------------------------------------------------------------------------------

    def cut(self, host: int) -> None:
        """Unplug host ``host``: its bridge port goes down, so its eth0 loses carrier."""
        self._check_open()
        _ip("-n", self.switch, "link", "set", self._port(host), "down")

    def restore(self, host: int) -> None:
        """Plug host ``host`` back in after cut()."""
        self._check_open()
        _ip("-n", self.switch, "link", "set", self._port(host), "up")

    def replug(self, host: int, ifname: str | None = None) -> None:
        """Remove host ``host``'s interface and give it a new one with the same addresses: its
        interface index changes and its multicast memberships are gone, as when a container's
        network is disconnected and connected again; ``ifname`` renames it too (Docker may
        bring eth0 back as eth1)."""
        self._check_open()
        _ip("-n", self.switch, "link", "del", self._port(host))
        if ifname is not None:
            self.hosts[host] = replace(self.hosts[host], ifname=ifname)
        self._plug(self.hosts[host])

    def partition(self, groups: Sequence[Sequence[int]]) -> None:
        """Split the LAN: hosts in the same group reach each other, hosts in different groups
        don't. Hosts in no group stay together on the main bridge, as one more group. Replaces
        any partition already in force.

        Each group's ports move onto a bridge of its own in the switch namespace. Unlike packet
        filters this needs nothing but iproute2 (ebtables is often missing, nftables' bridge
        family needs both the nft binary and kernel support, and port isolation only separates
        isolated ports from each other), it drops everything between groups at layer 2 (unicast,
        broadcast, multicast, ARP and neighbour discovery alike), and a host sees no link event:
        its eth0 keeps carrier and its addresses, as on a real LAN split somewhere upstream.
        """
        self._check_open()
        seen: set[int] = set()
        for group in groups:
            for i in group:
                if not 0 <= i < len(self.hosts):
                    raise ValueError(f"no host {i} in a lab of {len(self.hosts)}")
                if i in seen:
                    raise ValueError(f"host {i} is in more than one group")
                seen.add(i)
        self.heal()
        for k, group in enumerate(groups):
            if not group:
                continue
            bridge = f"kbp{k}"
            self._add_bridge(bridge)
            self._partition_bridges.append(bridge)
            for i in group:
                _ip("-n", self.switch, "link", "set", self._port(i), "master", bridge)

    def heal(self) -> None:
        """Undo partition(): every port back on the main bridge. A no-op when not partitioned."""
        self._check_open()
        if not self._partition_bridges:
            return
        for host in self.hosts:
            _ip("-n", self.switch, "link", "set", self._port(host.index), "master", self.bridge)
        for bridge in self._partition_bridges:
            _ip("-n", self.switch, "link", "del", bridge)
        self._partition_bridges.clear()

    # -- teardown -------------------------------------------------------------------------------

    def close(self) -> None:
        """Kill every process started in the lab and delete its namespaces (and with them the
        bridges and veth pairs). Idempotent; never raises for what is already gone."""
        if self._closed:
            return
        self._closed = True
        _open_labs.discard(self)
        self._stop_procs()
        # Whatever is still inside (children that left their process group, or processes not
        # started through run()) is killed by _delete_netns.
        for netns in reversed(self._namespaces):
            _delete_netns(netns)
        self._namespaces.clear()

    def _stop_procs(self) -> None:
        """SIGTERM everything run() started, give it a moment, then SIGKILL the rest."""
        live = [p for p in self._procs if p.poll() is None]
        for proc in live:
            self._signal(proc, signal.SIGTERM)
        deadline = time.monotonic() + 2.0
        for proc in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in live:
            if proc.poll() is None:
                self._signal(proc, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=5.0)
        for proc in self._procs:  # don't leak pipe file descriptors
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(OSError):
                        stream.close()
        self._procs.clear()

    @staticmethod
    def _signal(proc: subprocess.Popen[Any], sig: signal.Signals) -> None:
        # run() gives each process its own session, so its pid is also its process group id;
        # signalling the group also reaches the children it started.
        try:
            if os.getpgid(proc.pid) == proc.pid:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self) -> Lab:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Lab {self.id} hosts={len(self.hosts)} {state}>"
