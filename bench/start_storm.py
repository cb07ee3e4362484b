"""Start storms in the simulator: N nodes started at random times over a window, as a
deployment starts them; how long from the last start until every node agrees, and what the
first 10 virtual seconds cost in traffic per node.

    .venv/bin/python bench/start_storm.py                           # N 8, 64, 256; 3 seeds
    .venv/bin/python bench/start_storm.py --nodes 1000 --windows 0,1 --seeds 1
    .venv/bin/python bench/start_storm.py --nodes 256 --windows 1,3 --seeds 2 --loss 0.2
"""

from __future__ import annotations

import argparse
import random
import statistics

from kaboodle.protocol.config import PROFILES
from kaboodle.sim import Cluster

_TRAFFIC_WINDOW = 10.0  # virtual seconds after the last start


def trial(
    nodes: int, window: float, seed: int, profile: str, loss: float
) -> tuple[float | None, float, float]:
    """Seconds from the last start to agreement (None: not within 60 s), then KiB and
    datagrams sent per node in the first 10 s after the last start."""
    cluster = Cluster(0, seed=seed, config=PROFILES[profile](), loss=loss)
    last = cluster.add_nodes_over(nodes, window, random.Random(seed))
    converged = cluster.run_until_converged(last + 60.0, step=0.01)
    cluster.run_until(max(cluster.now, last + _TRAFFIC_WINDOW))
    stats = cluster.stats
    took = None if converged is None else converged - last
    return took, stats.bytes_sent / nodes / 1024, stats.messages / nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", default="8,64,256", help="mesh sizes, comma-separated")
    parser.add_argument("--windows", default="0,0.3,2", help="start windows in seconds")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--profile", default="lan", choices=sorted(PROFILES))
    parser.add_argument("--loss", type=float, default=0.0, help="uniform datagram loss, 0..1")
    args = parser.parse_args()
    print(
        f"profile {args.profile}, loss {args.loss:g}, {args.seeds} seeds; "
        "agreement: p50 / max seconds"
    )
    header = ("N", "window s", "agree p50", "agree max", "KiB/node", "dgrams/node")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (6, 9, 10, 10, 9, 12), strict=True)))
    for nodes in (int(n) for n in args.nodes.split(",")):
        for window in (float(w) for w in args.windows.split(",")):
            runs = [
                trial(nodes, window, seed, args.profile, args.loss) for seed in range(args.seeds)
            ]
            times = [t for t, _, _ in runs]
            agreed = [t for t in times if t is not None]
            p50 = f"{statistics.median(agreed):.2f}" if len(agreed) == len(times) else "never"
            worst = f"{max(agreed):.2f}" if len(agreed) == len(times) else "never"
            kib = statistics.mean(k for _, k, _ in runs)
            dgrams = statistics.mean(d for _, _, d in runs)
            print(f"{nodes:>6} {window:>9.1f} {p50:>10} {worst:>10} {kib:>9.1f} {dgrams:>12.0f}")


if __name__ == "__main__":
    main()
