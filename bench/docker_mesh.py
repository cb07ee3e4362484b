"""Real nodes in Docker containers (docker-compose.yml, the IPv6 network), at N = 8 and 16.

Measures, per trial, on a compose project brought up anew (``up --scale node=N``):

- start:   seconds from the last container's start to every node on one fingerprint (and, of
           that, how long the last container took to print its node's first line);
- kill -9: from ``docker kill -s KILL`` of one node to the survivors on one fingerprint;
- restart: from that container's start again (a new address) to all N on one fingerprint;
- stop:    from ``docker stop`` of another node (it leaves gracefully) to the survivors on one
           fingerprint.

Times come from the nodes' own logs: each logs its fingerprint when it changes, and Docker
stamps every log line as it receives it (the host's clock, nanoseconds). So a measurement ends
at the moment the last node logged the converged fingerprint, whatever the polling; that
includes up to 50 ms of the runtime's event coalescing. Start and restart times begin at the
container's ``State.StartedAt``; kill and stop at the moment the command is issued. Each trial
waits (with a deadline) until the mesh has converged before the next step.

    .venv/bin/python bench/docker_mesh.py                          # N = 8 and 16, 10 trials
    .venv/bin/python bench/docker_mesh.py --nodes 8 --trials 3

The image's HEALTHCHECK (a Python process every 10 s per node) is off unless --healthcheck:
it competes for the CPU with the nodes being measured. Needs Docker and compose (v1 or v2);
builds the image with itests/image.sh when missing; raises the kernel's neighbour-table limits
(as the integration tests do).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "itests"))

import docker
import docker.errors
from dockermesh import (
    REPO,
    Compose,
    Mesh,
    compose_command,
    project_lock,
    raise_neighbour_limits,
    started_at,
)

BENCH_ENV = {
    "KABOODLE_IMAGE": "kaboodle:itest",
    "KABOODLE_BRIDGE": "kbbench6",
    "KABOODLE_SUBNET6": "fd6b:6264:19a2::/64",
    "KABOODLE_SUBNET4": "172.31.193.0/24",
}
"""Compose variables: a bridge and subnets of the benchmark's own, so it never meets the
integration tests' network or one started with docker-compose.yml's defaults."""

METRICS = ("start", "boot", "kill", "restart", "stop")
LABELS = {
    "start": "last start -> one fingerprint",
    "boot": "(of which: last start -> its node's first line)",
    "kill": "kill -9 -> converged",
    "restart": "restart -> converged",
    "stop": "docker stop -> converged",
}
TARGETS_N8 = {
    "start": "< 2 s",
    "boot": "",
    "kill": "< 3 s p50, < 5 s p95",
    "restart": "< 2 s",
    "stop": "< 1 s",
}
"""The targets at N = 8 (issue #5)."""


def trial(mesh: Mesh, compose: Compose, nodes: int, rng: random.Random) -> dict[str, float]:
    """One trial on a fresh project: the four measurements, in seconds."""
    compose.down()
    compose.up(nodes)
    group = mesh.containers()
    assert len(group) == nodes, f"{len(group)} containers, not {nodes}"
    result = {}

    last = max(group, key=started_at)
    since = started_at(last)
    conv = mesh.wait_converged(group, 60.0, f"{nodes} fresh nodes converge")
    result["start"] = mesh.settled_at(group, conv.fingerprint, since) - since
    # How much of that the last container spent before its node said anything: the Python
    # interpreter and the imports, on a machine where the other containers start too.
    result["boot"] = mesh.log(last)[0].time - since

    victim, stopped = rng.sample(group, 2)
    survivors = [c for c in group if c.id != victim.id]
    since = time.time()
    victim.kill(signal="SIGKILL")
    conv = mesh.wait_converged(survivors, 60.0, "the survivors converge after kill -9")
    result["kill"] = mesh.settled_at(survivors, conv.fingerprint, since) - since

    victim.start()
    since = started_at(mesh.refresh(victim))
    conv = mesh.wait_converged(group, 60.0, "all converge after the restart")
    result["restart"] = mesh.settled_at(group, conv.fingerprint, since) - since

    survivors = [c for c in group if c.id != stopped.id]
    since = time.time()
    subprocess.run(
        ["docker", "stop", "-t", "10", stopped.id or ""], check=True, stdout=subprocess.DEVNULL
    )
    conv = mesh.wait_converged(survivors, 60.0, "the survivors converge after docker stop")
    result["stop"] = mesh.settled_at(survivors, conv.fingerprint, since) - since
    return result


def percentile(values: list[float], q: float) -> float:
    """The q-quantile (0..1) by linear interpolation between order statistics; with 10
    trials, p95 lies between the two largest."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def table(results: dict[int, list[dict[str, float]]]) -> str:
    """The results as a Markdown table: p50, p95 and max of each measurement per N."""
    lines = [
        "| N | trials | measurement | p50 s | p95 s | max s | target at N = 8 |",
        "|---|---|---|---|---|---|---|",
    ]
    for nodes, trials in results.items():
        for metric in METRICS:
            values = [t[metric] for t in trials]
            target = TARGETS_N8[metric] if nodes == 8 else ""
            lines.append(
                f"| {nodes} | {len(values)} | {LABELS[metric]} | "
                f"{percentile(values, 0.5):.2f} | {percentile(values, 0.95):.2f} | "
                f"{max(values):.2f} | {target} |"
            )
    return "\n".join(lines)


def main() -> None:
    """Parse the flags, run the trials, print each trial and then the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[8, 16], help="mesh sizes")
    parser.add_argument("--trials", type=int, default=10, help="trials per size")
    parser.add_argument("--seed", type=int, default=1, help="chooses the nodes to kill and stop")
    parser.add_argument("--project", default="kbbench", help="compose project name")
    parser.add_argument("--json", type=Path, help="also write the raw results to this file")
    parser.add_argument(
        "--healthcheck",
        action="store_true",
        help="keep the image's HEALTHCHECK (by default itests/no-healthcheck.yml turns it off)",
    )
    args = parser.parse_args()

    for key, value in BENCH_ENV.items():
        os.environ.setdefault(key, value)
    raise_neighbour_limits()
    client = docker.from_env(timeout=120)
    try:
        client.images.get(os.environ["KABOODLE_IMAGE"])
    except docker.errors.ImageNotFound:
        subprocess.run([str(REPO / "itests" / "image.sh")], check=True, cwd=REPO)
    files = [REPO / "docker-compose.yml"]
    if not args.healthcheck:
        files.append(REPO / "itests" / "no-healthcheck.yml")
    compose = Compose(tuple(compose_command()), tuple(files), args.project)
    mesh = Mesh(client, args.project)
    rng = random.Random(args.seed)

    results: dict[int, list[dict[str, float]]] = {}
    started = time.monotonic()
    # One run of the project at a time on this machine: each trial begins with `down`.
    with project_lock(args.project):
        try:
            for nodes in args.nodes:
                results[nodes] = []
                for i in range(args.trials):
                    result = trial(mesh, compose, nodes, rng)
                    results[nodes].append(result)
                    cells = "  ".join(f"{m} {result[m]:.2f} s" for m in METRICS)
                    print(f"N={nodes} trial {i + 1}/{args.trials}: {cells}", flush=True)
        finally:
            compose.down()
    print(f"\n{table(results)}")
    print(f"\n{sum(map(len, results.values()))} trials in {time.monotonic() - started:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({str(n): t for n, t in results.items()}, indent=1))
    # The commit and the Docker engine, for whoever copies the table.
    engine = client.version().get("Version", "?")
    health = "on" if args.healthcheck else "off"
    print(
        f"Docker Engine {engine}, compose: {' '.join(compose.command)}, "
        f"{os.cpu_count()} cores, healthcheck {health}"
    )


if __name__ == "__main__":
    main()
