"""A Kaboodle node as a process, for multi-host tests and benchmarks.

Prints one JSON object per line on stdout: ``{"ready": ...}`` once started, then every event,
and the whole view (fingerprint and peers) after each fingerprint change. SIGTERM and SIGINT
leave gracefully.

    python tests/node_process.py --port 7475 --identity h1 [--seed HOST:PORT ...]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from pathlib import Path
from typing import Any

from kaboodle import PROFILES, FingerprintChanged, Kaboodle
from kaboodle.runtime.keyring import read_key_file


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


class _JsonLines(logging.Handler):
    """Log records as JSON lines on stdout, next to the events, so tests can show them."""

    def emit(self, record: logging.LogRecord) -> None:
        emit({"log": record.getMessage(), "level": record.levelname})


def view(kb: Kaboodle) -> dict[str, Any]:
    return {
        "fingerprint": kb.fingerprint(),
        "peers": {str(addr): identity.decode() for addr, identity in kb.peers().items()},
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=7475)
    parser.add_argument("--interface")
    parser.add_argument("--identity", default="")
    parser.add_argument("--seed", action="append", default=[])
    parser.add_argument("--unicast-port", type=int, default=0)
    parser.add_argument("--profile", default="local", choices=sorted(PROFILES))
    parser.add_argument("--key-file", type=Path, help="encrypt with the base64 key in this file")
    parser.add_argument("--wire", default="kaboodle", help="kaboodle or rust-0.1")
    parser.add_argument(
        "--stats-every",
        type=float,
        default=1.0,
        help="seconds between stats lines; 0 for one at the end only (benchmarks of an idle "
        "node measure the node, not this report)",
    )
    args = parser.parse_args()
    config = PROFILES[args.profile]()
    if args.wire != "kaboodle":
        config = config.with_changes(proximity=False)  # the crate carries no coordinates
    logging.basicConfig(level=logging.WARNING, handlers=[_JsonLines()])
    kb = Kaboodle(
        port=args.port,
        interface=args.interface,
        identity=args.identity,
        seeds=args.seed,
        config=config,
        unicast_port=args.unicast_port,
        keys=[read_key_file(args.key_file)] if args.key_file else [],
        wire=args.wire,
    )
    events = kb.events()
    await kb.start()
    emit({"ready": str(kb.self_addr), "identity": args.identity, **view(kb)})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def report() -> None:
        async for event in events:
            addr = getattr(event, "addr", None)
            emit({"event": type(event).__name__, "addr": str(addr) if addr else None})
            if isinstance(event, FingerprintChanged):
                emit(view(kb))

    async def report_stats() -> None:
        while args.stats_every > 0:
            await asyncio.sleep(args.stats_every)
            emit({"stats": dict(kb.stats)})

    reporter = asyncio.create_task(report())
    stats = asyncio.create_task(report_stats())
    await stop.wait()
    stats.cancel()
    emit({"stats": dict(kb.stats)})
    await kb.stop()
    await reporter
    emit({"stopped": True})


if __name__ == "__main__":
    asyncio.run(main())
