"""The ``kaboodle`` command: parsing and rendering through Typer's CliRunner, and real node
processes for join, peers, fingerprint, watch, leave and signals (tests/cli_helpers.py).

Loopback has no multicast, so nodes on one host run on ``lo`` and link through ``--seed``;
probes that find a member run in a network-namespace lab (marked netns).
"""

from __future__ import annotations

import base64
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import KABOODLE, JoinProcess, fake_ask, one_line_error, run, run_json
from typer.testing import CliRunner
from waiting import free_port, wait_until

import cli.peers
import cli.probe
from cli.main import app
from kaboodle import Addr, FoundMember, Kaboodle

FINGERPRINT = re.compile(r"0x[0-9a-f]{8}")


VIEW: dict[str, Any] = {
    "self": "[fd00::2]:41234",
    "fingerprint": "0x1a2b3c4d",
    "peers": [
        {
            "addr": "[fd00::2]:41234",
            "identity": "node-2",
            "identity_b64": "bm9kZS0y",
            "state": "alive",
            "incarnation": 16,
            "latency_ms": None,
            "rtt_estimate_ms": None,
            "coordinate": None,
            "tags": {},
        },
        {
            "addr": "[fd00::3]:40001",
            "identity": None,
            "identity_b64": base64.b64encode(b"\xff\xfe").decode(),
            "state": "suspect",
            "incarnation": 17,
            "latency_ms": 0.4,
            "rtt_estimate_ms": 0.5,
            "coordinate": None,
            "tags": {"role": "db"},
        },
        {
            "addr": "[fd00::4]:40002",
            "identity": "node-4",
            "identity_b64": "bm9kZS00",
            "state": "left",
            "incarnation": 3,
            "latency_ms": 12.5,
            "rtt_estimate_ms": None,
            "coordinate": None,
            "tags": {},
        },
    ],
}


# ------------------------------------------------------------------- parsing and rendering


def test_help_lists_every_command(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    commands = ("join", "peers", "probe", "fingerprint", "rtt", "tags", "watch", "leave")
    for command in (*commands, "keys", "version"):
        assert command in result.stdout
    assert "--install-completion" in result.stdout  # Typer's shell completion


@pytest.mark.parametrize("args", [[], ["join"], ["peers"], ["keys", "list"], ["info"]])
def test_help_shows_no_value_for_a_flag(runner: CliRunner, args: list[str]) -> None:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    assert "--help" in result.stdout and "<bool>" not in result.stdout
    if args == ["join"]:
        assert "--port PORT" in result.stdout  # options that take a value still show it


def test_version(runner: CliRunner) -> None:
    import kaboodle

    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0 and result.stdout.strip() == kaboodle.__version__


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["join", "--port", "70000"], "--port"),
        (["join", "--port", "x"], "--port"),
        (["join", "--profile", "fast"], "--profile"),
        (["join", "--log-level", "loud"], "--log-level"),
        (["join", "--tag", "novalue"], "'novalue' is not KEY=VALUE"),
        (["join", "--tag", "a=1", "--tag", "a=2"], "'a' is given twice"),
        (["join", "--seed", "nope"], "seed 'nope' is not HOST:PORT"),
        (["join", "--seed", "fd00::1:7000"], "write an IPv6 address in brackets"),
        (["join", "--identity", "x" * 5000], "identity is longer than"),
        (["join", "--key", "c2VjcmV0"], "--key is refused: a key in the command line can be read"),
        (["probe", "--key", "c2VjcmV0"], "pass --key-file PATH (or set KABOODLE_KEY_FILE)"),
        (["join", "--key-file", "/nonexistent/key"], "cannot read the key file"),
        (["join", "--label", "x" * 65], "the mesh label is 65 bytes; at most 64"),
        (["join", "--wire", "rust-0.1", "--tag", "a=b"], "the rust-0.1 wire carries no tags"),
        (["join", "--wire", "rust-0.1", "--label", "m"], "the rust-0.1 wire carries no mesh"),
        (["probe", "--wire", "rust-0.1", "--label", "m"], "the rust-0.1 wire carries no mesh"),
        (["join", "--wire", "rust-0.2"], "--wire"),
        (["join", "--unicast-port", "70000"], "--unicast-port"),
        (["keys", "verify"], "say what to switch"),
        (["peers", "--state", "sleepy"], "--state"),
        (["probe", "--timeout", "0"], "--timeout"),
        (["peers", "--bogus"], "--bogus"),
        (["bogus"], "No such command 'bogus'"),
        (["tags", "--set", "novalue"], "invalid value for '--set': 'novalue' is not KEY=VALUE"),
        (["tags", "--set", "=x"], "invalid value for '--set': '=x' is not KEY=VALUE"),
        (["tags", "--set", "a=1", "--set", "a=2"], "invalid value for '--set': 'a' is given twice"),
        (["peers", "--tag", "role"], "invalid value for '--tag': 'role' is not KEY=VALUE"),
        (["peers", "--tag", "role=(web"], "invalid value for '--tag': '(web' is not a regular"),
        (["join", "--tag", "k=" + "v" * 600], "tags take 601 bytes; at most 512 are allowed"),
    ],
)
def test_a_bad_flag_or_value_is_one_line_and_exit_2(
    runner: CliRunner, args: list[str], fragment: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    line = one_line_error(result.stderr)
    assert fragment in line
    assert "--help'" in line  # points at the command's help
    assert result.stdout == ""


def test_a_bad_port_from_the_environment_is_a_usage_error(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KABOODLE_PORT", "seventy")
    result = runner.invoke(app, ["peers"])
    assert result.exit_code == 2
    assert "KABOODLE_PORT" in one_line_error(result.stderr)


@pytest.mark.parametrize("command", ["peers", "fingerprint"])
def test_no_node_on_the_port_is_exit_1_with_the_way_out(runner: CliRunner, command: str) -> None:
    result = runner.invoke(app, [command, "--port", "7475"])
    assert result.exit_code == 1
    assert one_line_error(result.stderr) == (
        "error: no kaboodle node is running on port 7475 "
        "(start one with 'kaboodle join --port 7475', or use --probe)"
    )


@pytest.mark.parametrize("command", ["leave", "watch"])
def test_no_node_for_leave_or_watch(runner: CliRunner, command: str) -> None:
    result = runner.invoke(app, [command, "-p", "7476"])
    assert result.exit_code == 1
    assert one_line_error(result.stderr) == (
        "error: no kaboodle node is running on port 7476 "
        "(start one with 'kaboodle join --port 7476')"
    )


def test_no_node_on_a_given_socket(runner: CliRunner, rundir: Path) -> None:
    result = runner.invoke(app, ["peers", "--socket", str(rundir / "x.sock")])
    assert result.exit_code == 1
    assert one_line_error(result.stderr) == (
        f"error: no kaboodle node is serving the control socket {rundir / 'x.sock'}"
    )


def test_no_matching_interface_lists_the_ones_that_exist(runner: CliRunner) -> None:
    result = runner.invoke(app, ["join", "--interface", "nosuch0"])
    assert result.exit_code == 3
    line = one_line_error(result.stderr)
    assert "no interface matches 'nosuch0'" in line
    assert "lo (127.0.0.1" in line or "lo (::1" in line


def test_peers_table_shows_every_column_and_the_fingerprint(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.peers, "ask", fake_ask(VIEW))
    result = runner.invoke(app, ["peers"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for header in ("address", "identity", "state", "latency", "incarnation", "tags"):
        assert header in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.startswith("[fd00")}
    assert rows["[fd00::2]:41234"].split()[1:4] == ["(self)", "node-2", "alive"]
    assert "base64://4=" in rows["[fd00::3]:40001"]  # not UTF-8: shown as base64
    assert "0.40 ms" in rows["[fd00::3]:40001"] and "role=db" in rows["[fd00::3]:40001"]
    assert "12.50 ms" in rows["[fd00::4]:40002"] and "left" in rows["[fd00::4]:40002"]
    assert "fingerprint 0x1a2b3c4d  2 members  (seen from [fd00::2]:41234)" in out


def test_peers_json_is_the_view_and_state_filters_it(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.peers, "ask", fake_ask(VIEW))
    result = runner.invoke(app, ["peers", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == VIEW
    result = runner.invoke(app, ["peers", "--json", "--state", "alive", "--state", "SUSPECT"])
    filtered = json.loads(result.stdout)
    assert [p["addr"] for p in filtered["peers"]] == ["[fd00::2]:41234", "[fd00::3]:40001"]
    assert filtered["fingerprint"] == VIEW["fingerprint"]


FOUND = FoundMember(
    addr=Addr.parse("[fd00::3]:40001"), identity=b"node-3", fingerprint=0x1A2B3C4D, members=4
)


def fake_discovery(monkeypatch: pytest.MonkeyPatch, found: FoundMember | None) -> list[Any]:
    calls: list[Any] = []

    async def discover(
        port: int = 7475,
        interface: str | None = None,
        timeout: float = 5.0,
        *,
        keys: Sequence[bytes] = (),
        label: str = "",
        wire: str = "kaboodle",
    ) -> FoundMember:
        calls.append((port, interface, timeout))
        assert wire == "kaboodle"  # only --wire rust-0.1 asks for the other
        if keys or label:
            calls.append({"keys": list(keys), "label": label})
        if found is None:
            raise TimeoutError
        return found

    monkeypatch.setattr(Kaboodle, "discover_mesh_member", staticmethod(discover))
    return calls


def test_peers_probe_shows_the_view_of_the_member_that_answered(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_discovery(monkeypatch, FOUND)
    result = runner.invoke(app, ["peers", "--probe", "-p", "7000", "-i", "eth9", "--json"])
    assert result.exit_code == 0, result.output
    assert calls == [(7000, "eth9", 5.0)]
    assert json.loads(result.stdout) == {
        "self": "[fd00::3]:40001",
        "fingerprint": "0x1a2b3c4d",
        "peers": [
            {
                "addr": "[fd00::3]:40001",
                "identity": "node-3",
                "identity_b64": "bm9kZS0z",
                "state": "alive",
                "incarnation": None,
                "latency_ms": None,
                "rtt_estimate_ms": None,
                "coordinate": None,
                "tags": {},
            }
        ],
        "members": 4,
        "probe": True,
    }
    table = runner.invoke(app, ["peers", "--probe"])
    assert "(self)" not in table.stdout  # the member that answered is not this host
    assert "fingerprint 0x1a2b3c4d  4 members  (the view of [fd00::3]:40001, found by probe)" in (
        table.stdout
    )


def test_probe_and_fingerprint_probe(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_discovery(monkeypatch, FOUND)
    result = runner.invoke(app, ["probe"])
    assert result.exit_code == 0
    assert result.stdout.strip() == (
        "found [fd00::3]:40001  node-3  fingerprint 0x1a2b3c4d  4 members"
    )
    assert json.loads(runner.invoke(app, ["probe", "--json"]).stdout) == {
        "addr": "[fd00::3]:40001",
        "identity": "node-3",
        "identity_b64": "bm9kZS0z",
        "fingerprint": "0x1a2b3c4d",
        "members": 4,
    }
    assert runner.invoke(app, ["fingerprint", "--probe"]).stdout.strip() == "0x1a2b3c4d"


@pytest.mark.parametrize("args", [["probe"], ["peers", "--probe"], ["fingerprint", "--probe"]])
def test_a_probe_that_finds_nobody_is_exit_1(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    fake_discovery(monkeypatch, None)
    result = runner.invoke(app, [*args, "--port", "7000", "--timeout", "1.5"])
    assert result.exit_code == 1
    assert one_line_error(result.stderr) == (
        "error: no kaboodle member answered a probe on port 7000 within 1.5 s"
    )


def test_a_real_probe_on_loopback_finds_nobody(env: dict[str, str]) -> None:
    # Loopback carries no multicast, so nothing can answer: the timeout path for real.
    done = run("probe", "--port", str(free_port()), "-i", "lo", "--timeout", "0.3", env=env)
    assert done.returncode == 1
    assert "no kaboodle member answered a probe" in one_line_error(done.stderr)


# ---------------------------------------------------------------------- real node processes


def test_join_peers_fingerprint_and_leave(env: dict[str, str], nodes: list[JoinProcess]) -> None:
    port = free_port()
    node = JoinProcess(port, env)
    nodes.append(node)
    started = node.started
    documented = {"time", "event", "protocol", "version", "pid", "port", "self", "identity",
                  "identity_b64", "interface", "encryption", "wire", "profile",
                  "control", "metrics_port"}  # fmt: skip
    assert set(started) == documented
    assert started["metrics_port"] is None  # no --metrics-port
    assert started["encryption"] == {"keys": [], "primary": None, "label": "",
                                     "verify_incoming": True, "verify_outgoing": True}  # fmt: skip
    assert started["identity"] == socket.gethostname()  # the default identity
    assert started["port"] == port and started["interface"]["name"] == "lo"
    assert started["control"] == str(Path(env["KABOODLE_RUNTIME_DIR"]) / f"{port}.sock")
    assert stat_mode(Path(started["control"])) == 0o600

    view = run_json("peers", "--port", str(port), "--json", env=env)
    assert view["self"] == node.addr
    assert [p["addr"] for p in view["peers"]] == [node.addr]  # self is one of the peers
    assert FINGERPRINT.fullmatch(view["fingerprint"])

    done = run("fingerprint", "-p", str(port), env=env)
    assert done.returncode == 0 and done.stdout.strip() == view["fingerprint"]

    table = run("peers", "-p", str(port), env=env)
    assert table.returncode == 0
    assert node.addr in table.stdout and socket.gethostname() in table.stdout

    status = run_json("info", "-p", str(port), "--json", env=env)
    assert set(status) >= documented - {"time", "event", "control", "metrics_port"}
    assert status["self"] == node.addr and status["profile"] == "local"
    assert status["members"] == {"alive": 1, "suspect": 0, "dead": 0, "left": 0}
    assert status["uptime_s"] > 0 and status["stats"]  # a lone node on lo counts its sends
    assert all(isinstance(v, int) for v in status["stats"].values())
    text = run("info", "-p", str(port), env=env)
    assert text.returncode == 0
    assert f"node {node.addr}" in text.stdout and "1 alive, 0 suspect" in text.stdout
    assert all(key in text.stdout for key in status["stats"])

    done = run("leave", "--port", str(port), env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"the node {node.addr} on port {port} left the mesh"
    assert node.wait() == 0
    assert [line["event"] for line in node.lines][-2:] == ["leaving", "stopped"]
    assert not Path(started["control"]).exists()


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_join_prints_a_banner_and_event_lines_for_people(
    env: dict[str, str], nodes: list[JoinProcess]
) -> None:
    port = free_port()
    first = JoinProcess(port, env, "--identity", "node-a")
    nodes.append(first)
    proc = subprocess.Popen(
        [*KABOODLE, "join", "-p", str(port), "-i", "lo", "--profile", "local",
         "--identity", "node-b", "--socket", str(Path(env["KABOODLE_RUNTIME_DIR"]) / "b.sock"),
         "--seed", first.addr],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_until(lambda: first.first("joined"), 10.0, first.describe)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    lines = out.splitlines()
    assert lines[0] == f"kaboodle {__import__('kaboodle').__version__}: a node on port {port}"
    assert lines[1].split() == [
        "interface",
        "lo",
        "(::1,",
        "index",
        str(socket.if_nametoindex("lo")) + ")",
    ]
    assert lines[2].split()[0] == "address" and lines[3].split() == ["port", str(port)]
    assert lines[4].split() == ["identity", "node-b"]
    assert any(line.split()[1:4] == ["joined", first.addr, "node-a"] for line in lines)
    assert lines[-2].split()[1:] == ["leaving"] and lines[-1].split()[1:] == ["stopped"]


def test_sigterm_and_sigint_leave_gracefully_and_exit_0(
    env: dict[str, str], rundir: Path, nodes: list[JoinProcess]
) -> None:
    port = free_port()
    first = JoinProcess(port, env, "--identity", "first")
    second = JoinProcess(port, env, "--identity", "second", "--socket", str(rundir / "2.sock"),
                         "--seed", first.addr)  # fmt: skip
    nodes += [first, second]
    wait_until(lambda: first.first("joined"), 10.0, first.describe)
    second.signal(signal.SIGTERM)
    assert second.wait() == 0
    # Graceful: the other node records "left" (not "failed") about it.
    left = wait_until(lambda: first.first("left"), 10.0, first.describe)
    assert left["addr"] == second.addr and left["identity"] == "second"
    view = run_json("peers", "-p", str(port), "--json", "--state", "left", env=env)
    assert [p["addr"] for p in view["peers"]] == [second.addr]
    first.signal(signal.SIGINT)
    assert first.wait() == 0
    assert first.lines[-1]["event"] == "stopped"
    assert sorted(p.name for p in rundir.iterdir()) == []  # sockets and locks removed


def test_a_fixed_unicast_port_is_the_members_address_others_can_seed(
    env: dict[str, str], nodes: list[JoinProcess]
) -> None:
    port, member_port = free_port(), free_port()
    first = JoinProcess(port, env, "--unicast-port", str(member_port))
    nodes.append(first)
    assert first.addr.endswith(f":{member_port}")
    second = JoinProcess(port, env, "--socket", str(Path(env["KABOODLE_RUNTIME_DIR"]) / "b.sock"),
                         "--seed", f"[::1]:{member_port}")  # fmt: skip
    nodes.append(second)
    wait_until(lambda: second.first("joined"), 10.0, second.describe)


def test_two_nodes_on_one_host_on_different_ports(
    env: dict[str, str], nodes: list[JoinProcess]
) -> None:
    one, two = free_port(), free_port()
    a = JoinProcess(one, env, "--identity", "on-one")
    b = JoinProcess(two, env, "--identity", "on-two")
    nodes += [a, b]
    view_a = run_json("peers", "-p", str(one), "--json", env=env)
    view_b = run_json("peers", "-p", str(two), "--json", env=env)
    assert view_a["self"] == a.addr and [p["identity"] for p in view_a["peers"]] == ["on-one"]
    assert view_b["self"] == b.addr and [p["identity"] for p in view_b["peers"]] == ["on-two"]
    assert run("leave", "-p", str(one), env=env).returncode == 0
    assert a.wait() == 0
    assert run_json("peers", "-p", str(two), "--json", env=env)["self"] == b.addr


def test_a_second_join_on_a_port_is_refused_unless_it_has_its_own_socket(
    env: dict[str, str], rundir: Path, nodes: list[JoinProcess]
) -> None:
    port = free_port()
    first = JoinProcess(port, env, "--identity", "first")
    nodes.append(first)
    done = run("join", "-p", str(port), "-i", "lo", env=env)
    assert done.returncode == 3
    assert one_line_error(done.stderr) == (
        f"error: a kaboodle node is already running on port {port} (pid {first.proc.pid}, "
        f"control socket {first.started['control']}); to run another one on this port, "
        "give it its own with --socket PATH"
    )
    # Asked for explicitly: its own socket. KABOODLE_SEEDS links it to the first.
    second_env = {**env, "KABOODLE_SEEDS": f"[::1]:1, {first.addr}"}
    second = JoinProcess(port, second_env, "--identity", "second",
                         "--socket", str(rundir / "2.sock"))  # fmt: skip
    nodes.append(second)

    def agreed() -> tuple[Any, Any] | None:
        one = run_json("peers", "-p", str(port), "--json", env=env)
        two = run_json("peers", "--socket", str(rundir / "2.sock"), "--json", env=env)
        return (
            (one, two)
            if len(one["peers"]) == 2 and one["fingerprint"] == two["fingerprint"]
            else None
        )

    views = wait_until(agreed, 15.0)
    assert {p["identity"] for p in views[0]["peers"]} == {"first", "second"}
    assert views[1]["self"] == second.addr
    assert first.first("joined") is not None


def test_a_stale_socket_is_detected_and_replaced(
    env: dict[str, str], nodes: list[JoinProcess]
) -> None:
    port = free_port()
    crashed = JoinProcess(port, env)
    nodes.append(crashed)
    crashed.proc.kill()  # SIGKILL: no chance to clean up
    crashed.wait()
    sock = Path(crashed.started["control"])
    assert sock.exists()
    done = run("peers", "-p", str(port), env=env)
    assert done.returncode == 1
    assert "no kaboodle node is running on port" in one_line_error(done.stderr)
    again = JoinProcess(port, env)
    nodes.append(again)
    assert any("replacing the stale control socket" in line for line in again.stderr)
    assert run_json("peers", "-p", str(port), "--json", env=env)["self"] == again.addr


def test_environment_variables_configure_join_and_the_commands(
    env: dict[str, str], nodes: list[JoinProcess]
) -> None:
    port = free_port()
    node_env = {**env, "KABOODLE_PORT": str(port), "KABOODLE_INTERFACE": "lo",
                "KABOODLE_IDENTITY": "from-env"}  # fmt: skip
    proc = subprocess.Popen(
        [*KABOODLE, "join", "--json-logs", "--profile", "local"],
        env=node_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["event"] == "started"
        assert (started["port"], started["identity"]) == (port, "from-env")
        assert started["interface"]["name"] == "lo"
        view = run_json("peers", "--json", env={**env, "KABOODLE_PORT": str(port)})
        assert view["self"] == started["self"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_watch_prints_plain_lines_when_not_a_terminal(
    env: dict[str, str], rundir: Path, nodes: list[JoinProcess]
) -> None:
    port = free_port()
    node = JoinProcess(port, env, "--identity", "watched")
    nodes.append(node)
    watcher = subprocess.Popen(
        [*KABOODLE, "watch", "-p", str(port)], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert watcher.stdout is not None
        first = watcher.stdout.readline()
        assert first.startswith(f"watching port {port}: fingerprint 0x")
        assert f"1 member  (seen from {node.addr})" in first
        other = JoinProcess(port, env, "--identity", "newcomer", "--socket",
                            str(rundir / "2.sock"), "--seed", node.addr)  # fmt: skip
        nodes.append(other)
        joined = watcher.stdout.readline().split()
        assert joined[1:] == ["joined", other.addr, "newcomer"]
        assert run("leave", "-p", str(port), env=env).returncode == 0
        rest = watcher.communicate(timeout=20)[0].splitlines()
        assert rest[-1].split()[1:] == ["stopped"]
        assert watcher.returncode == 0
    finally:
        watcher.kill()


def test_watch_of_a_node_that_dies_says_so_and_exits_1(
    env: dict[str, str], nodes: list[JoinProcess]
) -> None:
    port = free_port()
    node = JoinProcess(port, env)
    nodes.append(node)
    watcher = subprocess.Popen(
        [*KABOODLE, "watch", "-p", str(port), "--json"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert watcher.stdout is not None
        assert json.loads(watcher.stdout.readline())["type"] == "view"
        node.proc.kill()
        _, err = watcher.communicate(timeout=20)
        assert watcher.returncode == 1
        assert "went away without leaving" in one_line_error(err)
    finally:
        watcher.kill()


# Root without the capabilities that let it ignore file permissions: as good as another user
# for these tests, and unlike another user it can still run this checkout's interpreter.
WITHOUT_DAC = ("setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="needs root and setpriv to make a socket another user's",
)
def test_permission_denied_on_the_socket_says_so_and_where(
    env: dict[str, str], rundir: Path, nodes: list[JoinProcess]
) -> None:
    port = free_port()
    node = JoinProcess(port, env)
    nodes.append(node)
    control = node.started["control"]
    nobody = pwd.getpwnam("nobody")
    os.chown(control, nobody.pw_uid, nobody.pw_gid)  # as if nobody had started it
    done = run("peers", "-p", str(port), env=env, prefix=WITHOUT_DAC)
    assert done.returncode == 3, done.stderr
    assert one_line_error(done.stderr) == (
        f"error: permission denied on the control socket {control} "
        "(belongs to nobody, mode 600); run this command as the user who started the node"
    )
    os.chown(rundir, nobody.pw_uid, nobody.pw_gid)  # now not even the directory is ours
    done = run("fingerprint", "-p", str(port), env=env, prefix=WITHOUT_DAC)
    assert done.returncode == 3
    assert one_line_error(done.stderr) == (
        f"error: permission denied looking for the control socket {control} (its directory "
        "belongs to nobody, mode 700); run this command as that user"
    )


# ------------------------------------------------------------------ between hosts (netns)


@pytest.mark.netns
def test_probe_and_peers_probe_find_a_member_without_joining() -> None:
    from netns_lab import Lab, require_lab

    require_lab()
    # The hosts share this filesystem (and its Unix sockets): each gets a runtime dir of its own.
    dirs = [Path(tempfile.mkdtemp(prefix=f"kbn{host}-")) for host in range(3)]
    try:
        with Lab(3) as lab:

            def kaboodle(host: int, *args: str) -> list[str]:
                return ["env", f"KABOODLE_RUNTIME_DIR={dirs[host]}", *KABOODLE, *args]

            procs = [
                lab.run(host, kaboodle(host, "join", "--json-logs", "--profile", "local",
                                       "--identity", f"host-{host}"),
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for host in (0, 1)
            ]  # fmt: skip
            seen: list[list[str]] = [[], []]

            def read(proc: subprocess.Popen[str], events: list[str]) -> None:
                assert proc.stdout is not None
                events.extend(json.loads(line)["event"] for line in proc.stdout)

            for proc, events in zip(procs, seen, strict=True):
                threading.Thread(target=read, args=(proc, events), daemon=True).start()
            # Multicast works in a fresh lab only after a moment (sends fail with EINVAL at
            # first): once the two nodes have found each other, a probe can find them too.
            wait_until(lambda: all("joined" in lines for lines in seen), 30.0, lambda: str(seen))

            def probed() -> Any:
                done = lab.exec(2, kaboodle(2, "peers", "--probe", "--json"), timeout=30)
                if done.returncode == 1:  # nobody answered in time: probe again
                    return None
                assert done.returncode == 0, done.stderr
                view = json.loads(done.stdout)
                return view if view["members"] == 2 else None

            view = wait_until(probed, 30.0)
            assert view["probe"] is True and view["peers"][0]["addr"] == view["self"]
            assert view["peers"][0]["identity"] in {"host-0", "host-1"}
            done = lab.exec(2, kaboodle(2, "probe", "--json", "--timeout", "15"), timeout=30)
            assert done.returncode == 0, done.stderr
            found = json.loads(done.stdout)
            assert found["members"] == 2 and FINGERPRINT.fullmatch(found["fingerprint"])
            # The prober joined nothing: host 2 runs no node, and the mesh is still two.
            done = lab.exec(2, kaboodle(2, "peers"), timeout=30)
            assert done.returncode == 1
            fingerprint = lab.exec(0, kaboodle(0, "fingerprint", "--json"), timeout=30)
            assert json.loads(fingerprint.stdout) == {
                "fingerprint": found["fingerprint"],
                "members": 2,
            }
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=20) == 0  # (its output is being read by a thread)
    finally:
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)


def test_python_dash_m_cli_is_the_same_command(env: dict[str, str]) -> None:
    done = run("version", env=env)
    assert done.returncode == 0 and done.stdout.strip()
    assert sys.executable in KABOODLE


# ---------------------------------------------------------------------------------- keys


def key_file(directory: Path, name: str, key: bytes) -> Path:
    path = directory / name
    path.write_text(base64.b64encode(key).decode() + "\n")
    path.chmod(0o600)
    return path


def test_keys_install_use_remove_and_list_over_the_control_socket(
    env: dict[str, str], nodes: list[JoinProcess], rundir: Path
) -> None:
    from kaboodle.runtime.keyring import key_id

    k1, k2 = b"1" * 32, b"2" * 16
    f1, f2 = key_file(rundir, "k1", k1), key_file(rundir, "k2", k2)
    port = free_port()
    node = JoinProcess(port, env, "--key-file", str(f1), "--label", "blue")
    nodes.append(node)
    assert node.started["encryption"]["keys"] == [key_id(k1)]
    assert node.started["encryption"]["label"] == "blue"
    listed = run_json("keys", "list", "--json", "-p", str(port), env=env)
    assert listed == {"keys": [key_id(k1)], "primary": key_id(k1), "label": "blue",
                      "verify_incoming": True, "verify_outgoing": True}  # fmt: skip
    for args, ids in (
        (("install", f2), [key_id(k1), key_id(k2)]),
        (("use", f2), [key_id(k2), key_id(k1)]),
        (("remove", f1), [key_id(k2)]),
    ):
        done = run("keys", args[0], "--key-file", str(args[1]), "-p", str(port), env=env)
        assert done.returncode == 0, done.stderr
        assert run_json("keys", "list", "--json", "-p", str(port), env=env)["keys"] == ids
    assert base64.b64encode(k2).decode() not in done.stdout  # ids only, never the key
    refused = run("keys", "remove", "--key-file", str(f2), "-p", str(port), env=env)
    assert refused.returncode == 1
    assert "is the primary key" in one_line_error(refused.stderr)
    switched = run("keys", "verify", "--no-incoming", "-p", str(port), env=env)
    assert switched.returncode == 0, switched.stderr
    assert switched.stdout.strip() == "incoming plain accepted, outgoing encrypted"
    assert run_json("keys", "list", "--json", "-p", str(port), env=env)["verify_incoming"] is False
    text = run("keys", "list", "-p", str(port), env=env).stdout
    assert f"keys      {key_id(k2)} (primary)" in text


def test_nodes_with_one_key_file_mesh_and_a_node_without_it_stays_out(
    env: dict[str, str], nodes: list[JoinProcess], rundir: Path
) -> None:
    secret = key_file(rundir, "mesh.key", b"m" * 32)
    port = free_port()
    first = JoinProcess(port, env, "--key-file", str(secret), "--identity", "a")
    nodes.append(first)
    second = JoinProcess(port, {**env, "KABOODLE_KEY_FILE": str(secret)}, "--identity", "b",
                         "--socket", str(rundir / "b.sock"), "--seed", first.addr)  # fmt: skip
    nodes.append(second)
    wait_until(lambda: first.first("joined"), 10.0, first.describe)
    outsider = JoinProcess(port, env, "--identity", "c", "--socket", str(rundir / "c.sock"),
                           "--seed", first.addr)  # fmt: skip
    nodes.append(outsider)

    def refused() -> int:
        view = run_json("peers", "--json", "-p", str(port), env=env)
        assert {p["identity"] for p in view["peers"]} == {"a", "b"}
        # Said once on the node's log (stderr, JSON lines), not once per datagram.
        return sum("refused a datagram" in line for line in list(first.stderr))

    wait_until(refused, 10.0, first.describe)
    assert [e["identity"] for e in outsider.events("joined")] == []


@pytest.mark.netns
def test_multicast_refused_by_the_host_is_said_once_with_what_to_check() -> None:
    from netns_lab import Lab, require_lab

    require_lab()
    directory = Path(tempfile.mkdtemp(prefix="kbfw-"))
    try:
        with Lab(1) as lab:
            # A host firewall that refuses the group: sendto fails with EPERM.
            lab.exec(0, ["ip6tables", "-A", "OUTPUT", "-d", "ff02::1213:1989", "-j", "REJECT"],
                     check=True)  # fmt: skip
            argv = ["env", f"KABOODLE_RUNTIME_DIR={directory}", *KABOODLE, "join", "--profile",
                    "local", "--interface", "eth0"]  # fmt: skip
            proc = lab.run(0, argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            assert proc.stderr is not None
            line = wait_until(proc.stderr.readline, 30.0)  # the first line on stderr
            proc.send_signal(signal.SIGTERM)
            rest = proc.communicate(timeout=20)[1]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    assert re.fullmatch(
        r"\d\d:\d\d:\d\d  warning {6}multicast to ff02::1213:1989 port 7475 on eth0 is refused "
        r"by this host \(Operation not permitted\): discovery falls back to seeds; check the "
        r"firewall, or give --seed HOST:PORT \(further ones are counted as "
        r"group-send-error:EPERM\)\n",
        line,
    ), line
    assert "multicast" not in rest  # said once, however many announces fail
