"""The nodes of ``kaboodle demo``: a mesh of nodes in this process on loopback, and what the
keys do to them.

:class:`DemoMesh` owns the nodes and the actions on them (kill, pause, restart, leave);
:class:`Controls` maps the keys to those actions; :meth:`DemoMesh.views` takes plain
:class:`NodeView` snapshots, which cli/demo_screen.py draws and cli/demo_run.py shows on a
terminal. Nothing here draws.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from kaboodle import Config, Kaboodle, KaboodleError, MemberState
from kaboodle.runtime.control.views import fingerprint_text

__all__ = [
    "INTERFACE",
    "Controls",
    "DemoMesh",
    "MemberRow",
    "NodeState",
    "NodeView",
]

INTERFACE = "lo"
"""Loopback: every node of the demo is in this process, so no other host needs to see them."""


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

    @property
    def shown_fingerprint(self) -> str:
        """Its fingerprint as the command line shows it, or ``-`` for a stopped node."""
        return fingerprint_text(self.fingerprint) if self.fingerprint is not None else "-"


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
        return await self._stop(number, NodeState.killed, "killed: the others will find it failed")

    async def leave(self, number: int) -> str:
        """Make node ``number`` leave gracefully: the others record it as left at once.

        Returns:
            What happened, for the footer.
        """
        return await self._stop(number, NodeState.left, "left the mesh")

    async def _stop(self, number: int, then: NodeState, done: str) -> str:
        """Stop node ``number``: gracefully when ``then`` is left, else without a word."""
        slot = self._slot(number)
        name = self.identity_of(number)
        if slot.state != NodeState.running:
            return f"{name} is {slot.state} already: r restarts it"
        await slot.kb.stop(leave=then == NodeState.left)
        slot.state = then
        return f"{name} {done}"

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
