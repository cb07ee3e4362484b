"""Real node processes, each in its own network namespace on one bridge (needs root).

Measures, per trial: seconds from the last exec to one fingerprint, all nodes started together
(none waits for another's start, as a deployment starts them), and from the last node's
"ready" line (its interpreter up, its socket bound, its first announce sent); from kill -9 of
one node to the survivors' convergence; from its restart to convergence again. Then, idle:
CPU % of a core and RSS per node, and UDP datagrams and bytes sent per node per second.

    sudo .venv/bin/python bench/netns_mesh.py --nodes 8 --trials 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from netns_lab import Lab
from nodes import NodeProcess, converged, describe_all
from waiting import wait_until

_TICKS = os.sysconf("SC_CLK_TCK")
KEYS = [
    "converge_s",
    "after_ready_s",
    "kill_s",
    "restart_s",
    "cpu_pct",
    "rss_mib",
    "dgrams_s",
    "bytes_s",
]
"""What one trial measures."""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def udp_out(lab: Lab, host: int) -> tuple[int, int]:
    """Datagrams sent from the host's namespace, and bytes sent on its eth0."""
    snmp = lab.exec(host, ["cat", "/proc/net/snmp", "/proc/net/snmp6"]).stdout.splitlines()
    datagrams = 0
    for i, line in enumerate(snmp):
        if line.startswith("Udp:") and i + 1 < len(snmp) and snmp[i + 1].startswith("Udp:"):
            names, values = line.split()[1:], snmp[i + 1].split()[1:]
            datagrams += int(dict(zip(names, values, strict=True))["OutDatagrams"])
        if line.startswith("Udp6OutDatagrams"):
            datagrams += int(line.split()[1])
    tx = lab.exec(host, ["cat", "/sys/class/net/eth0/statistics/tx_bytes"]).stdout
    return datagrams, int(tx)


Make = Callable[[Lab, int, bool], Any]
"""Starts the node of one host, waiting for its start or not: a NodeProcess, or anything read
like one (tests/rust_nodes.py)."""


QUIET = ("--stats-every", "0")
"""Node arguments for an idle window that measures the node: no periodic stats report."""

ROOT = Path(__file__).resolve().parent.parent
"""This checkout."""


def compile_tree(root: Path = ROOT, dirs: tuple[str, ...] = ("kaboodle", "tests")) -> None:
    """Bytecode for ``dirs`` of the checkout ``root``, as an installed package has it (pip
    compiles at install time): a start must not be timed compiling sources, as it would be
    under PYTHONDONTWRITEBYTECODE."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", *dirs], cwd=root, check=True)


def trial(nodes_n: int, make: Make, idle_s: float) -> dict[str, float]:
    """One mesh of ``nodes_n`` hosts, host ``h`` running ``make(lab, h, wait)``: the times to
    converge from the last exec, to agree again after kill -9 of the last node and after its
    restart, and the idle costs per node."""
    with Lab(nodes_n) as lab:
        nodes = [make(lab, h, False) for h in range(nodes_n)]
        for node in nodes:
            node.wait_ready()
        wait_until(lambda: converged(nodes), 30.0, lambda: describe_all(nodes))
        agreed = time.monotonic()
        result = {
            "converge_s": agreed - max(n.started_at for n in nodes),
            "after_ready_s": agreed - max(n.ready_at or agreed for n in nodes),
        }

        before = {n.proc.pid: cpu_seconds(n.proc.pid) for n in nodes}
        traffic = [udp_out(lab, n.host) for n in nodes]
        time.sleep(idle_s)  # the measurement window itself, not a wait for a condition
        result["cpu_pct"] = statistics.mean(
            100 * (cpu_seconds(n.proc.pid) - before[n.proc.pid]) / idle_s for n in nodes
        )
        after = [udp_out(lab, n.host) for n in nodes]
        result["dgrams_s"] = statistics.mean(
            (a[0] - b[0]) / idle_s for a, b in zip(after, traffic, strict=True)
        )
        result["bytes_s"] = statistics.mean(
            (a[1] - b[1]) / idle_s for a, b in zip(after, traffic, strict=True)
        )
        result["rss_mib"] = max(rss_mib(n.proc.pid) for n in nodes)

        victim = nodes[-1]
        victim.proc.kill()
        killed = time.monotonic()
        survivors = nodes[:-1]
        wait_until(lambda: converged(survivors), 30.0, lambda: describe_all(survivors))
        result["kill_s"] = time.monotonic() - killed

        restarted = time.monotonic()
        nodes[-1] = make(lab, victim.host, True)
        wait_until(lambda: converged(nodes), 30.0, lambda: describe_all(nodes))
        result["restart_s"] = time.monotonic() - restarted
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--profile", default="lan")
    parser.add_argument("--idle", type=float, default=10.0, help="idle window, seconds")
    args = parser.parse_args()
    compile_tree()

    def make(lab: Lab, host: int, wait: bool) -> NodeProcess:
        return NodeProcess(lab, host, f"host-{host}", "--profile", args.profile, *QUIET, wait=wait)

    results = [trial(args.nodes, make, args.idle) for _ in range(args.trials)]
    print(f"{args.nodes} nodes, profile {args.profile}, {args.trials} trials")
    print(f"{'metric':>12} {'p50':>9} {'max':>9}")
    for key in KEYS:
        values = [r[key] for r in results]
        print(f"{key:>12} {statistics.median(values):>9.3f} {max(values):>9.3f}")


if __name__ == "__main__":
    main()
