"""A fixed set of simulator scenarios, for checking that a change to the protocol keeps its
behaviour: every result but the wall time is a pure function of the code and the seed.

Each scenario runs ``python -m kaboodle.sim --json`` in a child process. The table shows the
headline numbers; ``--save FILE`` writes every result (wall time left out) and ``--compare
FILE`` says, scenario by scenario, whether the current code gives the very same results.

    .venv/bin/python bench/sim_snapshot.py --save before.json      # on the old code
    .venv/bin/python bench/sim_snapshot.py --compare before.json   # on the new code
    .venv/bin/python bench/sim_snapshot.py --only "100 partition" --seeds 12
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

SCENARIOS: dict[str, list[str]] = {
    "8 kill": ["--nodes", "8", "--duration", "30", "--kill", "1"],
    "8 pause": ["--nodes", "8", "--duration", "30", "--pause", "2:3"],
    "8 partition": ["--nodes", "8", "--duration", "40", "--partition", "10"],
    "8 loss 10%": ["--nodes", "8", "--duration", "60", "--loss", "0.1", "--kill", "1"],
    "100 kill+pause": ["--nodes", "100", "--duration", "40", "--kill", "3", "--pause", "3:2"],
    "100 partition": ["--nodes", "100", "--duration", "40", "--partition", "10"],
    "100 loss 10%": ["--nodes", "100", "--duration", "60", "--loss", "0.1", "--kill", "2"],
    "1000 kill+pause": ["--nodes", "1000", "--duration", "20", "--kill", "3", "--pause", "3:2"],
}
"""Scenario name -> simulator flags (seeds are added per run)."""

VOLATILE = ("wall_s",)
"""Result fields that depend on the machine, not the code."""


def run(flags: list[str], seed: int) -> dict[str, Any]:
    """One scenario in a child process, its JSON result without the volatile fields."""
    command = [sys.executable, "-m", "kaboodle.sim", *flags, "--seed", str(seed), "--json"]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out)
    for key in VOLATILE:
        result.pop(key, None)
    return result


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def row(name: str, seed: int, result: dict[str, Any], verdict: str) -> str:
    detect = result["detect_s"] or []
    return (
        f"{name:<16} {seed:>4} {fmt(result['converged_s']):>9} "
        f"{fmt(max((d for d in detect if d is not None), default=None)):>10} "
        f"{fmt(result.get('heal_s')):>6} {result['false_failures']:>5} "
        f"{result['msgs_per_node_s']:>10.2f} {result['bytes_per_node_s']:>11.0f} "
        f"{result['max_datagram_bytes']:>9,}  {verdict}"
    )


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The top-level fields whose values differ."""
    return sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=2, help="seeds per scenario (1..N)")
    parser.add_argument("--jobs", type=int, default=2, help="scenarios run at once")
    parser.add_argument("--save", type=Path, help="write the results to this JSON file")
    parser.add_argument("--compare", type=Path, help="compare with results saved earlier")
    parser.add_argument("--only", action="append", choices=SCENARIOS, help="these scenarios")
    args = parser.parse_args()
    names = args.only or list(SCENARIOS)
    runs = [(name, seed) for name in names for seed in range(1, args.seeds + 1)]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda r: run(SCENARIOS[r[0]], r[1]), runs))
    saved = json.loads(args.compare.read_text()) if args.compare else {}
    print(
        f"{'scenario':<16} {'seed':>4} {'converged':>9} {'detect max':>10} {'heal':>6} "
        f"{'false':>5} {'msgs/nd/s':>10} {'bytes/nd/s':>11} {'max dgram':>9}  "
        f"{'vs saved' if saved else ''}"
    )
    out: dict[str, Any] = {}
    same = 0
    for (name, seed), result in zip(runs, results, strict=True):
        key = f"{name} / seed {seed}"
        out[key] = result
        verdict = ""
        if saved:
            if key not in saved:
                verdict = "not saved"
            else:
                diff = differences(saved[key], result)
                same += not diff
                verdict = "identical" if not diff else "differs: " + ", ".join(diff)
        print(row(name, seed, result, verdict))
    heals = [r["heal_s"] for r in results if r.get("heal_s") is not None]
    print(
        f"false failures in all: {sum(r['false_failures'] for r in results)}; "
        f"mean heal_s: {fmt(sum(heals) / len(heals) if heals else None)} over {len(heals)} heals"
    )
    if saved:
        print(f"{same} of {len(runs)} identical to {args.compare}")
    if args.save:
        args.save.write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
