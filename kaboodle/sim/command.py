"""``python -m kaboodle.sim``: run one scenario and print a summary, or one JSON object.

Other tooling parses the flags and the JSON fields: keep their spelling and meaning.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from kaboodle.protocol.config import PROFILES

from .scenario import ScenarioResult, ScenarioSpec, run_scenario

__all__ = ["build_parser", "format_summary", "main", "spec_from_args"]


def _positive_int(text: str) -> int:
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, not {value}")
    return value


def _count(text: str) -> int:
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, not {value}")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, not {text}")
    return value


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a probability: {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text}")
    return value


def _loss(text: str) -> float:
    value = _rate(text)
    if value == 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), not {text}")
    return value


def _latency(text: str) -> tuple[float, float]:
    low_text, sep, high_text = text.partition(":")
    try:
        low, high = float(low_text), float(high_text if sep else low_text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected MIN:MAX in milliseconds, not {text!r}"
        ) from None
    if not 0 <= low <= high < float("inf"):
        raise argparse.ArgumentTypeError(f"expected 0 <= MIN <= MAX, not {text}")
    return low, high


def _pause(text: str) -> tuple[int, float]:
    count_text, sep, seconds_text = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected COUNT:SECONDS, not {text!r}")
    return _count(count_text), _seconds(seconds_text)


def build_parser() -> argparse.ArgumentParser:
    """The command's argument parser."""
    parser = argparse.ArgumentParser(
        prog="python -m kaboodle.sim",
        description="Simulate a Kaboodle mesh in virtual time and report how it behaved.",
    )
    parser.add_argument("--nodes", type=_positive_int, required=True, help="nodes started at 0")
    parser.add_argument("--duration", type=_seconds, required=True, help="virtual seconds")
    parser.add_argument("--seed", type=_int, default=0, help="seed of every random draw")
    parser.add_argument("--loss", type=_loss, default=0.0, help="datagram loss rate in [0, 1)")
    parser.add_argument(
        "--burst-ms",
        type=_seconds,
        default=None,
        metavar="MS",
        help="the loss comes in bursts of this mean length (per directed link)",
    )
    parser.add_argument(
        "--burst-loss",
        type=_rate,
        default=0.5,
        metavar="P",
        help="the loss rate inside a burst (default 0.5)",
    )
    parser.add_argument(
        "--latency-ms", type=_latency, default=(1.0, 5.0), metavar="A:B", help="one-way latency"
    )
    parser.add_argument(
        "--kill", type=_count, default=0, metavar="K", help="crash K nodes 5 s after convergence"
    )
    parser.add_argument(
        "--pause",
        type=_pause,
        default=None,
        metavar="K:SECONDS",
        help="pause K other nodes at that moment, for SECONDS",
    )
    parser.add_argument(
        "--partition",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="split the live nodes in two halves at that moment, heal SECONDS later",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="lan")
    parser.add_argument("--ipv4", action="store_true", help="IPv4 addresses instead of IPv6")
    parser.add_argument("--json", action="store_true", help="print exactly one JSON object")
    return parser


def spec_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> ScenarioSpec:
    """Check the arguments together and turn them into a spec (argparse error on a problem)."""
    pause_count, pause_s = args.pause if args.pause is not None else (0, 0.0)
    if args.kill > args.nodes:
        parser.error(f"argument --kill: cannot kill {args.kill} of {args.nodes} nodes")
    if args.kill + pause_count > args.nodes:
        parser.error(
            f"argument --pause: cannot pause {pause_count} other nodes when killing "
            f"{args.kill} of {args.nodes}"
        )
    try:
        return ScenarioSpec(
            nodes=args.nodes,
            duration=args.duration,
            seed=args.seed,
            loss=args.loss,
            burst_ms=args.burst_ms,
            burst_loss=args.burst_loss,
            latency_ms=args.latency_ms,
            kill=args.kill,
            pause=pause_count,
            pause_s=pause_s,
            partition_s=args.partition,
            profile=args.profile,
            ipv6=not args.ipv4,
        )
    except ValueError as error:
        parser.error(str(error))


def _secs(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def format_summary(result: ScenarioResult) -> str:
    """A few aligned lines for people."""
    low, high = result.latency_ms
    bursts = "" if result.burst_ms is None else f" in {result.burst_ms:g} ms bursts"
    lines = [
        (
            "nodes",
            f"{result.nodes}  (seed {result.seed}, profile {result.profile}, loss "
            f"{result.loss:g}{bursts}, latency {low:g}-{high:g} ms, {result.duration:g} virtual s)",
        ),
        ("converged", _secs(result.converged_s)),
    ]
    if result.detect_s is None:
        lines.append(("detected", "no kill (never converged)"))
    elif result.detect_s:
        lines.append(("detected", ", ".join(_secs(s) for s in result.detect_s)))
    if result.paused:
        lines.append(("paused", f"{len(result.paused)} nodes"))
    if result.partition_s is not None:
        lines.append(("healed", _secs(result.heal_s)))
    if result.disturbed_at is not None:
        lines.append(("recovered", _secs(result.recovered_s)))
    lines += [
        ("final view", "converged" if result.final_converged else "NOT converged"),
        (
            "false failures",
            f"{result.false_failures}  (of paused nodes: {result.pause_false_failures}; "
            f"stale, after a pause or heal: {result.removals.get('stale', 0)}; "
            f"late, just after it: {result.removals.get('late', 0)})",
        ),
        (
            "traffic",
            f"{result.msgs_per_node_s:.1f} msgs/node/s, {result.bytes_per_node_s:,.0f} "
            f"bytes/node/s, largest datagram {result.max_datagram_bytes:,} bytes",
        ),
        ("wall", f"{result.wall_s:.2f} s"),
    ]
    width = max(len(label) for label, _ in lines) + 2
    return "\n".join(f"{label:<{width}}{text}" for label, text in lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    spec = spec_from_args(parser, args)
    result = run_scenario(spec)
    print(result.to_json() if args.json else format_summary(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
