"""Estimated round trips at the edges: the API over loopback, ``kaboodle rtt`` and
``peers --sort rtt`` on a hand-made view, and every node's view between network namespaces."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import KABOODLE, fake_ask, one_line_error
from test_encryption import meshed, started, stop
from typer.testing import CliRunner
from waiting import free_port, wait_for, wait_until

from cli import peers as peers_module
from cli import rtt as rtt_module
from cli.main import app
from kaboodle import Config, Coordinate
from kaboodle.runtime.control.views import coordinate_json

# ------------------------------------------------------------------------------------ the API


async def test_coordinates_estimates_and_nearest_over_loopback() -> None:
    nodes = await started(3, free_port())
    try:
        await meshed(nodes)
        first, others = nodes[0], nodes[1:]
        await wait_for(
            lambda: all(first.estimated_rtt(o.self_addr) is not None for o in others), 10.0
        )
        coordinate = first.coordinate()
        assert coordinate is not None and len(coordinate.vec) == 8
        for other in others:
            estimate = first.estimated_rtt(str(other.self_addr))
            assert estimate is not None and 0 < estimate < 0.050
            info = first.peer_states()[other.self_addr]
            assert info.rtt_estimate == estimate and info.coordinate is not None
        nearest = first.nearest(5)
        assert sorted(addr for addr, _ in nearest) == sorted(o.self_addr for o in others)
        assert [rtt for _, rtt in nearest] == sorted(rtt for _, rtt in nearest)
        assert first.nearest(1) == nearest[:1]
        assert first.peer_states()[first.self_addr].rtt_estimate is None
    finally:
        await stop(nodes)


async def test_with_proximity_off_there_is_no_coordinate_and_no_estimate() -> None:
    nodes = await started(2, free_port(), config=Config.local(proximity=False))
    try:
        await meshed(nodes)
        assert nodes[0].coordinate() is None
        assert nodes[0].estimated_rtt(nodes[1].self_addr) is None
        assert nodes[0].nearest(3) == []
        with pytest.raises(ValueError):
            nodes[0].estimated_rtt("not an address")
    finally:
        await stop(nodes)


# ------------------------------------------------------------------------------ the CLI, offline


def _at(x: float, y: float = 0.0, height: float = 0.0005) -> Any:
    vec = (x, y) + (0.0,) * 6
    return coordinate_json(Coordinate(vec=vec, height=height, error=0.2))


def _peer(addr: str, identity: str, coordinate: Any, rtt: float | None, **more: Any) -> Any:
    return {
        "addr": addr,
        "identity": identity,
        "identity_b64": "",
        "state": more.get("state", "alive"),
        "incarnation": 1,
        "latency_ms": None,
        "rtt_estimate_ms": rtt,
        "coordinate": coordinate,
        "tags": {},
    }


VIEW = {
    "self": "[fd00::1]:7000",
    "fingerprint": "0x00000001",
    "peers": [
        _peer("[fd00::1]:7000", "me", _at(0.0), None),
        _peer("[fd00::2]:7000", "far", _at(0.010), 11.0),
        _peer("[fd00::3]:7000", "near", _at(0.0, 0.002), 3.0),
        _peer("[fd00::4]:7000", "new", None, None),
        _peer("[fd00::5]:7000", "twin", _at(0.004), 5.0),
        _peer("[fd00::6]:7000", "twin", _at(0.005), 6.0),
        _peer("[fd00::7]:7000", "near", _at(0.0, 0.003), None, state="dead"),
    ],
}


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setattr(rtt_module, "ask", fake_ask(VIEW))
    monkeypatch.setattr(peers_module, "ask", fake_ask(VIEW))
    return CliRunner()


def test_rtt_from_this_node_by_identity_and_between_two_members(offline: CliRunner) -> None:
    done = offline.invoke(app, ["rtt", "far", "--json"])
    assert done.exit_code == 0, done.output
    # 10 ms apart, plus both heights of 0.5 ms.
    assert json.loads(done.stdout) == {
        "a": "[fd00::2]:7000",
        "b": "[fd00::1]:7000",
        "rtt_estimate_ms": 11.0,
        "from": "[fd00::1]:7000",
    }
    done = offline.invoke(app, ["rtt", "[fd00::2]:7000", "near", "--json"])
    assert json.loads(done.stdout)["rtt_estimate_ms"] == pytest.approx(
        (0.010**2 + 0.002**2) ** 0.5 * 1000 + 1.0, abs=0.001
    )
    line = offline.invoke(app, ["rtt", "near"]).stdout
    assert line == (
        "estimated near ([fd00::3]:7000) <-> me ([fd00::1]:7000) rtt: 3.00 ms "
        "(coordinates as [fd00::1]:7000 knows them)\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "no member of [fd00::1]:7000's view has the address or identity 'nobody'"),
        (["twin"], "the identity 'twin' names 2 members ([fd00::5]:7000, [fd00::6]:7000)"),
        (["new"], "no coordinate for new ([fd00::4]:7000) yet"),
        (["far", "[fd00::9]:7000"], "no member of [fd00::1]:7000's view has the address"),
    ],
)
def test_rtt_says_in_one_line_what_it_cannot_estimate(
    offline: CliRunner, args: list[str], message: str
) -> None:
    done = offline.invoke(app, ["rtt", *args])
    assert done.exit_code == 1
    assert message in one_line_error(done.stderr)


def test_rtt_on_a_node_with_proximity_off_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    view = json.loads(json.dumps(VIEW))
    for peer in view["peers"]:
        peer["coordinate"] = None
    monkeypatch.setattr(rtt_module, "ask", fake_ask(view))
    done = CliRunner().invoke(app, ["rtt", "far"])
    assert done.exit_code == 1
    assert "proximity is off" in one_line_error(done.stderr)


def test_peers_sort_rtt_puts_this_node_first_then_the_nearest(offline: CliRunner) -> None:
    done = offline.invoke(app, ["peers", "--sort", "rtt", "--json"])
    order = [p["identity"] for p in json.loads(done.stdout)["peers"]]
    assert order == ["me", "near", "twin", "twin", "far", "new", "near"]
    table = offline.invoke(app, ["peers", "--sort", "rtt"]).stdout
    assert "rtt est" in table and table.index("3.00 ms") < table.index("11.00 ms")
    bad = offline.invoke(app, ["peers", "--sort", "latency"])
    assert bad.exit_code == 2


# ------------------------------------------------------------------ between hosts (netns)


@pytest.mark.netns
def test_every_node_shows_coordinates_estimates_and_tags_and_rtt_answers_by_identity() -> None:
    from netns_lab import Lab, require_lab

    require_lab()
    hosts = 3
    dirs = [Path(tempfile.mkdtemp(prefix=f"kbr{host}-")) for host in range(hosts)]
    try:
        with Lab(hosts) as lab:

            def kaboodle(host: int, *args: str) -> list[str]:
                return ["env", f"KABOODLE_RUNTIME_DIR={dirs[host]}", *KABOODLE, *args]

            def ask(host: int, *args: str) -> Any:
                done = lab.exec(host, kaboodle(host, *args), timeout=30)
                assert done.returncode == 0, done.stderr
                return json.loads(done.stdout)

            procs = [
                lab.run(host, kaboodle(host, "join", "--json-logs", "--profile", "local",
                                       "--identity", f"host-{host}", "--tag", f"zone={host % 2}"),
                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                for host in range(hosts)
            ]  # fmt: skip

            def estimated_everywhere() -> bool:
                for host in range(hosts):
                    done = lab.exec(host, kaboodle(host, "peers", "--json"), timeout=30)
                    if done.returncode != 0:
                        return False  # not serving its socket yet
                    others = [
                        p
                        for p in json.loads(done.stdout)["peers"]
                        if p["identity"] != f"host-{host}"
                    ]
                    if len(others) != hosts - 1 or any(
                        p["rtt_estimate_ms"] is None for p in others
                    ):
                        return False
                return True

            wait_until(estimated_everywhere, 60.0)
            for host in range(hosts):
                view = ask(host, "peers", "--json", "--sort", "rtt")
                me, *others = view["peers"]
                assert me["addr"] == view["self"] and len(me["coordinate"]["vec"]) == 8
                for peer in others:
                    # One bridge: sane estimates, far below 50 ms.
                    assert 0 < peer["rtt_estimate_ms"] < 50, peer
                    assert len(peer["coordinate"]["vec"]) == 8
                    assert peer["tags"] == {"zone": str(int(peer["identity"][-1]) % 2)}
                estimates = [p["rtt_estimate_ms"] for p in others]
                assert estimates == sorted(estimates)
            answer = ask(0, "rtt", "host-1", "--json")
            assert answer["a"] != answer["b"] == ask(0, "peers", "--json")["self"]
            assert 0 < answer["rtt_estimate_ms"] < 50
            between = ask(0, "rtt", "host-1", "host-2", "--json")
            assert 0 < between["rtt_estimate_ms"] < 50
            zone = ask(0, "peers", "--json", "--tag", "zone=1")
            assert [p["identity"] for p in zone["peers"]] == ["host-1"]
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
                assert proc.wait(timeout=20) == 0
    finally:
        for directory in dirs:
            shutil.rmtree(directory, ignore_errors=True)
