"""How fast the ``kaboodle`` command starts, as ratios to the interpreter's own start-up.

Runs each command ``--runs`` times, one after another, and prints the median wall time, its
ratio to ``python -c pass`` (the same interpreter, measured in the same run), and the CPU per
run (user + system, from the children's resource usage). Then the healthcheck's CPU per node
per minute (the image runs ``kaboodle fingerprint`` every 10 s), and how long ``kaboodle join``
takes from exec to its first announce on the wire, seen by a socket in the multicast group.

The node that ``fingerprint`` asks runs on loopback in a private runtime directory; the
announces go between two hosts of a network namespace lab (so it needs root), and nothing
leaves this machine. ``--tree`` measures another checkout (for before/after tables):

    python3 -m venv /tmp/kb && /tmp/kb/bin/pip install '.[test,metrics]'   # a regular install
    sudo PYTHONPATH=. /tmp/kb/bin/python bench/cli_start.py
    git worktree add /tmp/before <commit>    # and a venv with that commit's dependencies:
    sudo PYTHONPATH=/tmp/before /tmp/kb-before/bin/python bench/cli_start.py --tree /tmp/before
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from netns_lab import Lab
from netns_mesh import compile_tree
from waiting import free_port, wait_until

from kaboodle.runtime.transport import GROUP_V6

HEALTHCHECKS_PER_MINUTE = 6  # the Dockerfile's HEALTHCHECK --interval=10s


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and CPU seconds of one run of ``argv``, which must succeed."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {done.stderr.decode().strip()}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def medians(argv: list[str], env: dict[str, str], runs: int) -> tuple[float, float]:
    """Median wall and CPU seconds over ``runs`` runs (after one to warm the caches)."""
    timed(argv, env)
    samples = [timed(argv, env) for _ in range(runs)]
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


# Run in a lab host: prints the monotonic time (one clock for every namespace) at which each
# datagram to the group arrives, one per line.
_LISTENER = """
import socket, struct, sys, time
sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("::", int(sys.argv[1])))
group = socket.inet_pton(socket.AF_INET6, sys.argv[2])
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP,
                struct.pack("16sI", group, socket.if_nametoindex("eth0")))
print("ready", flush=True)
while True:
    sock.recv(65536)
    print(time.monotonic(), flush=True)
"""


def first_announces(kaboodle: list[str], env: dict[str, str], starts: int) -> list[float]:
    """Seconds from exec of ``kaboodle join`` to its first datagram to the group, ``starts``
    times: the node runs in one host of a network namespace lab, the listener in another."""
    port = 7475
    with Lab(2, name="clistart") as lab:
        listener = lab.run(
            1,
            [sys.executable, "-c", _LISTENER, str(port), GROUP_V6],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert listener.stdout is not None
        arrivals = listener.stdout
        if arrivals.readline().strip() != "ready":
            raise SystemExit("the group listener did not start")
        seconds = []
        for _ in range(starts):
            argv = ["env", *(f"{k}={v}" for k, v in env.items()), *kaboodle, "join"]
            started = time.monotonic()
            node = lab.run(0, [*argv, "--port", str(port)], stdout=subprocess.DEVNULL)
            # Arrivals of an earlier node's datagrams come before this start: skip them.
            arrived = started
            while arrived <= started:
                arrived = float(arrivals.readline())
            seconds.append(arrived - started)
            node.terminate()
            node.wait(10)
        return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=30, help="runs of each command")
    parser.add_argument("--tree", type=Path, help="the checkout to measure (default: this one)")
    args = parser.parse_args()
    tree = (args.tree or Path(__file__).resolve().parent.parent).resolve()
    kaboodle = [sys.executable, "-m", "cli"]
    compile_tree(tree, ("kaboodle", "cli"))
    with tempfile.TemporaryDirectory(prefix="kaboodle-bench-") as rundir:
        env = {k: v for k, v in os.environ.items() if not k.startswith("KABOODLE_")}
        env.update(PYTHONPATH=str(tree), KABOODLE_RUNTIME_DIR=rundir)
        port = free_port()
        node = subprocess.Popen(
            [*kaboodle, "join", "--port", str(port), "--interface", "lo", "--json-logs"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert node.stdout is not None
            wait_until(lambda: '"started"' in node.stdout.readline(), 20.0)
            rows = [
                ("python -c pass", [sys.executable, "-c", "pass"]),
                ("kaboodle --help", [*kaboodle, "--help"]),
                ("kaboodle fingerprint", [*kaboodle, "fingerprint", "--port", str(port)]),
                ("kaboodle peers", [*kaboodle, "peers", "--port", str(port)]),
            ]
            results = {name: medians(argv, env, args.runs) for name, argv in rows}
        finally:
            node.terminate()
            node.wait(10)
        announces = first_announces(kaboodle, env, max(5, args.runs // 3))

    base = results["python -c pass"][0]
    print(f"{tree}: {args.runs} runs each, medians; Python {sys.version.split()[0]}")
    site_dirs = [Path(p) for p in sys.path if p.endswith("site-packages")]
    if any(path.name.startswith("__editable__") for d in site_dirs for path in d.glob("*.pth")):
        print(
            "note: this interpreter has an editable install, whose finder adds about 30 ms to "
            "every start, the baseline's too; for the ratios use a regular install (below)"
        )
    print(f"{'command':<22} {'wall ms':>9} {'x python':>9} {'cpu ms':>8}")
    for name, (wall, cpu) in results.items():
        print(f"{name:<22} {wall * 1000:>9.1f} {wall / base:>9.2f} {cpu * 1000:>8.1f}")
    check_cpu = results["kaboodle fingerprint"][1]
    print(f"healthcheck CPU per node per minute: {check_cpu * HEALTHCHECKS_PER_MINUTE:.2f} s")
    print(
        f"kaboodle join, exec -> first announce: median {statistics.median(announces):.3f} s, "
        f"max {max(announces):.3f} s ({len(announces)} starts)"
    )


if __name__ == "__main__":
    main()
