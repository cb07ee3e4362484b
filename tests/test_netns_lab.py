"""The network-namespace lab itself: reachability over both families, IPv6 multicast to Kaboodle's
group, IPv4 limited broadcast, cutting a host, partitions, and cleanup.

Every wait has a deadline and ends as soon as the awaited thing happens; only the checks that
something does *not* arrive take their (short) timeout in full.
"""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator

import netns_lab
import pytest
from netns_lab import Lab, require_lab

GROUP = "ff02::1213:1989"
PORT = 7475

# Receives one UDP datagram and exits. Prints "ready" once it can receive (bound, and for IPv6
# joined to the group on eth0), then "<payload> <source address>". argv: family (4 or 6), port,
# IPv6 group or "-", timeout in seconds.
RECEIVER = r"""
import socket, struct, sys

family, port, group, timeout = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
if family == "6":
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", port))
    ifindex = struct.pack("@I", socket.if_nametoindex("eth0"))
    mreq = socket.inet_pton(socket.AF_INET6, group) + ifindex
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
else:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("", port))
print("ready", flush=True)
sock.settimeout(timeout)
try:
    data, source = sock.recvfrom(2048)
except TimeoutError:
    sys.exit(1)
print(data.decode(), source[0].split("%")[0], flush=True)
"""

# Sends one UDP datagram: IPv6 to the multicast group out of eth0 with hop limit 1 (as Kaboodle
# does), IPv4 to the given (broadcast) address. argv: family, address, port, payload.
SENDER = r"""
import socket, struct, sys

family, address, port, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
if family == "6":
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    ifindex = struct.pack("@I", socket.if_nametoindex("eth0"))
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
else:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
sock.sendto(payload.encode(), (address, port))
"""


@pytest.fixture
def lab3() -> Iterator[Lab]:
    """A three-host lab with both address families, closed after the test."""
    require_lab()
    with Lab(3, name="t") as lab:
        yield lab


def read_line(proc: subprocess.Popen[bytes], deadline: float) -> str | None:
    """The next line ``proc`` prints, or None if none comes before ``deadline`` (monotonic)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        chunk = os.read(fd, 1)  # byte by byte, so nothing past the line is consumed
        if not chunk:
            return None  # exited
        line += chunk
    return line.decode().strip()


def start_receivers(
    lab: Lab, hosts: list[int], family: str, deadline: float
) -> dict[int, subprocess.Popen[bytes]]:
    """Start RECEIVER on ``hosts`` and wait until each says it is ready."""
    group = GROUP if family == "6" else "-"
    argv = [sys.executable, "-c", RECEIVER, family, str(PORT), group, "10"]
    procs = {h: lab.run(h, argv, stdout=subprocess.PIPE, bufsize=0) for h in hosts}
    for host, proc in procs.items():
        assert read_line(proc, deadline) == "ready", f"receiver on host {host} did not start"
    return procs


def send_until_received(
    lab: Lab,
    sender: int,
    receivers: dict[int, subprocess.Popen[bytes]],
    *,
    family: str,
    address: str,
    deadline: float,
) -> dict[int, str]:
    """Send from ``sender`` until every receiver has printed what it got, or the deadline.

    The receivers are ready before the first send, so one datagram normally does; resending only
    guards against a datagram lost to something unforeseen.
    """
    got: dict[int, str] = {}
    payload = f"hello-from-{sender}"
    while len(got) < len(receivers) and time.monotonic() < deadline:
        lab.exec(sender, [sys.executable, "-c", SENDER, family, address, str(PORT), payload])
        wait_until = min(deadline, time.monotonic() + 0.5)
        for host, proc in receivers.items():
            if host not in got and (line := read_line(proc, wait_until)) is not None:
                got[host] = line
    return got


@pytest.mark.netns
def test_hosts_ping_each_other_over_ipv6_and_ipv4(lab3: Lab) -> None:
    h0, h1 = lab3.hosts[0], lab3.hosts[1]
    assert h0.ipv6 and h1.ipv6 and h0.ipv4 and h1.ipv4
    assert lab3.ping(0, h1.ipv6)
    assert lab3.ping(1, h0.ipv6)
    assert lab3.ping(0, h1.ipv4)
    assert lab3.ping(1, h0.ipv4)
    # Link-local works at once too (DAD is off), which is what Kaboodle's ff02:: peers use.
    assert lab3.ping(0, f"{lab3.link_local(1)}%eth0")


@pytest.mark.netns
def test_ipv6_multicast_reaches_the_other_hosts(lab3: Lab) -> None:
    deadline = time.monotonic() + 8.0
    receivers = start_receivers(lab3, [1, 2], "6", deadline)
    got = send_until_received(lab3, 0, receivers, family="6", address=GROUP, deadline=deadline)
    sources = {lab3.link_local(0), lab3.hosts[0].ipv6}
    for host in (1, 2):
        assert host in got, f"host {host} received no multicast datagram"
        payload, source = got[host].split()
        assert payload == "hello-from-0"
        assert source in sources


@pytest.mark.netns
def test_ipv4_limited_broadcast_reaches_another_host(lab3: Lab) -> None:
    deadline = time.monotonic() + 8.0
    receivers = start_receivers(lab3, [1], "4", deadline)
    got = send_until_received(
        lab3, 0, receivers, family="4", address="255.255.255.255", deadline=deadline
    )
    assert got.get(1, "").split() == ["hello-from-0", lab3.hosts[0].ipv4]


@pytest.mark.netns
def test_cut_stops_traffic_and_restore_brings_it_back(lab3: Lab) -> None:
    h1 = lab3.hosts[1]
    assert h1.ipv6 and h1.ipv4
    lab3.cut(1)
    link = lab3.exec(1, ["ip", "link", "show", "dev", "eth0"], check=True).stdout
    assert "NO-CARRIER" in link  # seen from the host like an unplugged cable
    assert not lab3.ping(0, h1.ipv6, timeout=0.5)
    assert not lab3.ping(2, h1.ipv4, timeout=0.5)
    assert lab3.ping(0, lab3.hosts[2].ipv4 or "")  # the others are unaffected
    lab3.restore(1)
    assert lab3.ping(0, h1.ipv6, timeout=5.0)
    assert lab3.ping(2, h1.ipv4, timeout=5.0)


@pytest.mark.netns
def test_partition_blocks_between_groups_only_and_heal_undoes_it(lab3: Lab) -> None:
    h0, h1, h2 = lab3.hosts
    assert h0.ipv4 and h1.ipv6 and h1.ipv4 and h2.ipv6
    lab3.partition([[0], [1, 2]])
    assert not lab3.ping(0, h1.ipv4, timeout=0.5)
    assert not lab3.ping(0, h1.ipv6, timeout=0.5)
    assert not lab3.ping(1, h0.ipv4, timeout=0.5)
    assert lab3.ping(1, h2.ipv6)
    # Multicast is split the same way: host 1 hears host 2, host 0 doesn't.
    deadline = time.monotonic() + 8.0
    receivers = start_receivers(lab3, [0, 1], "6", deadline)
    got = send_until_received(
        lab3, 2, {1: receivers[1]}, family="6", address=GROUP, deadline=deadline
    )
    assert got.get(1, "").startswith("hello-from-2")
    assert read_line(receivers[0], time.monotonic() + 0.5) is None
    lab3.heal()
    assert lab3.ping(0, h1.ipv4, timeout=5.0)
    assert lab3.ping(1, h0.ipv4, timeout=5.0)


@pytest.mark.netns
def test_partition_rejects_bad_groups(lab3: Lab) -> None:
    with pytest.raises(ValueError, match="more than one group"):
        lab3.partition([[0, 1], [1]])
    with pytest.raises(ValueError, match="no host 7"):
        lab3.partition([[7]])


@pytest.mark.netns
def test_single_family_labs() -> None:
    require_lab()
    with Lab(2, ipv6=False) as lab:
        assert lab.hosts[0].ipv6 is None
        assert lab.ping(0, lab.hosts[1].ipv4 or "")
        assert "inet6" not in lab.exec(0, ["ip", "addr", "show", "dev", "eth0"]).stdout
    with Lab(2, ipv4=False) as lab:
        assert lab.hosts[0].ipv4 is None
        assert lab.ping(0, lab.hosts[1].ipv6 or "")
        assert "inet " not in lab.exec(0, ["ip", "addr", "show", "dev", "eth0"]).stdout


def netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True)
    return {line.split()[0] for line in out.stdout.splitlines() if line.strip()}


def root_links() -> set[str]:
    """Links in the root namespace that a lab could have made (its bridges and ports); other
    links come and go with whatever else runs on the machine (Docker, for one)."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True)
    names = {line.split(":")[1].strip().split("@")[0] for line in out.stdout.splitlines()}
    return {n for n in names if re.fullmatch(r"kbbr\w+|kbp\d+|h\d+", n)}


def netns_pids(netns: str) -> set[int]:
    out = subprocess.run(
        ["ip", "netns", "pids", netns], capture_output=True, text=True, check=False
    )
    return {int(word) for word in out.stdout.split()}


def running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie waiting for its parent."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.netns
def test_close_kills_processes_and_leaves_nothing_behind() -> None:
    require_lab()
    links_before = root_links()
    lab = Lab(2)
    names = {h.name for h in lab.hosts} | {lab.switch}
    assert names <= netns_names()
    # Nothing is ever created in the root namespace, not even while the lab is up.
    assert root_links() == links_before
    sleeper = lab.run(0, ["sleep", "60"])
    # A grandchild in a session of its own, out of reach of the run() process group's signal:
    # close() has to find it through `ip netns pids`.
    lab.run(1, ["sh", "-c", "setsid sleep 60 & wait"])
    deadline = time.monotonic() + 5.0
    while len(inside := netns_pids(lab.hosts[1].name)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(inside) == 2
    lab.close()
    assert sleeper.poll() is not None
    assert not any(running(pid) for pid in inside)
    assert not names & netns_names()
    assert root_links() == links_before
    lab.close()  # idempotent
    with pytest.raises(netns_lab.LabError, match="closed"):
        lab.run(0, ["true"])


@pytest.mark.netns
def test_stale_namespaces_of_dead_processes_are_reaped() -> None:
    require_lab()
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now names no process
    stale = f"kb{dead.pid}-beef-sw"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    mine = Lab(1)  # a live lab of this process must survive the reaping
    try:
        with Lab(1):
            assert stale not in netns_names()
            assert mine.switch in netns_names()
    finally:
        mine.close()
        subprocess.run(["ip", "netns", "del", stale], capture_output=True, check=False)


def test_require_lab_skips_off_ci_and_fails_on_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns_lab, "lab_available", lambda: (False, "no root here"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no root here"):
        require_lab()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no root here"):
        require_lab()
