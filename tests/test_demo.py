"""``kaboodle demo``: the mesh it drives (in process, over loopback), what it draws, and the
real command in a pseudo-terminal, on a pipe and with bad flags."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import termios
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cli_helpers import KABOODLE, ROOT, cli_env, one_line_error, run
from rich.console import Console
from waiting import wait_for, wait_until

from cli.demo_mesh import Controls, DemoMesh, MemberRow, NodeState, NodeView
from cli.demo_screen import columns_for, pane, plain_line, screen
from kaboodle import Kaboodle, MemberState

COLUMNS, LINES = 160, 50


# ------------------------------------------------------------------ the mesh, in process


@pytest.fixture
async def mesh() -> AsyncIterator[DemoMesh]:
    demo = DemoMesh(4)
    await demo.start()
    try:
        await wait_for(lambda: agreed(demo, [1, 2, 3, 4]), 10.0, lambda: describe(demo))
        yield demo
    finally:
        await demo.stop()


def agreed(demo: DemoMesh, numbers: list[int]) -> bool:
    """Whether exactly these nodes run, count exactly one another, and agree."""
    nodes = [demo.node(n) for n in numbers]
    addrs = {kb.self_addr for kb in nodes}
    return all(set(kb.peers()) == addrs for kb in nodes) and len(fingerprints(nodes)) == 1


def fingerprints(nodes: list[Kaboodle]) -> set[int]:
    return {kb.fingerprint() for kb in nodes}


def describe(demo: DemoMesh) -> str:
    return "; ".join(plain_line(view) for view in demo.views())


def state_of(watcher: Kaboodle, target: Kaboodle) -> MemberState | None:
    info = watcher.peer_states().get(target.self_addr)
    return None if info is None else info.state


async def test_the_nodes_join_by_seeds_and_agree(mesh: DemoMesh) -> None:
    views = mesh.views()
    assert [v.identity for v in views] == ["node-1", "node-2", "node-3", "node-4"]
    assert {v.state for v in views} == {NodeState.running}
    assert len({v.fingerprint for v in views}) == 1
    assert all(v.counted == 4 for v in views)
    own = [next(m for m in v.members if m.is_self) for v in views]
    assert [(m.addr, m.identity) for m in own] == [(v.address, v.identity) for v in views]


async def test_a_killed_node_is_found_failed_and_the_others_agree_without_it(
    mesh: DemoMesh,
) -> None:
    before = mesh.node(1).fingerprint()
    victim = mesh.node(4)
    addr = victim.self_addr
    assert await mesh.kill(4) == "node-4 killed: the others will find it failed"
    assert mesh.state(4) == NodeState.killed and not victim.running
    await wait_for(lambda: agreed(mesh, [1, 2, 3]), 10.0, lambda: describe(mesh))
    assert mesh.node(1).fingerprint() != before
    # Found failed, not told goodbye.
    assert mesh.node(1).peer_states()[addr].state == MemberState.DEAD
    view = mesh.views()[3]
    assert (view.state, view.address, view.fingerprint, view.members) == (
        NodeState.killed,
        str(addr),
        None,
        (),
    )
    assert "already" in await mesh.kill(4)


async def test_a_paused_node_is_suspected_then_refutes_when_resumed(mesh: DemoMesh) -> None:
    sleeper, watchers = mesh.node(2), [mesh.node(n) for n in (1, 3, 4)]
    assert "paused" in mesh.toggle_pause(2)
    assert mesh.state(2) == NodeState.paused and mesh.views()[1].state == NodeState.paused
    await wait_for(
        lambda: any(state_of(w, sleeper) == MemberState.SUSPECT for w in watchers),
        5.0,
        lambda: describe(mesh),
    )
    assert "resumed" in mesh.toggle_pause(2)
    assert mesh.state(2) == NodeState.running
    await wait_for(
        lambda: (
            all(state_of(w, sleeper) == MemberState.ALIVE for w in watchers)
            and agreed(mesh, [1, 2, 3, 4])
        ),
        10.0,
        lambda: describe(mesh),
    )


async def test_a_restarted_node_comes_back_at_its_address_and_the_mesh_is_whole_again(
    mesh: DemoMesh,
) -> None:
    whole = mesh.node(1).fingerprint()
    addr = mesh.node(3).self_addr
    await mesh.kill(3)
    await wait_for(lambda: agreed(mesh, [1, 2, 4]), 10.0, lambda: describe(mesh))
    assert await mesh.restart(3) == "node-3 restarted"
    assert mesh.state(3) == NodeState.running
    reborn = mesh.node(3)
    assert (reborn.self_addr, reborn.identity) == (addr, b"node-3")
    await wait_for(lambda: agreed(mesh, [1, 2, 3, 4]), 10.0, lambda: describe(mesh))
    # The same members, so the same fingerprint as before the kill.
    assert mesh.node(1).fingerprint() == whole
    assert "is running" in await mesh.restart(3)


async def test_a_node_that_leaves_is_left_at_once_and_can_come_back(mesh: DemoMesh) -> None:
    leaver = mesh.node(1)
    addr = leaver.self_addr
    assert await mesh.leave(1) == "node-1 left the mesh"
    assert mesh.state(1) == NodeState.left
    await wait_for(
        lambda: all(mesh.node(n).peer_states()[addr].state == MemberState.LEFT for n in (2, 3, 4)),
        3.0,
        lambda: describe(mesh),
    )
    await wait_for(lambda: agreed(mesh, [2, 3, 4]), 5.0, lambda: describe(mesh))
    assert "r restarts" in mesh.toggle_pause(1)
    await mesh.restart(1)  # seeded with node 2 now: node 1 was everyone's seed
    await wait_for(lambda: agreed(mesh, [1, 2, 3, 4]), 10.0, lambda: describe(mesh))


async def test_keys_select_act_and_quit(mesh: DemoMesh) -> None:
    controls = Controls(mesh)
    assert controls.selected == 1
    assert not await controls.press("3")
    assert controls.selected == 3 and controls.message == "node-3 selected"
    assert not await controls.press("9")  # no such node: nothing changes
    assert not await controls.press("x")
    assert controls.selected == 3
    assert not await controls.press("p")
    assert mesh.state(3) == NodeState.paused
    assert not await controls.press("p")
    assert not await controls.press("k")
    assert mesh.state(3) == NodeState.killed and "killed" in controls.message
    assert not await controls.press("r")
    assert mesh.state(3) == NodeState.running
    assert not await controls.press("l")
    assert mesh.state(3) == NodeState.left
    assert await controls.press("q")


async def test_stop_stops_every_node() -> None:
    demo = DemoMesh(2)
    await demo.start()
    nodes = demo.live()
    await demo.stop()
    assert not any(kb.running for kb in nodes)
    assert {demo.state(1), demo.state(2)} == {NodeState.left}


# ------------------------------------------------------------------ drawing plain data


def view(
    number: int, state: NodeState = NodeState.running, fp: int | None = 0x1234ABCD
) -> NodeView:
    members = (
        (
            MemberRow("[::1]:1001", "node-1", "alive", number == 1),
            MemberRow("[::1]:1002", "node-2", "suspect", number == 2),
        )
        if fp is not None
        else ()
    )
    return NodeView(number, f"node-{number}", state, f"[::1]:{1000 + number}", fp, members)


def text_of(renderable: object) -> str:
    console = Console(width=COLUMNS, height=LINES, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


@pytest.mark.parametrize(("count", "columns"), [(2, 2), (3, 2), (4, 2), (5, 3), (9, 3)])
def test_the_grid_is_as_square_as_it_gets(count: int, columns: int) -> None:
    assert columns_for(count) == columns


def test_a_pane_shows_the_node_and_its_members() -> None:
    text = text_of(pane(view(2)))
    assert "2 node-2 running" in text
    assert "[::1]:1002" in text and "fingerprint  0x1234abcd  2 members" in text
    assert re.search(r"node-2 \(self\)\s+suspect", text)
    assert re.search(r"\[::1\]:1001\s+node-1\s+alive", text)
    killed = text_of(pane(view(3, NodeState.killed, None)))
    assert "3 node-3 killed" in killed and "fingerprint  -" in killed


def test_the_screen_is_a_two_by_two_grid_with_a_footer() -> None:
    views = [view(1), view(2), view(3, NodeState.paused), view(4, NodeState.killed, None)]
    lines = text_of(screen(views, 4, "node-4 killed")).splitlines()
    assert len(lines) == LINES
    rows = [line for line in lines if "node-" in line and re.search(r"\d node-\d \w+ ", line)]
    assert re.search(r"1 node-1 running.*2 node-2 running", rows[0])
    assert re.search(r"3 node-3 paused.*4 node-4 killed", rows[1])
    # Every member of every running pane is drawn: the panes are tall enough.
    rows_of_node_2 = [re.findall(r"\[::1\]:1002\s+node-2", line) for line in lines]
    assert sum(map(len, rows_of_node_2)) == 3  # the last row of panes 1, 2 and 3
    assert "q quit" in lines[-2] and "selected: 4 node-4" in lines[-2]
    assert lines[-1].strip() == "node-4 killed"
    without_keys = text_of(screen(views[:2], 1, keys=False))
    assert "no keys" in without_keys and "q quit" not in without_keys


def test_a_plain_line_says_it_all() -> None:
    line = plain_line(view(1))
    assert line.endswith("node-1  [::1]:1001  running  fingerprint 0x1234abcd  2 members")
    assert plain_line(view(4, NodeState.left, None)).endswith("left  fingerprint -")


# ------------------------------------------------------------------ the command


_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")
_TITLE = re.compile(r"(\d) node-\d (running|paused|killed|left)")
_FINGERPRINT = re.compile(r"fingerprint\s+(0x[0-9a-f]{8}|-)")
_FOOTER = re.compile(r"q quit\s+selected: (\d)")


class Terminal:
    """The command in a pseudo-terminal of COLUMNS x LINES; what it draws is collected."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, self.slave = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
        self.cooked = termios.tcgetattr(self.slave)
        self.proc = subprocess.Popen(
            argv,
            stdin=self.slave,
            stdout=self.slave,
            stderr=self.slave,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        self.output = bytearray()
        self._done = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        # Read all the time, or the command blocks on a full terminal.
        while not self._done.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    return
                self.output += chunk

    def press(self, key: str) -> None:
        """Type one key."""
        os.write(self.master, key.encode())

    def screen(self) -> str:
        """The last screen drawn in full (each starts at the cursor's home, ends with the
        footer), without its escapes."""
        for frame in reversed(bytes(self.output).decode("utf-8", "replace").split("\x1b[H")):
            text = _ANSI.sub("", frame).replace("\r", "")
            if _FOOTER.search(text):
                return text
        return ""

    def panes(self) -> dict[int, tuple[str, str]]:
        """Node number -> (state, fingerprint) as the last screen shows them. Panes sit side
        by side: a fingerprint line belongs, in order, to the titles of the row above it."""
        found: dict[int, tuple[str, str]] = {}
        row: list[tuple[int, str]] = []
        for line in self.screen().splitlines():
            titles = [(int(n), state) for n, state in _TITLE.findall(line)]
            if titles:
                row = titles
                continue
            prints = _FINGERPRINT.findall(line)
            if prints and len(prints) == len(row):
                for (number, state), fp in zip(row, prints, strict=True):
                    found[number] = (state, fp)
        return found

    def selected(self) -> int | None:
        match = _FOOTER.search(self.screen())
        return int(match.group(1)) if match else None

    def describe(self) -> str:
        shown = self.screen() or repr(bytes(self.output)[-3000:])
        return f"exit {self.proc.poll()}; last screen:\n{shown}"

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._done.set()
        self._reader.join(5)
        os.close(self.master)
        os.close(self.slave)


def running_with_one_fingerprint(panes: dict[int, tuple[str, str]], numbers: list[int]) -> str:
    """The fingerprint that the panes ``numbers`` all show while running, or ""."""
    shown = {panes.get(n, ("", ""))[1] for n in numbers}
    running = all(panes.get(n, ("", ""))[0] == "running" for n in numbers)
    only = shown.pop() if len(shown) == 1 else ""
    return only if running and only.startswith("0x") else ""


def test_the_demo_in_a_terminal_kill_a_node_then_quit(tmp_path: Path) -> None:
    env = cli_env(tmp_path, COLUMNS=str(COLUMNS), LINES=str(LINES), TERM="xterm")
    term = Terminal([*KABOODLE, "demo", "--nodes", "4"], env)
    try:
        whole = wait_until(
            lambda: running_with_one_fingerprint(term.panes(), [1, 2, 3, 4]), 15.0, term.describe
        )
        term.press("4")
        wait_until(lambda: term.selected() == 4, 5.0, term.describe)
        term.press("k")

        def without_node_4() -> bool:
            panes = term.panes()
            rest = running_with_one_fingerprint(panes, [1, 2, 3])
            return bool(rest) and rest != whole and panes.get(4) == ("killed", "-")

        wait_until(without_node_4, 15.0, term.describe)
        term.press("q")
        assert term.proc.wait(10) == 0, term.describe()
        # The terminal is as the demo found it: echo and line editing back on.
        assert termios.tcgetattr(term.slave)[3] == term.cooked[3]
        assert term.cooked[3] & termios.ECHO and term.cooked[3] & termios.ICANON
    finally:
        term.close()


def test_the_demo_on_a_pipe_prints_lines_and_ends_after_for_seconds(tmp_path: Path) -> None:
    done = run(
        "demo", "--nodes", "2", "--for", "3", env=cli_env(tmp_path), stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr
    assert re.search(
        r"node-2  \[::1\]:\d+  running  fingerprint 0x[0-9a-f]{8}  2 members", done.stdout
    )
    assert done.stderr == ""  # the nodes' expected multicast warning on lo stays out


def test_sigterm_ends_the_demo_with_exit_0(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [*KABOODLE, "demo", "--nodes", "2"],
        env=cli_env(tmp_path),
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_until(
            lambda: sum("2 members" in line for line in list(lines)) >= 2, 15.0, lambda: f"{lines}"
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("nodes", ["1", "99"])
def test_a_node_count_out_of_range_is_a_usage_error(nodes: str, tmp_path: Path) -> None:
    done = run("demo", "--nodes", nodes, env=cli_env(tmp_path))
    assert done.returncode == 2
    assert "--nodes" in one_line_error(done.stderr)
