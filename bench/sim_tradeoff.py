"""The detection / false-failure trade-off: one knob (the suspicion multiplier) swept.

For each value: median seconds until a killed node is removed everywhere (no loss), and false
failures under heavy loss. Prints a table.

    .venv/bin/python bench/sim_tradeoff.py --nodes 32 --loss 0.3 --mults 0.5,1,2,4
"""

from __future__ import annotations

import argparse
import statistics

from kaboodle.protocol.config import Config
from kaboodle.sim.scenario import ScenarioSpec, run_scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=32)
    parser.add_argument("--loss", type=float, default=0.3)
    parser.add_argument("--mults", default="0.5,1,2,4", help="suspicion_mult values")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=300.0, help="virtual s under loss")
    args = parser.parse_args()
    print(
        f"{'suspicion_mult':>14} {'detect_s p50':>12} {'detect_s max':>12} "
        f"{'false failures':>14} {'at loss':>7} {'virtual s':>9} {'runs':>4}"
    )
    for mult in (float(m) for m in args.mults.split(",")):
        config = Config.lan(suspicion_mult=mult)
        detect: list[float] = []
        false = 0
        for seed in range(1, args.seeds + 1):
            killed = run_scenario(
                ScenarioSpec(nodes=args.nodes, duration=30.0, seed=seed, kill=1, config=config)
            )
            detect += [d for d in killed.detect_s or [] if d is not None]
            lossy = run_scenario(
                ScenarioSpec(
                    nodes=args.nodes,
                    duration=args.duration,
                    seed=seed,
                    loss=args.loss,
                    config=config,
                )
            )
            false += lossy.false_failures
        print(
            f"{mult:>14g} {statistics.median(detect):>12.2f} {max(detect):>12.2f} "
            f"{false:>14} {args.loss:>7.0%} {args.duration:>9.0f} {args.seeds:>4}"
        )


if __name__ == "__main__":
    main()
