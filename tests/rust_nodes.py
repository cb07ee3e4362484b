"""The kaboodle crate 0.1.5's own demo binary as a node in a netns lab, read like
:class:`nodes.NodeProcess`, for the rust-0.1 interop tests and bench/mixed_mesh.py."""

from __future__ import annotations

import os
import re
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from netns_lab import Lab
from waiting import wait_until

from kaboodle.protocol.addr import Addr

__all__ = ["RustProcess", "rust_binary"]

# The binary prints an xterm title escape after its identity; strip any such sequence.
_ESCAPES = re.compile(r"\x1b\][^\x07]*\x07|\x1b\[[0-9;]*[A-Za-z]")
_ADDRESS = re.compile(r"^Address: (\S+)$")
_FINGERPRINT = re.compile(r"^Mesh fingerprint is now ([0-9a-f]{8}) with (\d+) peers")
_PEER = re.compile(r"^\s*\+ (\S+) \((.*?)\)")


def rust_binary() -> Path:
    """The crate's binary (scripts/rust-crate.sh builds it); fails on CI, skips elsewhere,
    when it is not there."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    path = Path(os.environ.get("KABOODLE_RUST_BIN", default / "kaboodle/rust-0.1.5/bin/kaboodle"))
    if path.is_file() and os.access(path, os.X_OK):
        return path
    reason = (
        f"the kaboodle crate 0.1.5 is not built at {path}: run scripts/rust-crate.sh "
        "(it needs cargo and crates.io)"
    )
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def _settled(lab: Lab, host: int) -> bool:
    shown = lab.exec(host, ["ip", "-6", "addr", "show", "dev", "eth0", "tentative"])
    return shown.returncode == 0 and not shown.stdout.strip()


class RustProcess:
    """The crate's demo binary in one lab host; its lines are read as they come."""

    def __init__(self, lab: Lab, host: int, identity: str, *args: str, wait: bool = True) -> None:
        self.host = host
        self.identity = identity
        self.lines: list[dict[str, Any]] = []
        self._view: dict[str, Any] = {"fingerprint": None, "peers": {}}
        self._addr: str | None = None
        # A fingerprint line is followed by its N peers, a line each: the view is published
        # once all N have come.
        self._pending: tuple[int, int, dict[str, str]] | None = None
        # The crate binds its first IPv6 address as it finds it: wait out duplicate address
        # detection, or it binds a tentative address (and fails) or falls back to IPv4.
        wait_until(lambda: _settled(lab, host), 15.0, lambda: f"host {host}'s IPv6 address")
        argv = [str(rust_binary()), "--identity", identity, *args]
        self.started_at = time.monotonic()
        self.ready_at: float | None = None  # when it printed its address
        self.proc: subprocess.Popen[str] = lab.run(
            host, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.addr = ""
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until the node has printed its address (as :class:`nodes.NodeProcess`)."""
        self.addr = wait_until(lambda: self._addr, 15.0, self.describe)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = _ESCAPES.sub("", raw).rstrip()
            self.lines.append({"log": line})
            if (match := _ADDRESS.match(line)) is not None:
                self._addr = str(Addr.parse(match.group(1)))
                self.ready_at = time.monotonic()
            elif (match := _FINGERPRINT.match(line)) is not None:
                self._pending = (int(match.group(1), 16), int(match.group(2)), {})
            elif self._pending is not None and (match := _PEER.match(line)) is not None:
                fingerprint, count, peers = self._pending
                peers[str(Addr.parse(match.group(1)))] = match.group(2)
                if len(peers) == count:
                    self._view = {"fingerprint": fingerprint, "peers": peers}
                    self._pending = None

    @property
    def view(self) -> dict[str, Any]:
        """The latest view it printed: {"fingerprint": int, "peers": {addr: identity}}."""
        return self._view

    @property
    def stats(self) -> dict[str, int]:
        """The crate keeps no counters."""
        return {}

    def describe(self) -> str:
        return f"rust node {self.identity} on host {self.host}: {self.lines[-5:]}"
