"""The protocol under loss, in the simulator: for each size, loss rate and loss model (uniform,
or in bursts per directed link), runs of ``--duration`` virtual seconds with one node killed 5 s
after the mesh converged. Prints false failures (removals of a live, reachable member, summed
over the seeds), detection of the kill (p50 and p95 over the seeds) and datagrams sent per node
per second, with the traffic's ratio to the loss-free run of the same size.

    .venv/bin/python bench/sim_stress.py                               # the full matrix
    .venv/bin/python bench/sim_stress.py --sizes 64 --duration 120 --seeds 1
"""

from __future__ import annotations

import argparse
import statistics
import time

from kaboodle.sim.scenario import ScenarioResult, ScenarioSpec, run_scenario

_BURST_MS = 200.0
_BURST_LOSS = 0.5


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def cell(size: int, loss: float, model: str, args: argparse.Namespace) -> list[ScenarioResult]:
    """The runs of one cell of the matrix, one per seed."""
    bursty = model == "bursty" and loss > 0
    return [
        run_scenario(
            ScenarioSpec(
                nodes=size,
                duration=args.duration,
                seed=seed,
                loss=loss,
                burst_ms=_BURST_MS if bursty else None,
                burst_loss=max(_BURST_LOSS, loss),
                kill=1,
                profile=args.profile,
            )
        )
        for seed in range(args.seeds)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="16,64,256")
    parser.add_argument("--losses", default="0,0.1,0.2")
    parser.add_argument("--models", default="uniform,bursty")
    parser.add_argument("--duration", type=float, default=600.0, help="virtual seconds per run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--profile", default="lan")
    args = parser.parse_args()
    print(
        f"profile {args.profile}, {args.duration:g} virtual s per run, {args.seeds} seeds; "
        f"bursty: {_BURST_MS:g} ms bursts at {_BURST_LOSS:g} (per directed link)"
    )
    header = ("N", "loss", "model", "false", "detect p50", "detect p95", "msgs/node/s", "x calm")
    widths = (5, 5, 8, 6, 11, 11, 12, 7)
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, widths, strict=True)), flush=True)
    started = time.perf_counter()
    for size in (int(s) for s in args.sizes.split(",")):
        calm: float | None = None
        for loss in (float(x) for x in args.losses.split(",")):
            for model in args.models.split(",") if loss else ["uniform"]:
                runs = cell(size, loss, model, args)
                detected = [d for r in runs for d in (r.detect_s or []) if d is not None]
                missed = sum(1 for r in runs for d in (r.detect_s or [None]) if d is None)
                msgs = statistics.mean(r.msgs_per_node_s for r in runs)
                calm = msgs if calm is None and loss == 0 else calm
                p50 = f"{statistics.median(detected):.2f}" if detected else "never"
                p95 = f"{_p95(detected):.2f}" if detected else "never"
                if missed:
                    p95 += f" ({missed} missed)"
                ratio = f"{msgs / calm:.1f}" if calm else "-"
                row = (size, f"{loss:g}", model, sum(r.false_failures for r in runs), p50, p95)
                cells = [*row, f"{msgs:.1f}", ratio]
                print(
                    " ".join(f"{c!s:>{w}}" for c, w in zip(cells, widths, strict=True)), flush=True
                )
    print(f"wall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
