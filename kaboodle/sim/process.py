"""Processes: one life of a node on a simulated host, and what the network needs of a node.

A host keeps its number across restarts; every start of a node on it is a new :class:`Process`
with a new address, as a restarted program binds a new ephemeral port.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.messages import Message
from kaboodle.protocol.timers import Timer

__all__ = ["ACTIVE", "CRASHED", "PAUSED", "N", "Process", "SimNode", "Spawn"]

# Process modes. Anything non-zero is off the network's fast path, so its hot loop tests one int.
ACTIVE = 0
PAUSED = 1
CRASHED = 2


class SimNode(Protocol):
    """What the network needs of a node: the sans-IO entry points of the protocol's Node."""

    @property
    def addr(self) -> Addr:
        """The node's unicast address (the source of everything it sends)."""
        ...

    def start(self, now: float) -> Effects:
        """Begin: first announce, first timers."""
        ...

    def handle_datagram(self, now: float, src: Addr, data: bytes) -> Effects:
        """Handle one unicast datagram from ``src``."""
        ...

    def handle_message(self, now: float, src: Addr, msg: Message) -> Effects:
        """Handle one already decoded (multicast) message from ``src``."""
        ...

    def handle_timer(self, now: float, timer: Timer) -> Effects:
        """Handle a timer the node asked for."""
        ...

    def leave(self, now: float) -> Effects:
        """Say goodbye to the mesh."""
        ...


N = TypeVar("N", bound=SimNode)


@dataclass(frozen=True, slots=True)
class Spawn:
    """What a node factory gets to build the node of a new process."""

    host: int
    """The host number, stable across restarts."""
    life: int
    """How many processes ran on this host before this one."""
    addr: Addr
    """The new process's address, unique to this life."""
    rng: random.Random
    """The node's own generator, derived from the network's seed."""
    now: float
    """The virtual time of the start."""


class Process(Generic[N]):
    """One life of a node on a host: its address, its node and whether it runs.

    The network owns the mutable fields; read them, never assign them.
    """

    __slots__ = (
        "addr",
        "crashed_at",
        "group",
        "held",
        "held_datagrams",
        "host",
        "life",
        "mode",
        "node",
        "paused_at",
        "resumed_at",
        "sent",
        "sent_bytes",
        "started_at",
        "stopping",
    )

    def __init__(self, host: int, life: int, node: N, group: int, now: float) -> None:
        self.host = host
        self.life = life
        self.node = node
        self.addr: Addr = node.addr
        self.mode = ACTIVE
        self.stopping = False
        self.group = group
        self.held: list[tuple[int, Any, Any]] | None = None
        self.held_datagrams = 0
        self.started_at = now
        self.paused_at: float | None = None
        self.resumed_at: float | None = None
        """When its last pause ended (None: never paused)."""
        self.crashed_at: float | None = None
        self.sent = 0
        """Datagrams this process sent (a multicast counts once)."""
        self.sent_bytes = 0
        """Bytes of those datagrams."""

    @property
    def crashed(self) -> bool:
        """The process is gone: nothing is delivered to it any more."""
        return self.mode == CRASHED

    @property
    def paused(self) -> bool:
        """The process is stopped like SIGSTOP: deliveries and timers wait for its resume."""
        return self.mode == PAUSED

    @property
    def running(self) -> bool:
        """The process exists (it may be paused or leaving)."""
        return self.mode != CRASHED

    @property
    def live(self) -> bool:
        """Running, not paused and not leaving: a member the mesh should count."""
        return self.mode == ACTIVE and not self.stopping

    # State changes, called by the network only.

    def freeze(self, now: float) -> None:
        """Pause: from now on deliveries and timers are held."""
        self.mode = PAUSED
        self.paused_at = now
        self.held = []
        self.held_datagrams = 0

    def hold(self, entry: tuple[int, Any, Any], limit: int) -> bool:
        """Keep a datagram for the resume; False when the buffer is full (or not paused)."""
        if self.held is None or self.held_datagrams >= limit:
            return False
        self.held_datagrams += 1
        self.held.append(entry)
        return True

    def thaw(self, now: float) -> list[tuple[int, Any, Any]]:
        """Resume: return what was held, in arrival order."""
        held = self.held or []
        self.mode = ACTIVE
        self.resumed_at = now
        self.held = None
        self.held_datagrams = 0
        self.paused_at = None
        return held

    def kill(self, now: float) -> None:
        """Crash: nothing is delivered any more, what was held is dropped."""
        self.mode = CRASHED
        self.held = None
        self.held_datagrams = 0
        self.crashed_at = now

    def __repr__(self) -> str:
        state = ("active", "paused", "crashed")[self.mode] + (" stopping" if self.stopping else "")
        return f"<Process host={self.host} life={self.life} {self.addr} {state}>"
