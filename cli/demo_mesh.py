"""How ``kaboodle demo`` runs: a mesh of nodes in this process on loopback, drawn as a grid.

:class:`DemoMesh` owns the nodes and what the keys do to them; :func:`screen` and its helpers
draw plain :class:`NodeView` snapshots and know no node; :func:`run` ties both to the terminal
(keys in cbreak mode, a live full-screen grid, or plain lines when stdout is not a terminal).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum

from rich import box
from rich.console import Console, Group, RenderableType
from rich.layout import Layout
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from kaboodle import Config, Kaboodle, KaboodleError, MemberState
from kaboodle.runtime.control.views import fingerprint_text

__all__ = [
    "INTERFACE",
    "Controls",
    "DemoMesh",
    "MemberRow",
    "NodeState",
    "NodeView",
    "columns_for",
    "footer",
    "pane",
    "plain_line",
    "run",
    "screen",
]

INTERFACE = "lo"
"""Loopback: every node of the demo is in this process, so no other host needs to see them."""

_REFRESH = 0.1  # seconds between looks at the nodes; the screen is redrawn only on a change
# Lines of a pane besides its member rows: 2 borders, address, identity, fingerprint, a blank
# line, the table's header and its rule.
_PANE_LINES = 8
_STATE_STYLES = {"alive": "green", "suspect": "yellow", "dead": "red", "left": "dim"}
_NODE_STYLES = {"running": "green", "paused": "yellow", "killed": "red", "left": "dim"}


class NodeState(StrEnum):
    """What the demo has done to one of its nodes."""

    running = "running"
    paused = "paused"
    killed = "killed"
    left = "left"


@dataclass(frozen=True, slots=True)
class MemberRow:
    """One member as a node sees it: plain text, ready to draw."""

    addr: str
    identity: str
    state: str
    is_self: bool = False


@dataclass(frozen=True, slots=True)
class NodeView:
    """A snapshot of one demo node, what its pane shows. A stopped node keeps its last
    address, and has no fingerprint and no members."""

    number: int
    identity: str
    state: NodeState
    address: str | None
    fingerprint: int | None
    members: tuple[MemberRow, ...] = ()

    @property
    def counted(self) -> int:
        """The members in its fingerprint (alive or suspect, itself included)."""
        return sum(1 for m in self.members if m.state in ("alive", "suspect"))


@dataclass(slots=True)
class _Slot:
    kb: Kaboodle
    state: NodeState  # running, killed or left: paused is the node's own flag
    addr: str
    unicast_port: int


class DemoMesh:
    """``count`` nodes, ``node-1`` .. ``node-N``, on one interface and one discovery port.

    Nodes are numbered from 1, as the keys and panes show them. They join by seeding one
    another (loopback carries no multicast here), so the demo needs no network at all.

    Args:
        count: how many nodes.
        port: the discovery port (default: a free one, so two demos never mix).
        interface: the interface every node uses.
        config: the protocol's timing (default: the local profile, so that a kill is
            noticed within a few seconds).
    """

    def __init__(
        self,
        count: int,
        *,
        port: int | None = None,
        interface: str = INTERFACE,
        config: Config | None = None,
    ) -> None:
        if count < 1:
            raise ValueError(f"a demo mesh needs at least one node, not {count}")
        self.count = count
        self.port = port or _free_port()
        self.interface = interface
        self.config = config or Config.local()
        self._slots: list[_Slot] = []

    @staticmethod
    def identity_of(number: int) -> str:
        """The identity of node ``number``."""
        return f"node-{number}"

    async def start(self) -> None:
        """Start the nodes: the first alone, then every other one seeded with it.

        Raises:
            KaboodleError: the interface is missing or a socket cannot be opened.
            RuntimeError: already started.
        """
        if self._slots:
            raise RuntimeError("this demo mesh is already started")
        try:
            for number in range(1, self.count + 1):
                seeds = [self._slots[0].addr] if self._slots else []
                self._slots.append(await self._launch(number, seeds))
        except BaseException:
            await self.stop()
            raise

    async def _launch(self, number: int, seeds: Sequence[str], unicast_port: int = 0) -> _Slot:
        def node(port: int) -> Kaboodle:
            return Kaboodle(
                port=self.port,
                interface=self.interface,
                identity=self.identity_of(number),
                seeds=seeds,
                config=self.config,
                unicast_port=port,
            )

        kb = node(unicast_port)
        try:
            await kb.start()
        except KaboodleError:
            if not unicast_port:
                raise
            kb = node(0)  # its old port was taken meanwhile: a new address will do
            await kb.start()
        addr = kb.self_addr
        return _Slot(kb, NodeState.running, str(addr), addr.port)

    def _slot(self, number: int) -> _Slot:
        if not 1 <= number <= len(self._slots):
            raise ValueError(f"there is no node {number}: the nodes are 1..{len(self._slots)}")
        return self._slots[number - 1]

    def node(self, number: int) -> Kaboodle:
        """Node ``number``'s current Kaboodle (a restart makes a new one)."""
        return self._slot(number).kb

    def state(self, number: int) -> NodeState:
        """What node ``number`` is now."""
        slot = self._slot(number)
        if slot.state == NodeState.running and slot.kb.paused:
            return NodeState.paused
        return slot.state

    def live(self) -> list[Kaboodle]:
        """The nodes that run (paused ones included)."""
        return [s.kb for s in self._slots if s.state == NodeState.running]

    async def kill(self, number: int) -> str:
        """Stop node ``number`` without a word, as a crash: the others find it failed.

        Returns:
            What happened, for the footer.
        """
        slot = self._slot(number)
        name = self.identity_of(number)
        if slot.state != NodeState.running:
            return f"{name} is {slot.state} already: r restarts it"
        await slot.kb.stop(leave=False)
        slot.state = NodeState.killed
        return f"{name} killed: the others will find it failed"

    async def leave(self, number: int) -> str:
        """Make node ``number`` leave gracefully: the others record it as left at once.

        Returns:
            What happened, for the footer.
        """
        slot = self._slot(number)
        name = self.identity_of(number)
        if slot.state != NodeState.running:
            return f"{name} is {slot.state} already: r restarts it"
        await slot.kb.stop()
        slot.state = NodeState.left
        return f"{name} left the mesh"

    def toggle_pause(self, number: int) -> str:
        """Pause node ``number``, or resume it if paused. A paused node is suspected by the
        others (then found failed, if the pause lasts); on resume it refutes.

        Returns:
            What happened, for the footer.
        """
        slot = self._slot(number)
        name = self.identity_of(number)
        if slot.state != NodeState.running:
            return f"{name} is {slot.state}: r restarts it"
        if slot.kb.paused:
            slot.kb.resume()
            return f"{name} resumed: it refutes the suspicion"
        slot.kb.pause()
        return f"{name} paused: the others will suspect it"

    async def restart(self, number: int) -> str:
        """Start a killed or left node again: a new node with the same identity, on its old
        address when that is free (its new incarnation outranks its previous life), seeded
        with the nodes that run.

        Returns:
            What happened, for the footer.

        Raises:
            KaboodleError: no socket could be opened.
        """
        slot = self._slot(number)
        name = self.identity_of(number)
        if slot.state == NodeState.running:
            return f"{name} is running: k kills it, l makes it leave"
        # Awake nodes first: a paused one answers only once resumed.
        others = sorted(
            (s for s in self._slots if s is not slot and s.state == NodeState.running),
            key=lambda s: s.kb.paused,
        )
        seeds = [s.addr for s in others]
        self._slots[number - 1] = await self._launch(number, seeds, slot.unicast_port)
        return f"{name} restarted"

    async def stop(self) -> None:
        """Stop every node that runs, gracefully and all at once."""
        running = [s for s in self._slots if s.state == NodeState.running]
        await asyncio.gather(*(s.kb.stop() for s in running))
        for slot in running:
            slot.state = NodeState.left

    def views(self) -> list[NodeView]:
        """A snapshot of every node, in order."""
        return [self._view(number) for number in range(1, len(self._slots) + 1)]

    def _view(self, number: int) -> NodeView:
        slot = self._slot(number)
        state = self.state(number)
        identity = self.identity_of(number)
        if slot.state != NodeState.running:
            return NodeView(number, identity, state, slot.addr, None)
        kb = slot.kb
        me = kb.self_addr
        members = tuple(
            MemberRow(
                str(addr),
                info.identity.decode("utf-8", "replace"),
                MemberState(info.state).name.lower(),
                addr == me,
            )
            for addr, info in sorted(kb.peer_states().items(), key=lambda i: i[0].sort_key)
        )
        return NodeView(number, identity, state, str(me), kb.fingerprint(), members)


def _free_port() -> int:
    """A UDP port nobody on this host uses now, for the demo's discovery port."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------------------- drawing


def columns_for(count: int) -> int:
    """Panes per row: a square grid, as close as it gets (2 x 2 for 4 nodes)."""
    return max(1, math.ceil(math.sqrt(count)))


def _fingerprint(view: NodeView) -> str:
    return fingerprint_text(view.fingerprint) if view.fingerprint is not None else "-"


def _members(count: int) -> str:
    return f"{count} member{'' if count == 1 else 's'}"


def pane(view: NodeView, *, selected: bool = False, height: int | None = None) -> Panel:
    """One node's pane: its address, identity, fingerprint and members with their states."""
    style = _NODE_STYLES[view.state]
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("address", view.address or "-")
    head.add_row("identity", view.identity)
    members = _members(view.counted)
    shown = Text(_fingerprint(view), style="bold cyan")
    if view.fingerprint is not None:
        shown.append(f"  {members}", style="")
    head.add_row("fingerprint", shown)
    body: list[RenderableType] = [head]
    if view.members:
        table = Table(
            box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), expand=True
        )
        # Fixed ratios: every pane's columns line up, whatever its rows hold.
        table.add_column("address", no_wrap=True, ratio=4)
        table.add_column("identity", no_wrap=True, ratio=4)
        table.add_column("state", no_wrap=True, ratio=2)
        for m in view.members:
            table.add_row(
                m.addr,
                m.identity + (" (self)" if m.is_self else ""),
                Text(m.state, style=_STATE_STYLES.get(m.state, "")),
            )
        body += [Text(""), table]
    else:
        body.append(Text(f"\n{view.identity} is {view.state}: r restarts it", style="dim"))
    title = Text(f"{view.number} {view.identity} ", style="bold")
    title.append(str(view.state), style=style)
    return Panel(
        Group(*body),
        title=title,
        title_align="left",
        border_style="bold bright_white" if selected else style,
        box=box.HEAVY if selected else box.ROUNDED,
        height=height,
    )


def footer(count: int, selected: int, message: str = "", *, keys: bool = True) -> Table:
    """Two lines: the keys and the selected node; the latest action's outcome."""
    if keys:
        line = Text(f"1-{count} select  k kill  p pause/resume  r restart  l leave  q quit")
        line.append(f"    selected: {selected} node-{selected}", style="bold")
    else:
        line = Text("stdin is not a terminal: no keys; Ctrl-C ends the demo")
    lines = Table.grid(expand=True)
    lines.add_column(no_wrap=True, overflow="ellipsis")
    lines.add_row(line)
    lines.add_row(Text(message, style="italic"))
    return lines


def screen(
    views: Sequence[NodeView], selected: int, message: str = "", *, keys: bool = True
) -> Layout:
    """The whole screen: the panes in a square grid, and the footer at the bottom."""
    columns = columns_for(len(views))
    # One height for all panes, so the grid stays a grid as member lists differ.
    height = _PANE_LINES + max((len(v.members) for v in views), default=0)
    grid = Table.grid(expand=True)
    for _ in range(columns):
        grid.add_column(ratio=1)
    panes: list[RenderableType] = [
        pane(v, selected=v.number == selected, height=height) for v in views
    ]
    panes += [""] * (-len(panes) % columns)
    for row in range(0, len(panes), columns):
        grid.add_row(*panes[row : row + columns])
    layout = Layout()
    layout.split_column(
        Layout(grid, name="mesh"),
        Layout(footer(len(views), selected, message, keys=keys), name="footer", size=2),
    )
    return layout


def plain_line(view: NodeView) -> str:
    """One node as one line of text, for a pipe or a log."""
    members = f"  {_members(view.counted)}" if view.fingerprint is not None else ""
    return (
        f"{time.strftime('%H:%M:%S')}  {view.identity}  {view.address or '-'}  {view.state}"
        f"  fingerprint {_fingerprint(view)}{members}"
    )


# ---------------------------------------------------------------------------- running


class Controls:
    """What the keys do to a :class:`DemoMesh`: the selected node and the outcome of the
    latest action, which the footer shows."""

    def __init__(self, mesh: DemoMesh) -> None:
        self.mesh = mesh
        self.selected = 1
        self.message = ""

    async def press(self, key: str) -> bool:
        """Act on one key; True for quit."""
        mesh, number = self.mesh, self.selected
        if key == "q":
            self.message = "quitting: every node leaves"
            return True
        if key.isdigit() and 1 <= int(key) <= mesh.count:
            self.selected = int(key)
            self.message = f"{mesh.identity_of(self.selected)} selected"
        elif key == "k":
            self.message = await mesh.kill(number)
        elif key == "p":
            self.message = mesh.toggle_pause(number)
        elif key == "r":
            try:
                self.message = await mesh.restart(number)
            except KaboodleError as exc:
                self.message = f"cannot restart {mesh.identity_of(number)}: {exc}"
        elif key == "l":
            self.message = await mesh.leave(number)
        return False


class _LogToFooter(logging.Handler):
    """The nodes' log records as the footer's message: a line on stderr would tear the grid."""

    def __init__(self, controls: Controls, wake: asyncio.Event) -> None:
        super().__init__(logging.INFO)
        self.controls = controls
        self.wake = wake

    def emit(self, record: logging.LogRecord) -> None:
        """Show ``record`` in the footer, unless the demo expects it."""
        args = record.args
        # Loopback carries no multicast here, and the nodes join by seeds instead: the
        # warning that the group is unreachable is the expected case, not news.
        if isinstance(args, tuple) and args and str(args[-1]).startswith("group-send-error"):
            return
        self.controls.message = f"{record.levelname.lower()}: {record.getMessage()}"
        self.wake.set()


@contextlib.contextmanager
def _logs_to(handler: logging.Handler) -> Iterator[None]:
    """The ``kaboodle`` loggers' records to ``handler`` alone, for as long as the demo runs."""
    logger = logging.getLogger("kaboodle")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.handlers[:], logger.propagate, logger.level = saved[0], saved[1], saved[2]


@contextlib.contextmanager
def _cbreak(fd: int) -> Iterator[None]:
    """Single keypresses from the terminal ``fd``, without echo; restored however we leave.
    Ctrl-C still raises SIGINT (cbreak keeps the signal keys)."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    try:
        tty.setcbreak(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_keys(fd: int, keys: asyncio.Queue[str]) -> Callable[[], None]:
    """Start queueing the keys typed on ``fd``; returns what stops it."""
    loop = asyncio.get_running_loop()

    def readable() -> None:
        try:
            data = os.read(fd, 64)
        except OSError:
            data = b""
        if not data:  # the terminal went away: no more keys, but the view goes on
            loop.remove_reader(fd)
            return
        for key in data.decode("utf-8", "ignore"):
            keys.put_nowait(key)

    def stop() -> None:
        loop.remove_reader(fd)

    loop.add_reader(fd, readable)
    return stop


async def run(count: int, for_seconds: float | None, console: Console, keys_fd: int | None) -> None:
    """Run the demo until ``q``, SIGINT, SIGTERM or ``for_seconds``; every node then leaves.

    Args:
        count: how many nodes.
        for_seconds: end after this many seconds (None: run until asked to stop).
        console: where to draw: a live grid on a terminal, plain lines elsewhere.
        keys_fd: a terminal to read keys from, or None for no keys.

    Raises:
        KaboodleError: the nodes cannot start (no loopback interface, no socket).
    """
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    wake = asyncio.Event()

    def finish() -> None:
        stop.set()
        wake.set()

    # Installed first: a signal while the nodes start still ends the demo cleanly.
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, finish)
    if for_seconds is not None:
        loop.call_later(for_seconds, finish)
    mesh = DemoMesh(count)
    controls = Controls(mesh)
    try:
        # Undone in reverse: keys off and the terminal restored first, the grid gone, then
        # the nodes leave (their last words still logged to us), then the loggers restored.
        async with contextlib.AsyncExitStack() as stack:
            stack.enter_context(_logs_to(_LogToFooter(controls, wake)))
            stack.push_async_callback(mesh.stop)
            await mesh.start()
            if console.is_terminal:
                live = stack.enter_context(
                    Live(console=console, screen=True, auto_refresh=False, transient=True)
                )

                def show(views: list[NodeView]) -> None:
                    drawn = screen(
                        views, controls.selected, controls.message, keys=keys_fd is not None
                    )
                    live.update(drawn, refresh=True)
            else:
                console.print(f"kaboodle demo: {count} nodes on {mesh.interface}, port {mesh.port}")
                printed: dict[int, tuple[object, ...]] = {}
                told = [""]

                def show(views: list[NodeView]) -> None:
                    if controls.message != told[0]:
                        told[0] = controls.message
                        console.print(f"{time.strftime('%H:%M:%S')}  {told[0]}", highlight=False)
                    for view in views:
                        seen = (view.state, view.address, view.fingerprint, view.counted)
                        if printed.get(view.number) != seen:
                            printed[view.number] = seen
                            console.print(plain_line(view), highlight=False)

            worker: asyncio.Task[None] | None = None
            if keys_fd is not None:
                keys: asyncio.Queue[str] = asyncio.Queue()
                stack.enter_context(_cbreak(keys_fd))
                stack.callback(_read_keys(keys_fd, keys))
                worker = asyncio.create_task(_act(keys, controls, finish, wake))
            try:
                await _draw_until(stop, wake, mesh, controls, show, size=lambda: console.size)
            finally:
                if worker is not None:
                    worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await worker
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


async def _act(
    keys: asyncio.Queue[str],
    controls: Controls,
    finish: Callable[[], None],
    wake: asyncio.Event,
) -> None:
    """Act on the keys one at a time, in the order typed (a kill finishes before the next)."""
    try:
        while True:
            key = await keys.get()
            if await controls.press(key):
                return
            wake.set()
    finally:
        finish()  # on quit, and on a failure too: a demo deaf to its keys would hang on


async def _draw_until(
    stop: asyncio.Event,
    wake: asyncio.Event,
    mesh: DemoMesh,
    controls: Controls,
    show: Callable[[list[NodeView]], None],
    *,
    size: Callable[[], object],
) -> None:
    """Redraw whenever the nodes' views, the selection, the message or the terminal's
    ``size`` change, until ``stop``."""
    shown: tuple[object, ...] | None = None
    while not stop.is_set():
        views = mesh.views()
        now = (views, controls.selected, controls.message, size())
        if now != shown:
            show(views)
            shown = now
        wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(_REFRESH):
                await wake.wait()
