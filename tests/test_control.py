"""The control socket in one process: real nodes on loopback, a real Unix socket, the JSON
protocol of docs/cli.md, and where sockets live (cli/paths.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import free_port, wait_for

from cli import paths
from kaboodle import Config, Kaboodle, KaboodleError
from kaboodle.runtime.control import (
    ControlError,
    ControlPermissionError,
    ControlServer,
    NodeAlreadyRunningError,
    NodeNotRunningError,
    fingerprint_text,
    request,
    stream,
)

FAST = Config.local()
FINGERPRINT = re.compile(r"0x[0-9a-f]{8}")
PEER_KEYS = {
    "addr",
    "identity",
    "identity_b64",
    "state",
    "incarnation",
    "latency_ms",
    "rtt_estimate_ms",
    "coordinate",
    "tags",
}


@pytest.fixture
def rundir() -> Iterator[Path]:
    """A short private directory: pytest's tmp_path can exceed a Unix socket's 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="kbc-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


class Served:
    """A node on loopback with its control socket served, as ``kaboodle join`` runs it."""

    def __init__(self, path: Path, identity: bytes | str = b"node-a", **kwargs: Any) -> None:
        self.kb = Kaboodle(port=kwargs.pop("port", free_port()), interface="lo", identity=identity,
                           config=FAST, **kwargs)  # fmt: skip
        self.leave_asked = asyncio.Event()
        self.server = ControlServer(self.kb, path, on_leave=self.leave_asked.set)
        self.path = path

    async def start(self) -> Served:
        self.server.claim()
        await self.kb.start()
        await self.server.start()
        return self

    async def stop(self) -> None:
        await self.kb.stop()
        await self.server.close()


@pytest.fixture
async def served(rundir: Path) -> AsyncIterator[Served]:
    node = await Served(rundir / "n.sock", tags={"role": "web"}).start()
    yield node
    await node.stop()


async def raw(path: Path, *lines: bytes) -> list[dict[str, Any]]:
    """Send raw request lines on one connection; the answers, one per line sent."""
    reader, writer = await asyncio.open_unix_connection(os.fspath(path))
    answers = []
    for line in lines:
        writer.write(line)
        await writer.drain()
        answers.append(json.loads(await reader.readline()))
    writer.close()
    return answers


# ------------------------------------------------------------------------------ the views


async def test_peers_answer_has_the_documented_shape_with_self_among_the_peers(
    served: Served,
) -> None:
    view = await asyncio.to_thread(request, served.path, "peers")
    assert set(view) == {"self", "fingerprint", "peers"}
    assert view["self"] == str(served.kb.self_addr)
    assert view["fingerprint"] == fingerprint_text(served.kb.fingerprint())
    assert FINGERPRINT.fullmatch(view["fingerprint"])
    (me,) = view["peers"]
    assert set(me) == PEER_KEYS
    assert me["addr"] == view["self"]
    assert me["identity"] == "node-a"
    assert base64.b64decode(me["identity_b64"]) == b"node-a"
    assert me["state"] == "alive"
    assert isinstance(me["incarnation"], int) and me["incarnation"] > 0
    assert me["latency_ms"] is None  # nobody measures a round trip to itself
    assert me["rtt_estimate_ms"] is None
    assert set(me["coordinate"]) == {"vec", "height", "error", "adjustment"}
    assert len(me["coordinate"]["vec"]) == 8
    assert me["tags"] == {"role": "web"}


def test_fingerprint_text_is_0x_and_eight_lowercase_hex_digits() -> None:
    assert fingerprint_text(0) == "0x00000000"
    assert fingerprint_text(0x1A2B3C4D) == "0x1a2b3c4d"
    assert fingerprint_text(0xFFFFFFFF) == "0xffffffff"


async def test_an_identity_that_is_not_utf8_is_null_with_its_base64(rundir: Path) -> None:
    node = await Served(rundir / "n.sock", identity=b"\xff\x00kb").start()
    try:
        (me,) = (await asyncio.to_thread(request, node.path, "peers"))["peers"]
        assert me["identity"] is None
        assert me["identity_b64"] == base64.b64encode(b"\xff\x00kb").decode()
        info = await asyncio.to_thread(request, node.path, "info")
        assert info["identity"] is None and info["identity_b64"] == me["identity_b64"]
    finally:
        await node.stop()


async def test_a_view_lists_members_in_fingerprint_order_with_their_latency(
    rundir: Path, served: Served
) -> None:
    other = await Served(rundir / "o.sock", identity="node-b", port=served.kb.port).start()
    try:
        await other.kb.ping_addrs([served.kb.self_addr])
        states = served.kb.peer_states
        await wait_for(
            lambda: (
                (s := states().get(other.kb.self_addr)) is not None
                and s.latency is not None
                and s.rtt_estimate is not None
            )
        )
        view = await asyncio.to_thread(request, served.path, "peers")
        addrs = [p["addr"] for p in view["peers"]]
        keys = sorted([served.kb.self_addr, other.kb.self_addr], key=lambda a: a.sort_key)
        assert addrs == [str(a) for a in keys]
        them = next(p for p in view["peers"] if p["addr"] == str(other.kb.self_addr))
        assert them["identity"] == "node-b" and them["state"] == "alive"
        assert isinstance(them["latency_ms"], float) and 0 < them["latency_ms"] < 1000
        # One sample moves a new coordinate only so far: an estimate, positive and sane.
        assert 0 < them["rtt_estimate_ms"] < 1000
        assert them["coordinate"]["vec"] != [0.0] * 8
        answer = await asyncio.to_thread(request, served.path, "fingerprint")
        assert answer == {"fingerprint": view["fingerprint"], "members": 2}
    finally:
        await other.stop()


async def test_info_says_what_the_node_is(served: Served) -> None:
    info = await asyncio.to_thread(request, served.path, "info")
    assert info["protocol"] == 1
    assert info["pid"] == os.getpid()
    assert info["port"] == served.kb.port
    assert info["self"] == str(served.kb.self_addr)
    assert info["interface"]["name"] == "lo"


# ---------------------------------------------------------------------------- the protocol


async def test_bad_requests_get_an_error_and_the_connection_goes_on(served: Served) -> None:
    answers = await raw(
        served.path,
        b"not json\n",
        b'{"cmd": 5}\n',
        b"[1, 2]\n",
        b'{"cmd": "bogus"}\n',
        b'{"cmd": "fingerprint"}\n',
    )
    assert [a["ok"] for a in answers] == [False, False, False, False, True]
    assert "not JSON" in answers[0]["error"]
    assert "unknown command 'bogus'" in answers[3]["error"]
    assert FINGERPRINT.fullmatch(answers[4]["fingerprint"])


async def test_a_request_too_long_is_refused(served: Served) -> None:
    (answer,) = await raw(served.path, b'{"cmd": "' + b"x" * 70_000 + b'"}\n')
    assert answer["ok"] is False and "longer than" in answer["error"]


async def test_watch_streams_events_and_views_until_the_node_stops(
    rundir: Path, served: Served
) -> None:
    items: list[dict[str, Any]] = []

    async def follow() -> None:
        async for item in stream(served.path, interval=0.2):
            items.append(item)

    watcher = asyncio.create_task(follow())
    await wait_for(lambda: items, describe=lambda: "the first view")
    assert items[0]["type"] == "view" and len(items[0]["peers"]) == 1
    other = await Served(rundir / "o.sock", identity="node-b", port=served.kb.port).start()
    await other.kb.ping_addrs([served.kb.self_addr])
    joined = {"type": "event", "event": "joined", "addr": str(other.kb.self_addr)}
    await wait_for(
        lambda: any(joined.items() <= i.items() for i in items),
        describe=lambda: f"a join in {items}",
    )
    await wait_for(
        lambda: any(i["type"] == "view" and len(i["peers"]) == 2 for i in items),
        describe=lambda: "a view with both",
    )
    event = next(i for i in items if joined.items() <= i.items())
    assert event["identity"] == "node-b" and isinstance(event["incarnation"], int)
    assert any(i.get("event") == "fingerprint" and i["members"] == 2 for i in items)
    await other.stop()
    await wait_for(
        lambda: any(i.get("event") == "left" for i in items), describe=lambda: "a departure"
    )
    left = next(i for i in items if i.get("event") == "left")
    assert left["identity"] == "node-b"  # known from the join, though "left" carries no identity
    await served.kb.stop()
    await asyncio.wait_for(watcher, 5)
    assert items[-1] == {"type": "stopped"}


async def test_once_leaving_requests_are_refused_and_watchers_hear_only_stopped(
    rundir: Path,
) -> None:
    node = await Served(rundir / "n.sock").start()
    items: list[dict[str, Any]] = []

    async def follow() -> None:
        async for item in stream(node.path, interval=0.1):
            items.append(item)

    watcher = asyncio.create_task(follow())
    await wait_for(lambda: items, describe=lambda: "the first view")
    node.server.leaving()
    with pytest.raises(ControlError, match="the node is leaving"):
        await asyncio.to_thread(request, node.path, "peers")
    seen = len(items)
    await node.stop()  # the node's view empties as it goes: not news for watchers
    await asyncio.wait_for(watcher, 5)
    assert [i for i in items[seen:] if i["type"] != "view"] == [{"type": "stopped"}]


async def test_watch_refuses_a_bad_interval(served: Served) -> None:
    (answer,) = await raw(served.path, b'{"cmd": "watch", "interval": "soon"}\n')
    assert answer == {"ok": False, "error": '"interval" must be a number of seconds'}


async def test_leave_asks_the_owner_and_answers_once_the_node_has_left(
    rundir: Path,
) -> None:
    node = await Served(rundir / "n.sock").start()
    me = str(node.kb.self_addr)
    asked = asyncio.create_task(asyncio.to_thread(request, node.path, "leave", timeout=10))
    await asyncio.wait_for(node.leave_asked.wait(), 5)
    assert not asked.done()  # no answer before the node is gone
    await node.stop()
    assert await asyncio.wait_for(asked, 5) == {"self": me, "port": node.kb.port}
    assert not node.path.exists()
    assert not Path(f"{node.path}.lock").exists()


# ----------------------------------------------------------------------- claiming a socket


async def test_the_socket_is_private_and_removed_on_close(rundir: Path) -> None:
    node = await Served(rundir / "n.sock").start()
    info = node.path.lstat()
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    await node.stop()
    assert sorted(p.name for p in rundir.iterdir()) == []
    await node.server.close()  # idempotent


async def test_a_live_socket_is_never_stolen(served: Served) -> None:
    second = ControlServer(Kaboodle(port=served.kb.port), served.path, on_leave=lambda: None)
    with pytest.raises(NodeAlreadyRunningError, match=rf"pid {os.getpid()}, control socket"):
        second.claim()
    assert (await asyncio.to_thread(request, served.path, "info"))["self"] == str(
        served.kb.self_addr
    )


async def test_something_else_listening_there_is_not_taken_either(rundir: Path) -> None:
    path = rundir / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(os.fspath(path))
        other.listen()
        server = ControlServer(Kaboodle(port=7475), path, on_leave=lambda: None)
        with pytest.raises(NodeAlreadyRunningError, match="already running on port 7475"):
            server.claim()
        assert not Path(f"{path}.lock").exists()  # the lock went with the failed claim


async def test_a_stale_socket_is_detected_and_replaced(rundir: Path) -> None:
    path = rundir / "n.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(os.fspath(path))  # bound, then closed without unlinking: a crashed node's
    with pytest.raises(NodeNotRunningError):
        await asyncio.to_thread(request, path, "peers", port=7475)
    node = Served(path)
    await node.start()
    try:
        assert node.server.replaced_stale
        assert (await asyncio.to_thread(request, path, "info"))["self"] == str(node.kb.self_addr)
    finally:
        await node.stop()


def test_a_file_that_is_not_a_socket_is_left_alone(rundir: Path) -> None:
    path = rundir / "n.sock"
    path.write_text("precious")
    server = ControlServer(Kaboodle(port=7475), path, on_leave=lambda: None)
    with pytest.raises(KaboodleError, match="exists and is not a socket"):
        server.claim()
    assert path.read_text() == "precious"


def test_a_path_too_long_for_a_unix_socket_is_explained(rundir: Path) -> None:
    path = rundir / ("d" * 120) / "7475.sock"
    server = ControlServer(Kaboodle(port=7475), path, on_leave=lambda: None)
    with pytest.raises(KaboodleError, match="set KABOODLE_RUNTIME_DIR to a shorter"):
        server.claim()


# ------------------------------------------------------------------------------ the client


async def test_no_socket_means_no_node(rundir: Path) -> None:
    with pytest.raises(NodeNotRunningError, match="no kaboodle node is running on port 9"):
        await asyncio.to_thread(request, rundir / "9.sock", "peers", port=9)
    with pytest.raises(NodeNotRunningError, match="no kaboodle node is serving the control"):
        await asyncio.to_thread(request, rundir / "9.sock", "peers")


async def test_a_node_that_does_not_answer_times_out(rundir: Path) -> None:
    path = rundir / "n.sock"
    server = await asyncio.start_unix_server(lambda r, w: None, os.fspath(path))
    try:
        with pytest.raises(ControlError, match=r"did not answer within 0\.2 s"):
            await asyncio.to_thread(request, path, "peers", timeout=0.2)
    finally:
        server.close()


async def test_an_error_answer_is_a_control_error(served: Served) -> None:
    with pytest.raises(ControlError, match="refused 'bogus': unknown command"):
        await asyncio.to_thread(request, served.path, "bogus")


# ----------------------------------------------------------------------- where sockets live


def test_runtime_dirs_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    temp = Path(tempfile.gettempdir()) / f"kaboodle-{os.getuid()}"
    assert paths.runtime_dirs({"KABOODLE_RUNTIME_DIR": "/x", "XDG_RUNTIME_DIR": "/y"}) == [
        Path("/x")
    ]
    assert paths.runtime_dirs({"XDG_RUNTIME_DIR": "/y"}) == [
        Path("/y/kaboodle"),
        Path("/run/kaboodle"),
        temp,
    ]
    assert paths.runtime_dirs({}) == [Path("/run/kaboodle"), temp]
    assert paths.socket_path(Path("/run/kaboodle"), 7475) == Path("/run/kaboodle/7475.sock")


def test_prepare_uses_the_first_usable_dir(rundir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = paths.prepare_runtime_dir({"KABOODLE_RUNTIME_DIR": str(rundir / "a" / "b")})
    assert made == rundir / "a" / "b" and made.is_dir()
    xdg = rundir / "xdg"
    xdg.mkdir()
    assert paths.prepare_runtime_dir({"XDG_RUNTIME_DIR": str(xdg)}) == xdg / "kaboodle"
    assert stat.S_IMODE((xdg / "kaboodle").stat().st_mode) == 0o700
    # A missing $XDG_RUNTIME_DIR is skipped for the system directory.
    monkeypatch.setattr(paths, "SYSTEM_RUNTIME_DIR", rundir / "run" / "kaboodle")
    (rundir / "run").mkdir()
    got = paths.prepare_runtime_dir({"XDG_RUNTIME_DIR": str(rundir / "gone")})
    assert got == rundir / "run" / "kaboodle"


def test_prepare_falls_back_to_a_private_temp_dir(
    rundir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = rundir / "file"
    blocker.write_text("")
    # Under a regular file: not a directory anyone (root included) can create.
    monkeypatch.setattr(paths, "SYSTEM_RUNTIME_DIR", blocker / "kaboodle")
    monkeypatch.setattr(paths.tempfile, "gettempdir", lambda: str(rundir))
    private = rundir / f"kaboodle-{os.getuid()}"
    assert paths.prepare_runtime_dir({}) == private
    assert stat.S_IMODE(private.stat().st_mode) == 0o700
    private.chmod(0o777)  # as if someone else had prepared it for us
    with pytest.raises(ControlPermissionError, match="is not a private directory"):
        paths.prepare_runtime_dir({})


def test_locate_looks_in_every_dir(rundir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    system = rundir / "run"
    system.mkdir()
    monkeypatch.setattr(paths, "SYSTEM_RUNTIME_DIR", system)
    (system / "7475.sock").touch()
    env = {"XDG_RUNTIME_DIR": str(rundir / "xdg")}
    assert paths.locate(7475, env) == system / "7475.sock"
    with pytest.raises(NodeNotRunningError, match="port 7476"):
        paths.locate(7476, env)


async def test_a_world_writable_directory_without_the_sticky_bit_is_refused(
    rundir: Path,
) -> None:
    shared = rundir / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    node = Served(shared / "n.sock")
    with pytest.raises(KaboodleError, match="writable by every user and has no sticky bit"):
        node.server.claim()
    assert not (shared / "n.sock").exists()
    shared.chmod(0o1777)  # like /tmp: only a file's owner may remove it
    await node.start()
    assert stat.S_IMODE((shared / "n.sock").stat().st_mode) == 0o600
    await node.stop()
