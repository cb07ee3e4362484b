"""The protocol under loss, in the simulator: for each size, loss rate and loss model, runs of
``--duration`` virtual seconds with one node killed 5 s after the mesh converged. Prints false
failures (removals of a live, reachable member, summed over the seeds), detection of the kill
(p50 and p95 over the seeds) and datagrams sent per node per second, with the traffic's ratio to
the loss-free run of the same size. Then the same for Lifeguard turned off, and for plain SWIM.

The loss models: *uniform*; *bursty*, Gilbert-Elliott per directed link (200 ms bursts at 50 %,
as often as the mean loss needs); *oneway*, uniform plus host 0 -> host 1 cut (host 1 -> host 0
fine); *sender*, uniform plus half of all host 0 sends lost (it hears everyone).

Then start storms: N nodes started at random within ``--storm-window`` virtual seconds, run for
20 virtual seconds, each in a child process so that its peak memory can be read. A row gives
the seconds from the last start until one fingerprint everywhere, the wall time, the child's
peak RSS, and datagrams sent per node per second in the first 10 s against the next 10 s (the
idle rate). Last, the simulator's speed: 1,000 nodes for 60 virtual seconds with 3 kills and
3 pauses of 2 s, as wall seconds and simulator events (deliveries and timers) per second.

    .venv/bin/python bench/sim_stress.py                               # everything
    .venv/bin/python bench/sim_stress.py --sizes 64 --duration 120 --seeds 1
    .venv/bin/python bench/sim_stress.py --sizes '' --tradeoff-sizes '' --storm-sizes 10000
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor

from kaboodle.protocol.config import Config
from kaboodle.sim import Cluster
from kaboodle.sim.loss import DirectedLoss, LossModel
from kaboodle.sim.scenario import ScenarioResult, ScenarioSpec, run_scenario

_BURST_MS = 200.0
_BURST_LOSS = 0.5
_SENDER_LOSS = 0.5

CONFIGS = {
    "default": Config.lan(),
    "lifeguard off": Config.lan(awareness_max=1, suspicion_max_mult=1.0),
    "plain SWIM": Config.lan(
        awareness_max=1,
        suspicion_max_mult=1.0,
        ping_resends=0,
        late_ping=False,
        indirect_checks=3,
    ),
}
"""The trade-off tables' settings. Lifeguard off: a fixed suspicion timeout (its minimum) and
no local health. Plain SWIM: also each ping sent once (no resend, no late ping) and 3 helpers,
as in the paper (the buddy system and the last calls stay)."""

_HEADER = ("N", "loss", "model", "false", "detect p50", "detect p95", "msgs/node/s", "x calm")
_WIDTHS = (5, 5, 8, 6, 11, 16, 12, 7)


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def _model(model: str, loss: float, seed: int) -> LossModel | None:
    if model == "oneway":
        return DirectedLoss(loss, links={(0, 1): 1.0}, seed=seed)
    if model == "sender":
        return DirectedLoss(loss, senders={0: max(_SENDER_LOSS, loss)}, seed=seed)
    return None


def cell(
    size: int, loss: float, model: str, config: Config, args: argparse.Namespace
) -> list[ScenarioResult]:
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
                loss_model=_model(model, loss, seed),
                kill=1,
                config=config,
            )
        )
        for seed in range(args.seeds)
    ]


def _cells(losses: str, models: list[str]) -> Iterator[tuple[float, str]]:
    for loss in (float(x) for x in losses.split(",")):
        for model in models:
            if model != "bursty" or loss:  # bursts of no loss are uniform loss
                yield loss, model


def table(
    title: str,
    config: Config,
    args: argparse.Namespace,
    *,
    sizes: list[int],
    losses: str,
    models: list[str],
) -> None:
    """Print one table: a row per size, loss and model."""
    print(f"\n{title}")
    print(" ".join(f"{h:>{w}}" for h, w in zip(_HEADER, _WIDTHS, strict=True)), flush=True)
    for size in sizes:
        calm: float | None = None
        for loss, model in _cells(losses, models):
            runs = cell(size, loss, model, config, args)
            detected = [d for r in runs for d in (r.detect_s or []) if d is not None]
            missed = sum(1 for r in runs for d in (r.detect_s or [None]) if d is None)
            msgs = statistics.mean(r.msgs_per_node_s for r in runs)
            if calm is None and loss == 0 and model == "uniform":
                calm = msgs
            p50 = f"{statistics.median(detected):.2f}" if detected else "never"
            p95 = f"{_p95(detected):.2f}" if detected else "never"
            if missed:
                p95 += f" ({missed} missed)"
            ratio = f"{msgs / calm:.2f}" if calm else "-"
            row = (size, f"{loss:g}", model, sum(r.false_failures for r in runs), p50, p95)
            cells = [*row, f"{msgs:.2f}", ratio]
            print(" ".join(f"{c!s:>{w}}" for c, w in zip(cells, _WIDTHS, strict=True)), flush=True)


_STORM_RUN = 20.0  # virtual seconds of a storm run
_STORM_EARLY = 10.0  # its first part, whose traffic is compared with the rest (idle)
_STORM_HEADER = ("N", "window s", "converged s", "wall s", "peak MiB", "early/s", "idle/s", "x")
_STORM_WIDTHS = (6, 9, 12, 8, 9, 8, 7, 5)


def storm(nodes: int, window: float, seed: int) -> tuple[float | None, float, int, float, float]:
    """One start storm (run in a fresh process): seconds from the last start to agreement
    (None: not within the run), wall seconds, peak RSS in MiB, and datagrams per node per
    second in the first ``_STORM_EARLY`` virtual seconds and in the rest."""
    started = time.perf_counter()
    cluster = Cluster(0, seed=seed)
    last = cluster.add_nodes_over(nodes, window, random.Random(seed))
    converged = cluster.run_until_converged(_STORM_EARLY)
    cluster.run_until(_STORM_EARLY)
    early = cluster.stats.messages
    if converged is None:
        converged = cluster.run_until_converged(_STORM_RUN)
    cluster.run_until(_STORM_RUN)
    idle = cluster.stats.messages - early
    wall = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    took = None if converged is None else converged - last
    rest = _STORM_RUN - _STORM_EARLY
    return took, wall, peak, early / nodes / _STORM_EARLY, idle / nodes / rest


def storms(sizes: list[int], window: float, seed: int) -> None:
    """Print a row per storm size."""
    print(f"\nstart storms: N nodes started within {window:g} s, {_STORM_RUN:g} virtual s")
    print(" ".join(f"{h:>{w}}" for h, w in zip(_STORM_HEADER, _STORM_WIDTHS, strict=True)))
    spawn = multiprocessing.get_context("spawn")
    for size in sizes:
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            took, wall, peak, early, idle = pool.submit(storm, size, window, seed).result()
        converged = "never" if took is None else f"{took:.2f}"
        cells = (size, f"{window:g}", converged, f"{wall:.1f}", peak, f"{early:.2f}")
        row = (*cells, f"{idle:.2f}", f"{early / idle:.2f}")
        print(" ".join(f"{c!s:>{w}}" for c, w in zip(row, _STORM_WIDTHS, strict=True)), flush=True)


def speed(nodes: int, duration: float) -> None:
    """Print the simulator's speed on the README's scenario."""
    spec = ScenarioSpec(nodes=nodes, duration=duration, seed=1, kill=3, pause=3, pause_s=2.0)
    result = run_scenario(spec)
    work = result.deliveries + result.timers
    print(
        f"\nsimulator: {nodes} nodes x {duration:g} virtual s (3 kills, 3 pauses of 2 s): "
        f"{result.wall_s:.1f} s wall, {work / result.wall_s:,.0f} events/s "
        f"({result.deliveries:,} deliveries, {result.timers:,} timers)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="16,64,256")
    parser.add_argument("--losses", default="0,0.1,0.2")
    parser.add_argument("--models", default="uniform,bursty,oneway,sender")
    parser.add_argument("--duration", type=float, default=600.0, help="virtual seconds per run")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument(
        "--tradeoff-sizes", default="64", help="sizes of the Lifeguard tables ('' for none)"
    )
    parser.add_argument("--tradeoff-losses", default="0,0.1,0.2,0.3")
    parser.add_argument("--storm-sizes", default="1000,2000", help="'' for none")
    parser.add_argument("--storm-window", type=float, default=1.0, help="virtual seconds")
    parser.add_argument("--speed-nodes", type=int, default=1000, help="0 for no speed row")
    args = parser.parse_args()
    started = time.perf_counter()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    models = args.models.split(",")
    tradeoff = [int(s) for s in args.tradeoff_sizes.split(",") if s]
    if sizes or tradeoff:
        print(
            f"{args.duration:g} virtual s per run, {args.seeds} seeds; bursty: {_BURST_MS:g} "
            f"ms bursts at {_BURST_LOSS:g} per directed link; sender: {_SENDER_LOSS:g} of "
            "host 0's sends lost"
        )
    if sizes:
        table(
            "default profile (lan)",
            CONFIGS["default"],
            args,
            sizes=sizes,
            losses=args.losses,
            models=models,
        )
    for name in CONFIGS if tradeoff else ():
        table(
            f"trade-off: {name}",
            CONFIGS[name],
            args,
            sizes=tradeoff,
            losses=args.tradeoff_losses,
            models=["uniform"],
        )
    storm_sizes = [int(s) for s in args.storm_sizes.split(",") if s]
    if storm_sizes:
        storms(storm_sizes, args.storm_window, seed=1)
    if args.speed_nodes:
        speed(args.speed_nodes, 60.0)
    print(f"\nwall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
