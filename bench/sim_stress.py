"""The protocol under loss, in the simulator: for each size, loss rate and loss model, runs of
``--duration`` virtual seconds with one node killed 5 s after the mesh converged. Prints false
failures (removals of a live, reachable member, summed over the seeds), detection of the kill
(p50 and p95 over the seeds) and datagrams sent per node per second, with the traffic's ratio to
the loss-free run of the same size. Then the same for Lifeguard turned off, and for plain SWIM.

The loss models: *uniform*; *bursty*, Gilbert-Elliott per directed link (200 ms bursts at 50 %,
as often as the mean loss needs); *oneway*, uniform plus host 0 -> host 1 cut (host 1 -> host 0
fine); *sender*, uniform plus half of all host 0 sends lost (it hears everyone).

    .venv/bin/python bench/sim_stress.py                               # the full matrix
    .venv/bin/python bench/sim_stress.py --sizes 64 --duration 120 --seeds 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Iterator

from kaboodle.protocol.config import Config
from kaboodle.sim.loss import DirectedLoss, LossModel
from kaboodle.sim.scenario import ScenarioResult, ScenarioSpec, run_scenario

_BURST_MS = 200.0
_BURST_LOSS = 0.5
_SENDER_LOSS = 0.5

CONFIGS = {
    "default": Config.lan(),
    "lifeguard off": Config.lan(awareness_max=1, suspicion_max_mult=1.0),
    "plain SWIM": Config.lan(
        awareness_max=1, suspicion_max_mult=1.0, ping_resends=0, indirect_checks=3
    ),
}
"""The trade-off tables' settings. Lifeguard off: a fixed suspicion timeout (its minimum) and
no local health. Plain SWIM: also each ping sent once and 3 helpers, as in the paper (the buddy
system and the last calls stay)."""

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
    args = parser.parse_args()
    print(
        f"{args.duration:g} virtual s per run, {args.seeds} seeds; bursty: {_BURST_MS:g} ms "
        f"bursts at {_BURST_LOSS:g} per directed link; sender: {_SENDER_LOSS:g} of host 0's "
        "sends lost"
    )
    started = time.perf_counter()
    sizes = [int(s) for s in args.sizes.split(",")]
    models = args.models.split(",")
    table(
        "default profile (lan)",
        CONFIGS["default"],
        args,
        sizes=sizes,
        losses=args.losses,
        models=models,
    )
    tradeoff = [int(s) for s in args.tradeoff_sizes.split(",") if s]
    for name in CONFIGS if tradeoff else ():
        table(
            f"trade-off: {name}",
            CONFIGS[name],
            args,
            sizes=tradeoff,
            losses=args.tradeoff_losses,
            models=["uniform"],
        )
    print(f"\nwall {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
