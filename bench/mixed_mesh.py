"""Three meshes side by side on the same harness as bench/netns_mesh.py (needs root): the
kaboodle crate 0.1.5's demo binary alone, Python nodes alone on our protocol, and a mixed mesh
(half Rust, half Python in rust-0.1 mode). Per mesh and size: seconds from the last start to
one fingerprint (all started together), from kill -9 of one node (a Rust one in the mixed
mesh) to agreement, from its restart to agreement; then idle CPU %, RSS, datagrams and bytes
sent per node per second.

    sudo .venv/bin/python bench/mixed_mesh.py                 # N = 8 and 16, 3 trials each
    sudo .venv/bin/python bench/mixed_mesh.py --sizes 8 --trials 1

The crate's binary comes from scripts/rust-crate.sh (built once, cached in ~/.cache/kaboodle).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from netns_lab import Lab
from netns_mesh import KEYS, QUIET, Make, compile_tree, trial
from nodes import NodeProcess
from rust_nodes import RustProcess


def python(wire: str) -> Make:
    def make(lab: Lab, host: int, wait: bool) -> NodeProcess:
        return NodeProcess(
            lab, host, f"py-{host}", "--profile", "lan", "--wire", wire, *QUIET, wait=wait
        )

    return make


def rust(lab: Lab, host: int, wait: bool) -> RustProcess:
    return RustProcess(lab, host, f"rust-{host}", wait=wait)


def mixed(size: int) -> Make:
    # Python on the first half, Rust on the second: the node killed and restarted (the last
    # one) is a Rust node.
    def make(lab: Lab, host: int, wait: bool) -> NodeProcess | RustProcess:
        return python("rust-0.1")(lab, host, wait) if host < size // 2 else rust(lab, host, wait)

    return make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", default="8,16", help="mesh sizes, comma-separated")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--idle", type=float, default=10.0, help="idle window, seconds")
    args = parser.parse_args()
    compile_tree()
    print(f"p50 over {args.trials} trials (max in brackets)")
    print(f"{'mesh':>22} {'N':>3} " + " ".join(f"{k:>16}" for k in KEYS))
    for size in (int(s) for s in args.sizes.split(",") if s):
        meshes: list[tuple[str, Make]] = [
            ("rust 0.1.5 only", rust),
            ("python only (kaboodle)", python("kaboodle")),
            ("mixed (rust-0.1)", mixed(size)),
        ]
        for name, make in meshes:
            results = [trial(size, make, args.idle) for _ in range(args.trials)]
            cells = []
            for key in KEYS:
                values = [r[key] for r in results]
                cells.append(f"{statistics.median(values):>8.2f} [{max(values):>5.2f}]")
            print(f"{name:>22} {size:>3} " + " ".join(f"{c:>16}" for c in cells), flush=True)


if __name__ == "__main__":
    main()
