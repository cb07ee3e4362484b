"""Proximity in the simulator: how close RTT estimates come to the truth as virtual time passes,
and what coordinates cost on the wire.

The mesh runs on a synthetic latency model (kaboodle.sim.latency.PlaneLatency: hosts as points
in a 50 ms square, each with a 0.5-5 ms access delay, 0-0.5 ms of jitter per datagram). Every
10 virtual seconds the table shows the median and 90th percentile of the relative error of
every estimate a node holds of a peer, how many estimates there are, and the share of nodes
whose estimated 3 nearest peers hold at least 2 of their true 3 nearest.

    .venv/bin/python bench/proximity.py                   # 50 and 500 nodes, 120 s, seed 1
    .venv/bin/python bench/proximity.py --sizes 50 --seeds 5
"""

from __future__ import annotations

import argparse
import statistics
import time

from kaboodle.protocol import codec
from kaboodle.protocol.config import Config
from kaboodle.protocol.coordinate import Coordinate
from kaboodle.protocol.messages import Ack
from kaboodle.sim.cluster import Cluster
from kaboodle.sim.latency import PlaneLatency
from kaboodle.sim.rtt_audit import ProximityAudit

JITTER = (0.0, 0.0005)


def ack_bytes() -> tuple[int, int]:
    """The size of a bare ack without and with a coordinate of the default dimensions."""
    bare = Ack(seq=2**40, fingerprint=2**31, members=100)
    located = Ack(seq=2**40, fingerprint=2**31, members=100, coordinate=Coordinate.origin())
    return len(codec.encode(bare)), len(codec.encode(located))


def convergence(size: int, seed: int, until: float, step: float) -> None:
    model = PlaneLatency(seed=seed)
    cluster = Cluster(size, seed=seed, latency=JITTER, topology=model.one_way)
    audit = ProximityAudit(cluster.network, model, JITTER)
    print(f"\n{size} nodes, seed {seed}")
    header = ("virtual s", "estimates", "median err", "p90 err", "nearest 2/3")
    print(" ".join(f"{h:>11}" for h in header))
    started = time.perf_counter()
    t = step
    while t <= until + 1e-9:
        cluster.run_until(t)
        errors = sorted(audit.errors())
        found = audit.nearest_found(3)
        share = sum(n >= 2 for n in found) / len(found)
        if errors:
            median = f"{statistics.median(errors):.1%}"
            p90 = f"{errors[int(0.9 * (len(errors) - 1))]:.1%}"
        else:
            median = p90 = "-"
        print(f"{t:>11.0f} {len(errors):>11,} {median:>11} {p90:>11} {share:>11.0%}")
        t += step
    print(f"(wall {time.perf_counter() - started:.1f} s)")


def traffic(size: int, seed: int, duration: float) -> None:
    """Bytes per node per second with proximity on and off, same mesh and seed."""
    print(f"\ntraffic, {size} nodes, {duration:g} virtual s, seed {seed}")
    print(f"{'proximity':>9} {'msgs/node/s':>11} {'bytes/node/s':>12}")
    for on in (False, True):
        model = PlaneLatency(seed=seed)
        cluster = Cluster(
            size,
            seed=seed,
            latency=JITTER,
            topology=model.one_way,
            config=Config.lan(proximity=on),
        )
        cluster.run_until(duration)
        stats = cluster.stats
        per = size * duration
        rate, volume = stats.unicasts / per, stats.bytes_sent / per
        print(f"{'on' if on else 'off':>9} {rate:>11.1f} {volume:>12.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,500", help="mesh sizes, comma-separated")
    parser.add_argument("--seeds", type=int, default=1, help="seeds per size")
    parser.add_argument("--until", type=float, default=120.0, help="virtual seconds")
    parser.add_argument("--step", type=float, default=10.0, help="virtual seconds per row")
    args = parser.parse_args()
    bare, located = ack_bytes()
    print(f"a bare ack: {bare} bytes without proximity, {located} with (+{located - bare})")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    for size in sizes:
        for seed in range(1, args.seeds + 1):
            convergence(size, seed, args.until, args.step)
    traffic(sizes[0], 1, 60.0)


if __name__ == "__main__":
    main()
