"""The cost of one message in one protocol node, without a network: microseconds per call.

Drives a single :class:`~kaboodle.protocol.node.Node` by hand: a storm of announces from
newcomers (the start of a large mesh), then pings from its members (the steady state, each
answered with an ack). Prints the best of several rounds, so that a change to the node's hot
path can be measured apart from the simulator's own costs.

    .venv/bin/python bench/node_messages.py
"""

from __future__ import annotations

import argparse
import random
import time

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.config import Config
from kaboodle.protocol.messages import Announce, MemberState, Ping, Update
from kaboodle.protocol.node import Node


def newcomers(count: int) -> list[tuple[Addr, Announce]]:
    """``count`` distinct members announcing themselves."""
    addrs = [Addr.from_ip(f"fd00::{i // 250 + 1:x}:{i % 250 + 1:x}", 7000) for i in range(count)]
    return [
        (a, Announce(member=Update(addr=a, state=MemberState.ALIVE, incarnation=1, identity=b"n")))
        for a in addrs
    ]


def one_round(announces: list[tuple[Addr, Announce]], pings: int) -> tuple[float, float]:
    """Seconds for the announces, and for ``pings`` pings, in a fresh node."""
    node = Node(
        Addr.parse("[fd01::1]:7000"), b"me", config=Config(), rng=random.Random(1), incarnation=5
    )
    node.start(0.0)
    now = 0.0
    started = time.perf_counter()
    for src, msg in announces:
        now += 1e-4
        node.handle_message(now, src, msg)
    middle = time.perf_counter()
    for seq in range(pings):
        now += 1e-4
        node.handle_message(now, announces[seq % len(announces)][0], Ping(seq=seq))
    return middle - started, time.perf_counter() - middle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=3000, help="newcomers that announce")
    parser.add_argument("--pings", type=int, default=20000, help="pings from members")
    parser.add_argument("--rounds", type=int, default=7, help="rounds; the best is shown")
    args = parser.parse_args()
    announces = newcomers(args.members)
    results = [one_round(announces, args.pings) for _ in range(args.rounds)]
    storm = min(r[0] for r in results)
    steady = min(r[1] for r in results)
    print(f"{'message':<10} {'count':>7} {'best total ms':>14} {'us per message':>15}")
    for name, count, best in (("announce", args.members, storm), ("ping", args.pings, steady)):
        print(f"{name:<10} {count:>7,} {best * 1e3:>14.1f} {best / count * 1e6:>15.2f}")


if __name__ == "__main__":
    main()
