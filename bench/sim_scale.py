"""Simulated mesh scale: convergence, detection, traffic and false failures by mesh size.

Each row runs ``python -m kaboodle.sim --json`` in a child process (so that its peak memory
can be read), for several seeds, and prints medians.

    .venv/bin/python bench/sim_scale.py                       # 8, 32, 100, 1000 nodes
    .venv/bin/python bench/sim_scale.py --sizes 10000 --seeds 1 --duration 20
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
from typing import Any


def run(nodes: int, seed: int, duration: float, extra: list[str]) -> tuple[dict[str, Any], int]:
    """One scenario in a child process: its JSON result and the children's peak RSS in MiB."""
    command = [sys.executable, "-m", "kaboodle.sim", "--nodes", str(nodes), "--seed", str(seed)]
    command += ["--duration", str(duration), "--json", *extra]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(out), peak_kib // 1024


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def scale_table(sizes: list[int], seeds: int, duration: float) -> None:
    print(
        f"{'nodes':>6} {'runs':>4} {'converged_s':>11} {'detect_s p50':>12} {'detect_s max':>12} "
        f"{'msgs/node/s':>11} {'bytes/node/s':>12} {'max dgram':>9} {'false':>5} "
        f"{'wall_s':>8} {'peak MiB':>8}"
    )
    for nodes in sizes:
        results, peak = [], 0
        for seed in range(1, seeds + 1):
            result, peak = run(nodes, seed, duration, ["--kill", "1"])
            results.append(result)
        converged = [r["converged_s"] for r in results if r["converged_s"] is not None]
        detect = [d for r in results for d in (r["detect_s"] or []) if d is not None]
        print(
            f"{nodes:>6} {len(results):>4} {fmt(median(converged)):>11} "
            f"{fmt(median(detect)):>12} {fmt(max(detect) if detect else None):>12} "
            f"{fmt(median([r['msgs_per_node_s'] for r in results]), 1):>11} "
            f"{fmt(median([r['bytes_per_node_s'] for r in results]), 0):>12} "
            f"{max(r['max_datagram_bytes'] for r in results):>9,} "
            f"{sum(r['false_failures'] for r in results):>5} "
            f"{fmt(median([r['wall_s'] for r in results]), 1):>8} {peak:>8,}"
        )


def loss_table(sizes: list[int], rates: list[float], seeds: int, duration: float) -> None:
    print(
        f"\n{'nodes':>6} {'loss':>5} {'runs':>4} {'virtual s':>9} {'false failures':>14} "
        f"{'suspicions':>10} {'converged_s':>11}"
    )
    for nodes in sizes:
        for rate in rates:
            results = [
                run(nodes, seed, duration, ["--loss", str(rate)])[0] for seed in range(1, seeds + 1)
            ]
            converged = [r["converged_s"] for r in results if r["converged_s"] is not None]
            print(
                f"{nodes:>6} {rate:>5.0%} {len(results):>4} {duration:>9.0f} "
                f"{sum(r['false_failures'] for r in results):>14} "
                f"{sum(r['events'].get('PeerSuspected', 0) for r in results):>10,} "
                f"{fmt(median(converged)):>11}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="8,32,100,1000", help="comma-separated node counts")
    parser.add_argument("--seeds", type=int, default=5, help="runs (seeds 1..K) per size")
    parser.add_argument("--duration", type=float, default=30.0, help="virtual seconds per run")
    parser.add_argument("--loss-sizes", default="32,100", help="sizes for the loss table")
    parser.add_argument("--loss-rates", default="0.1,0.3", help="loss rates for the loss table")
    parser.add_argument("--loss-seeds", type=int, default=3)
    parser.add_argument("--loss-duration", type=float, default=300.0)
    args = parser.parse_args()
    scale_table([int(n) for n in args.sizes.split(",")], args.seeds, args.duration)
    if args.loss_sizes:
        loss_table(
            [int(n) for n in args.loss_sizes.split(",")],
            [float(r) for r in args.loss_rates.split(",")],
            args.loss_seeds,
            args.loss_duration,
        )


if __name__ == "__main__":
    main()
