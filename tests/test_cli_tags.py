"""``kaboodle tags`` and ``kaboodle peers --tag``: parsing and filtering through Typer's
CliRunner, and real node processes on loopback that change their tags while the mesh watches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_helpers import JoinProcess, fake_ask, one_line_error, run, run_json
from typer.testing import CliRunner
from waiting import free_port, wait_until

import cli.peers
from cli import render
from cli.main import app

VIEW: dict[str, Any] = {
    "self": "[fd00::2]:41234",
    "fingerprint": "0x1a2b3c4d",
    "peers": [
        {
            "addr": f"[fd00::{n}]:4000{n}",
            "identity": f"node-{n}",
            "identity_b64": "",
            "state": "alive",
            "incarnation": n,
            "latency_ms": None,
            "tags": tags,
        }
        for n, tags in (
            (2, {"role": "web", "zone": "eu-1"}),
            (3, {"role": "web", "zone": "us-1"}),
            (4, {"role": "webhook", "zone": "eu-2"}),
            (5, {"zone": "eu-1"}),
        )
    ],
}


def shown(runner: CliRunner, *args: str) -> list[str]:
    """The addresses ``kaboodle peers --json ARGS`` lists from VIEW."""
    result = runner.invoke(app, ["peers", "--json", *args])
    assert result.exit_code == 0, result.output
    return [p["addr"] for p in json.loads(result.stdout)["peers"]]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--tag", "role=web"], [2, 3]),  # the whole value must match: not "webhook"
        (["--tag", "role=web.*"], [2, 3, 4]),
        (["--tag", "role=web|webhook"], [2, 3, 4]),  # anchored around the alternation too
        (["--tag", "zone=eu-.*", "--tag", "role=web"], [2]),  # every filter must match
        (["--tag", "zone=eu-.*", "--tag", "zone=.*-1"], [2, 5]),  # one key, twice: both
        (["--tag", "role="], [5]),  # a member without the tag has the empty value (Serf)
        (["--tag", "rack=.+"], []),
        (["--tag", "role=web", "--state", "alive"], [2, 3]),
    ],
)
def test_peers_tag_keeps_members_whose_tags_all_match_in_full(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: list[int]
) -> None:
    monkeypatch.setattr(cli.peers, "ask", fake_ask(VIEW))
    assert shown(runner, *args) == [f"[fd00::{n}]:4000{n}" for n in expected]


def test_peers_tag_filters_the_table_too(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli.peers, "ask", fake_ask(VIEW))
    result = runner.invoke(app, ["peers", "--tag", "zone=us-.*"])
    assert result.exit_code == 0, result.output
    rows = [line for line in result.stdout.splitlines() if line.startswith("[fd00")]
    assert len(rows) == 1 and "node-3" in rows[0] and "role=web zone=us-1" in rows[0]


def test_an_updated_event_line_shows_the_new_and_the_old_tags() -> None:
    record = {"event": "updated", "addr": "[fd00::3]:40001", "identity": "node-3",
              "identity_b64": "", "incarnation": 2, "state": "alive",
              "tags": {"role": "db", "zone": "a"}, "old_tags": {"role": "web"}}  # fmt: skip
    line = render.event_line(record).plain
    assert line.split()[1:] == ["updated", "[fd00::3]:40001", "node-3", "alive", "tags",
                                "role=db", "zone=a", "(were", "role=web)"]  # fmt: skip
    # A refuted suspicion changes no tags: nothing to say about them.
    assert "tags" not in render.event_line({**record, "old_tags": record["tags"]}).plain
    assert "(were (none))" in render.event_line({**record, "old_tags": {}}).plain


def test_tags_shows_and_changes_a_running_node_and_the_mesh_hears_it(
    env: dict[str, str], rundir: Path, nodes: list[JoinProcess]
) -> None:
    port = free_port()
    first = JoinProcess(port, env, "--identity", "first", "--tag", "role=web")
    nodes.append(first)
    second_socket = str(rundir / "second.sock")
    second = JoinProcess(port, env, "--identity", "second", "--socket", second_socket,
                         "--seed", first.addr)  # fmt: skip
    nodes.append(second)
    wait_until(lambda: second.first("joined"), 10.0, second.describe)
    p = str(port)

    current = run("tags", "-p", p, env=env)
    assert current.returncode == 0 and current.stdout == "role=web\n", current.stderr
    changed = run("tags", "-p", p, "--set", "zone=eu-1", "--set", "rack=7", "--delete", "role",
                  env=env)  # fmt: skip
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout == "updated; tags now: rack=7 zone=eu-1\n"
    assert run_json("tags", "-p", p, "--json", env=env) == {"tags": {"rack": "7", "zone": "eu-1"}}

    # The other member reports the change with both tag sets, and filters on the new ones.
    updated = wait_until(lambda: second.first("updated"), 10.0, second.describe)
    assert updated["addr"] == first.addr and updated["identity"] == "first"
    assert updated["tags"] == {"rack": "7", "zone": "eu-1"}
    assert updated["old_tags"] == {"role": "web"}
    view = run_json("peers", "--socket", second_socket, "--json", "--tag", "zone=eu-.*", env=env)
    assert [p["addr"] for p in view["peers"]] == [first.addr]
    view = run_json("peers", "--socket", second_socket, "--json", "--tag", "role=web", env=env)
    assert view["peers"] == []

    # Over the cap: refused with the size and the cap, and nothing changes.
    refused = run("tags", "-p", p, "--set", "note=" + "x" * 500, env=env)
    assert refused.returncode == 1
    assert one_line_error(refused.stderr).endswith(
        "refused 'tags': tags take 517 bytes; at most 512 are allowed"
    )
    assert run_json("tags", "-p", p, "--json", env=env) == {"tags": {"rack": "7", "zone": "eu-1"}}
