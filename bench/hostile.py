"""Hostile datagrams at a live networked node, plain and with a key (needs root: a lab of
network namespaces; nothing leaves the lab's bridge).

Three hosts: the target node, a peer node that joins through it, and a flooder that throws
random, truncated, bit-flipped and spliced copies of real datagrams (sealed with the mesh's
key when there is one) at both of the target's sockets: its member port and the discovery
port. Prints, per run: crashes, the target's RSS before and after, datagrams it handled per
second while flooded, its drop counters by reason, its idle CPU before the flood, and whether
target and peer still agree on their two-member view afterwards.

    sudo .venv/bin/python bench/hostile.py                      # 1,000,000 a run, 25,000/s
    sudo .venv/bin/python bench/hostile.py --datagrams 200000 --rate 0   # as fast as it can
"""

from __future__ import annotations

import argparse
import base64
import os
import random
import socket
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from netns_lab import Lab
from nodes import NodeProcess
from waiting import wait_until

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.messages import (
    Ack,
    Announce,
    Gossip,
    MemberState,
    Message,
    Nack,
    Ping,
    PingReq,
    Probe,
    Sync,
    Update,
)
from kaboodle.runtime.envelope import Envelope
from kaboodle.runtime.keyring import Keyring, read_key_file

PORT = 7475
MEMBER_PORT = 7001
_TICKS = os.sysconf("SC_CLK_TCK")


def corpus(rng: random.Random, target: Addr, peer: Addr) -> list[bytes]:
    """Real protocol datagrams naming the target, its peer and strangers."""
    names = [target, peer, Addr.parse("[fd00::66]:4000"), Addr.parse("10.9.9.9:9")]

    def update() -> Update:
        return Update(
            addr=rng.choice(names),
            state=rng.choice(list(MemberState)),
            incarnation=rng.randrange(2**40),
            identity=rng.randbytes(rng.randrange(40)),
            origin=rng.choice([None, *names]),
        )

    def updates() -> tuple[Update, ...]:
        return tuple(update() for _ in range(rng.randrange(6)))

    makers: list[Message] = []
    for _ in range(300):
        seq = rng.randrange(2**64)
        makers += [
            Ping(seq=seq, updates=updates()),
            PingReq(seq=seq, target=rng.choice(names), updates=updates()),
            Ack(
                seq=seq,
                fingerprint=rng.randrange(2**32),
                members=rng.randrange(9),
                updates=updates(),
            ),
            Nack(seq=seq, updates=updates()),
            Gossip(updates=updates()),
            Announce(member=update()),
            Probe(nonce=seq),
            Sync(exchange=seq, index=0, count=1, reply=True, fingerprint=1, members=updates()),
        ]
    return [codec.encode(m) for m in makers]


def mutate(rng: random.Random, real: list[bytes]) -> bytes:
    data = rng.choice(real)
    how = rng.randrange(5)
    if how == 0:
        return data[: rng.randrange(len(data) + 1)]
    if how == 1:
        at = rng.randrange(len(data))
        return data[:at] + bytes([data[at] ^ (1 << rng.randrange(8))]) + data[at + 1 :]
    if how == 2:
        other = rng.choice(real)
        return data[: rng.randrange(len(data) + 1)] + other[rng.randrange(len(other) + 1) :]
    if how == 3:
        return rng.randbytes(rng.randrange(1, 200))
    return data  # a replay of a real datagram, as is


def flood(target: str, count: int, key_file: Path | None, seed: int, rate: float) -> None:
    """The flooder's side (run inside the lab): ``count`` datagrams at both target ports, at
    ``rate`` per second (0: as fast as it can; the kernel then drops what the node cannot
    take)."""
    rng = random.Random(seed)
    ip = Addr.parse(f"[{target}]:{MEMBER_PORT}")
    real = corpus(rng, ip, Addr.parse(f"[{target[:-1]}2]:{MEMBER_PORT}"))
    if key_file is not None:
        envelope = Envelope(Keyring([read_key_file(key_file)]))
        real = [envelope.seal(d) for d in real]
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    destinations = [(target, MEMBER_PORT), (target, PORT)]
    sent = 0
    started = time.monotonic()
    for i in range(count):
        if rate and i % 100 == 0:
            ahead = started + i / rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)  # pacing the flood, not waiting for a condition
        try:
            sock.sendto(mutate(rng, real), destinations[i & 1])
            sent += 1
        except OSError:
            pass  # a full send buffer: the datagram is one the target never sees
    print(sent, flush=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def handled(node: NodeProcess) -> int:
    stats = node.stats
    return stats.get("received-unicast", 0) + stats.get("received-group", 0)


def run(count: int, key_file: Path | None, idle_s: float, rate: float) -> dict[str, object]:
    with Lab(3, ipv4=False, name="hostile") as lab:
        extra = ["--key-file", str(key_file)] if key_file else []
        args = ["--unicast-port", str(MEMBER_PORT), "--port", str(PORT), *extra]
        target = NodeProcess(lab, 0, "target", *args)
        peer = NodeProcess(lab, 1, "peer", *args, "--seed", target.addr)

        def agreed() -> bool:
            views = [target.view, peer.view]
            return (
                all(len(v["peers"]) == 2 for v in views)
                and len({v["fingerprint"] for v in views}) == 1
            )

        wait_until(agreed, 20.0, lambda: f"{target.describe()}\n{peer.describe()}")
        pid = target.proc.pid
        cpu0, rss0 = cpu_seconds(pid), rss_mib(pid)
        time.sleep(idle_s)  # the idle measurement window itself
        idle_cpu = 100 * (cpu_seconds(pid) - cpu0) / idle_s
        wait_until(lambda: target.stats, 5.0)
        before = handled(target)
        started = time.monotonic()
        argv = [sys.executable, __file__, "flood", "--target", lab.hosts[0].ipv6 or "",
                "--count", str(count), "--seed", "1", "--rate", str(rate), *extra]  # fmt: skip
        flooder = lab.exec(2, argv, timeout=3600.0, check=True)
        flood_s = time.monotonic() - started
        # The node reports its counters once a second: wait for a report after the flood.
        seen = len(target.lines)
        wait_until(lambda: len(target.lines) > seen + 2, 10.0)
        during = handled(target) - before
        converged = True
        try:
            wait_until(agreed, 30.0)
        except AssertionError:
            converged = False
        return {
            "key": key_file is not None,
            "sent": int(flooder.stdout.split()[-1]),
            "crashed": target.proc.poll() is not None,
            "rss_before": rss0,
            "rss_after": rss_mib(pid) if target.proc.poll() is None else float("nan"),
            "handled": during,
            "handled_per_s": during / flood_s,
            "flood_s": flood_s,
            "idle_cpu_pct": idle_cpu,
            "drops": {k: v for k, v in sorted(target.stats.items()) if k.startswith("dropped:")},
            "converged": converged,
        }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "flood":
        parser = argparse.ArgumentParser()
        parser.add_argument("flood")
        parser.add_argument("--target", required=True)
        parser.add_argument("--count", type=int, required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument("--key-file", type=Path)
        parser.add_argument("--rate", type=float, default=0.0)
        args = parser.parse_args()
        flood(args.target, args.count, args.key_file, args.seed, args.rate)
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datagrams", type=int, default=1_000_000, help="per run")
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle CPU measured")
    parser.add_argument(
        "--rate", type=float, default=25000.0, help="datagrams per second thrown (0: no limit)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        key_file = Path(tmp) / "mesh.key"
        key_file.write_text(base64.b64encode(os.urandom(32)).decode())
        results = [run(args.datagrams, k, args.idle, args.rate) for k in (None, key_file)]
    print(
        f"{'key':>4} {'sent':>10} {'handled':>10} {'handled/s':>10} {'crashed':>7} "
        f"{'RSS before':>10} {'RSS after':>9} {'idle CPU %':>10} {'converged':>9}"
    )
    for r in results:
        print(
            f"{'yes' if r['key'] else 'no':>4} {r['sent']:>10,} {r['handled']:>10,} "
            f"{r['handled_per_s']:>10,.0f} {r['crashed']!s:>7} {r['rss_before']:>9.1f}M "
            f"{r['rss_after']:>8.1f}M {r['idle_cpu_pct']:>10.2f} {r['converged']!s:>9}"
        )
    for r in results:
        print(f"drops ({'with' if r['key'] else 'without'} a key): {r['drops']}")


if __name__ == "__main__":
    main()
