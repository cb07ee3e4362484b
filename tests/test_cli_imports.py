"""The client commands load only what they need: a healthcheck runs ``kaboodle fingerprint``
every 10 s on every node, and must not pay for the runtime (bench/cli_start.py times it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import ROOT, cli_env
from waiting import free_port

# What only a running node, a probe or a table needs.
HEAVY = ("asyncio", "kaboodle.runtime.api", "cryptography", "ifaddr", "msgpack", "pydantic")


# Runs the command as ``python -m cli`` does, and writes the modules loaded when it exits.
_REPORTING = """
import atexit, json, runpy, sys
atexit.register(lambda: print("MODULES", json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["kaboodle", *sys.argv[1:]]
runpy.run_module("cli", run_name="__main__", alter_sys=True)
"""


def imported_by(args: list[str], env: dict[str, str]) -> set[str]:
    """The modules a ``kaboodle`` command has loaded when it exits."""
    done = subprocess.run(
        [sys.executable, "-c", _REPORTING, *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    reports = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    assert len(reports) == 1, done.stderr
    return set(json.loads(reports[0].removeprefix("MODULES ")))


@pytest.mark.parametrize(
    "args",
    [
        ["fingerprint"],
        ["peers", "--json"],
        ["info", "--json"],
        ["tags"],
        ["leave"],
        ["keys", "list"],
        ["rtt", "a"],
        ["--help"],
        ["join", "--help"],
        ["demo", "--help"],
    ],
)
def test_a_client_command_loads_no_runtime(args: list[str], tmp_path: Path) -> None:
    # No node runs on this port: the command fails after looking, having imported all it would.
    env = cli_env(tmp_path, KABOODLE_PORT=str(free_port()))
    modules = imported_by(args, env)
    # The healthcheck's command is answered before Typer is even loaded (cli/entry.py).
    assert ("typer" in modules) == (args != ["fingerprint"])
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY)
    assert heavy == [], f"kaboodle {' '.join(args)} imported {heavy}"
    if args[-1] == "--help" or args[0] in ("fingerprint", "leave", "tags"):
        assert not any(m.startswith("rich") for m in modules), "plain output needs no rich"


def test_the_node_still_loads_its_runtime(tmp_path: Path) -> None:
    # The converse, so that the test above cannot pass by looking at the wrong output: a probe
    # (which sends) imports the runtime; nobody answers on loopback within the short timeout.
    env = cli_env(tmp_path)
    modules = imported_by(["probe", "--interface", "lo", "--timeout", "0.1"], env)
    assert {"asyncio", "kaboodle.runtime.api"} <= modules
