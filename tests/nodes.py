"""Node processes inside a netns lab, and waiting on what they report."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from netns_lab import Lab
from waiting import wait_until

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.fingerprint import fingerprint

NODE_SCRIPT = str(Path(__file__).with_name("node_process.py"))


class NodeProcess:
    """One ``node_process.py`` in one lab host; its JSON lines are collected as they come.

    Without ``wait`` it returns at once, and :meth:`wait_ready` waits for the node's start:
    how several are started together. ``started_at`` is the monotonic time of its exec, and
    ``ready_at`` that of its line saying it started (None until then).
    """

    def __init__(self, lab: Lab, host: int, identity: str, *args: str, wait: bool = True) -> None:
        self.host = host
        self.identity = identity
        self.lines: list[dict[str, Any]] = []
        argv = [sys.executable, NODE_SCRIPT, "--identity", identity, *args]
        self.started_at = time.monotonic()
        self.ready_at: float | None = None
        self.proc: subprocess.Popen[str] = lab.run(
            host, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.addr = ""
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until the node has started, and learn its address."""
        self.addr = wait_until(lambda: self._first("ready"), 15.0, self.describe)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            fields = json.loads(line)
            if "ready" in fields and self.ready_at is None:
                self.ready_at = time.monotonic()
            self.lines.append(fields)

    def _first(self, key: str) -> Any:
        return next((line[key] for line in list(self.lines) if key in line), None)

    @property
    def view(self) -> dict[str, Any]:
        """The latest view this node reported: {"fingerprint": int, "peers": {addr: id}}."""
        views = [line for line in list(self.lines) if "peers" in line]
        return views[-1] if views else {"fingerprint": None, "peers": {}}

    @property
    def stats(self) -> dict[str, int]:
        """The node's counters as it last reported them (once a second)."""
        reports = [line["stats"] for line in list(self.lines) if "stats" in line]
        return reports[-1] if reports else {}

    def events(self, kind: str) -> list[str]:
        """Addresses of the events of ``kind`` reported so far."""
        return [line["addr"] for line in list(self.lines) if line.get("event") == kind]

    def describe(self) -> str:
        return f"node {self.identity} on host {self.host}: {self.lines[-5:]}"


def expected_fingerprint(nodes: list[NodeProcess]) -> int:
    """The fingerprint of exactly these nodes, computed from their addresses and identities."""
    return fingerprint((Addr.parse(n.addr), n.identity.encode()) for n in nodes)


def converged(nodes: list[NodeProcess]) -> bool:
    """Every node reports the fingerprint of exactly this set of nodes."""
    want = expected_fingerprint(nodes)
    return all(n.view["fingerprint"] == want for n in nodes)


def describe_all(nodes: list[NodeProcess]) -> str:
    """Every node's view; for a node whose view differs from the others', its counters too."""
    want = expected_fingerprint(nodes)
    lines = []
    for n in nodes:
        view = n.view
        lines.append(f"{n.identity} {n.addr}: {len(view['peers'])} peers, {view}")
        if view["fingerprint"] != want:
            lines.append(f"  stats of {n.identity}: {n.stats}")
            lines += [f"  log of {n.identity}: {line['log']}" for line in n.lines if "log" in line]
    return "\n".join(lines)
