"""Running the ``kaboodle`` command as real processes, and waiting on what they print."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from waiting import wait_until

KABOODLE = [sys.executable, "-m", "cli"]
"""The command, run from this checkout with this interpreter (no installed script needed)."""

ROOT = Path(__file__).resolve().parent.parent


def cli_env(runtime_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for a command: its own runtime directory, never the machine's, and no
    KABOODLE_* settings leaking in from the caller's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KABOODLE_")}
    env["KABOODLE_RUNTIME_DIR"] = str(runtime_dir)
    env["PYTHONPATH"] = str(ROOT)
    env["COLUMNS"] = "200"  # rich tables stay on one line per member
    env.update(extra)
    return env


def run(
    *args: str,
    env: Mapping[str, str],
    timeout: float = 30.0,
    prefix: tuple[str, ...] = (),
    **kwargs: Any,
) -> subprocess.CompletedProcess[str]:
    """Run ``kaboodle ARGS`` to completion and capture its output; ``prefix`` goes before the
    interpreter (e.g. setpriv)."""
    return subprocess.run(
        [*prefix, *KABOODLE, *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        check=False,
        **kwargs,
    )


def one_line_error(stderr: str) -> str:
    """The error a command printed, checked to be the one documented line."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def fake_ask(view: dict[str, Any]) -> Any:
    """A stand-in for ``cli.peers.ask`` that answers "peers" with (a copy of) ``view``."""

    def ask(port: int, socket: Path | None, cmd: str, **kwargs: Any) -> dict[str, Any]:
        assert cmd == "peers"
        return json.loads(json.dumps(view))

    return ask


def run_json(*args: str, env: Mapping[str, str]) -> Any:
    """Run ``kaboodle ARGS`` that must succeed and print one JSON document; return it."""
    done = run(*args, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class JoinProcess:
    """``kaboodle join --json-logs ...`` in the background; its lines are collected as they come.

    Args:
        port: the discovery port.
        env: the environment (see :func:`cli_env`).
        args: more ``join`` arguments (default: loopback and the fast profile).
        wait: wait for its "started" line.
    """

    def __init__(
        self,
        port: int,
        env: Mapping[str, str],
        *args: str,
        wait: bool = True,
    ) -> None:
        self.port = port
        argv = [*KABOODLE, "join", "--port", str(port), "--json-logs", *args]
        if "--interface" not in args and not any(a.startswith("--interface=") for a in args):
            argv += ["--interface", "lo"]
        if "--profile" not in args:
            argv += ["--profile", "local"]
        self.proc = subprocess.Popen(
            argv,
            env=dict(env),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[dict[str, Any]] = []
        self.stderr: list[str] = []
        self._threads = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.started: dict[str, Any] = {}
        if wait:
            self.started = wait_until(lambda: self.first("started"), 20.0, self.describe)

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line.rstrip("\n"))

    def first(self, event: str) -> dict[str, Any] | None:
        """The first line of this event kind, if any yet."""
        return next((line for line in list(self.lines) if line.get("event") == event), None)

    def events(self, event: str) -> list[dict[str, Any]]:
        """Every line of this event kind so far."""
        return [line for line in list(self.lines) if line.get("event") == event]

    @property
    def addr(self) -> str:
        """The node's member address, from its "started" line."""
        return str(self.started["self"])

    def signal(self, sig: signal.Signals) -> None:
        """Send ``sig`` to the node."""
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 20.0) -> int:
        """Wait for the process to exit and for its output to be read; its exit code."""
        code = self.proc.wait(timeout)
        for thread in self._threads:
            thread.join(timeout)
        return code

    def stop(self) -> None:
        """End it, however it is (for cleanup)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def describe(self) -> str:
        """What it printed so far, for failure messages."""
        return f"stdout {self.lines[-8:]} stderr {self.stderr[-8:]} exit {self.proc.poll()}"
