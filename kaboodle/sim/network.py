"""A deterministic network of simulated hosts: who runs, who is paused, who reaches whom.

All randomness (latency, loss, the nodes' own generators) comes from one
``random.Random(seed)``, so a seed replays a run exactly. Hosts are numbered from 0 and keep
their number across restarts; each start of a node on a host is a new :class:`Process` with a
new address (see :mod:`.addresses`). Moving datagrams and timers through time is
:mod:`.engine`'s job.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.effects import Effects
from kaboodle.protocol.messages import Message

from .addresses import sim_address
from .engine import Engine, EventHook
from .loss import LossModel
from .process import ACTIVE, CRASHED, PAUSED, N, Process, Spawn

__all__ = ["DEFAULT_HOLD_LIMIT", "DEFAULT_LATENCY", "EventHook", "SimNetwork"]

DEFAULT_LATENCY = (0.001, 0.005)
"""One-way latency range in seconds, drawn uniformly per datagram."""

DEFAULT_HOLD_LIMIT = 256
"""Datagrams a paused process buffers (its socket's receive queue); the rest are dropped."""

_REGROUPINGS_KEPT = 16


class SimNetwork(Engine[N]):
    """A seeded, virtual-time network of hosts, each running one node process at a time.

    Args:
        factory: builds the node of a new process from a :class:`Spawn`.
        seed: the seed of every random draw.
        loss: probability that one datagram (or one multicast reception) is lost, in [0, 1).
        latency: (min, max) one-way latency in seconds, drawn uniformly per datagram.
        ipv6: address hosts as ``[fd00::N]`` (default) or ``10.x.y.z``.
        decode: turns a multicast datagram into a message, or None when it does not decode;
            defaults to :func:`kaboodle.protocol.codec.decode`.
        hold_limit: datagrams a paused process buffers.
        topology: the one-way delay between two hosts, added to each unicast's latency (see
            :class:`.latency.PlaneLatency`).
    """

    def __init__(
        self,
        factory: Callable[[Spawn], N],
        *,
        seed: int = 0,
        loss: float | LossModel = 0.0,
        latency: tuple[float, float] = DEFAULT_LATENCY,
        ipv6: bool = True,
        decode: Callable[[bytes], Message | None] | None = None,
        hold_limit: int = DEFAULT_HOLD_LIMIT,
        topology: Callable[[int, int], float] | None = None,
    ) -> None:
        master = random.Random(seed)
        # Two streams from one seed: node generators do not shift when loss or latency
        # settings change how many draws the network makes.
        super().__init__(
            random.Random(master.getrandbits(64)),
            loss,
            latency,
            decode,
            hold_limit,
            topology=topology,
        )
        self._seeds = random.Random(master.getrandbits(64))
        self.generation = 0
        """Bumped by every change of who is live or who can reach whom (crash, stop, restart,
        pause, resume, partition, heal, new host): cheap cache invalidation for observers."""
        # The latest regroupings' times and the assignments they replaced, newest last: enough
        # to look back over a probe round, in a run that partitions every few seconds.
        self._regroupings: deque[tuple[float, list[int]]] = deque(maxlen=_REGROUPINGS_KEPT)
        self.ipv6 = ipv6
        self._factory = factory
        self._hosts: list[Process[N]] = []
        self._host_group: list[int] = []

    # ----------------------------------------------------------------------------- inspection

    @property
    def hosts(self) -> Sequence[Process[N]]:
        """The current process of every host, by host number (crashed ones included)."""
        return self._hosts

    @property
    def nodes(self) -> list[N]:
        """The current node of every host, by host number (crashed ones included)."""
        return [proc.node for proc in self._hosts]

    def process(self, host: int) -> Process[N]:
        """The current process of ``host``."""
        return self._hosts[host]

    def node(self, host: int) -> N:
        """The current node of ``host``."""
        return self._hosts[host].node

    def process_at(self, addr: Addr) -> Process[N] | None:
        """The process that has (or had) ``addr``, in any life, or None if none ever did."""
        return self._by_addr.get(addr)

    def live_hosts(self) -> list[int]:
        """Hosts whose process is live: running, not paused, not leaving."""
        return [proc.host for proc in self._hosts if proc.live]

    def live_processes(self) -> list[Process[N]]:
        """The live processes, by host number."""
        return [proc for proc in self._hosts if proc.live]

    # ------------------------------------------------------------------------------ lifecycle

    def add_host(self) -> int:
        """Add a host, start a node on it now, and return the host number."""
        host = len(self._hosts)
        self._spawn(host, 0)
        return host

    def add_hosts(self, count: int) -> list[int]:
        """Add ``count`` hosts, starting their nodes in host order, and return their numbers."""
        return [self.add_host() for _ in range(count)]

    def crash(self, host: int) -> None:
        """Kill ``host``'s process silently: no more deliveries, its timers are dropped."""
        self._crash(self._hosts[host])

    def stop(self, host: int, grace: float) -> None:
        """Stop ``host``'s node gracefully: call ``leave``, keep delivering to it for ``grace``
        seconds, then crash it.

        Raises:
            ValueError: the process is crashed or paused.
        """
        proc = self._hosts[host]
        if proc.mode != ACTIVE:
            raise ValueError(f"cannot stop {proc!r}: it is not active")
        if proc.stopping:
            return
        proc.stopping = True
        self.generation += 1
        self._apply(proc, proc.node.leave(self.now))
        self.call_at(self.now + grace, lambda: self._crash(proc))

    def restart(self, host: int) -> Process[N]:
        """Crash ``host``'s process (if running) and start a new one at a new address."""
        old = self._hosts[host]
        self._crash(old)
        return self._spawn(host, old.life + 1)

    def pause(self, host: int) -> None:
        """Freeze ``host``'s process (SIGSTOP): datagrams are buffered up to the hold limit and
        timers wait; both are handed over at resume time, in their original order.

        Raises:
            ValueError: the process is crashed.
        """
        proc = self._hosts[host]
        if proc.mode == CRASHED:
            raise ValueError(f"cannot pause {proc!r}")
        if proc.mode != PAUSED:
            proc.freeze(self.now)
            self.generation += 1

    def resume(self, host: int) -> None:
        """Thaw ``host``'s process (SIGCONT); a no-op unless it is paused."""
        self._resume(self._hosts[host])

    def partition(self, groups: Iterable[Iterable[int]]) -> None:
        """Split the network: hosts in the same group reach each other, no one else.

        Hosts in no group form one more group together. A restarted host stays in its group.
        """
        assignment = [0] * len(self._hosts)
        for number, hosts in enumerate(groups, start=1):
            for host in hosts:
                assignment[host] = number
        self._set_groups(assignment)

    def heal(self) -> None:
        """End every partition: all hosts reach each other again."""
        self._set_groups([0] * len(self._hosts))

    def group_of(self, host: int) -> int:
        """The partition group of ``host`` (0 when not partitioned)."""
        return self._host_group[host]

    @property
    def regrouped_at(self) -> float:
        """When the last partition began or ended (-inf: never)."""
        return self._regroupings[-1][0] if self._regroupings else float("-inf")

    def reunited_at(self, a: int, b: int, since: float) -> float | None:
        """When hosts ``a`` and ``b``, in one group now, last came together after a partition
        had kept them apart, if that was after ``since``; else None."""
        for at, before in reversed(self._regroupings):
            if at <= since:
                break
            if a < len(before) and b < len(before) and before[a] != before[b]:
                return at
        return None

    # ------------------------------------------------------------------------------ injection

    def inject(self, host: int, src: Addr, data: bytes, *, delay: float = 0.0) -> None:
        """Deliver ``data`` to ``host``'s process as if sent from ``src`` (which need not be a
        simulated node), ``delay`` seconds from now; partitions and loss do not apply."""
        self._inject(self._hosts[host], src, data, delay)

    def apply(self, host: int, effects: Effects) -> None:
        """Carry out ``effects`` as if ``host``'s node had returned them now (for tests that call
        a node directly)."""
        self._apply(self._hosts[host], effects)

    # ------------------------------------------------------------------------------- internal

    def _spawn(self, host: int, life: int) -> Process[N]:
        addr = sim_address(host, life, ipv6=self.ipv6)
        rng = random.Random(self._seeds.getrandbits(64))
        node = self._factory(Spawn(host=host, life=life, addr=addr, rng=rng, now=self.now))
        if node.addr != addr:
            raise ValueError(f"the factory built a node at {node.addr}, expected {addr}")
        new_host = host == len(self._hosts)
        group = 0 if new_host else self._host_group[host]
        proc: Process[N] = Process(host, life, node, group, self.now)
        # Registered before it starts, so that hooks called from its start see it in place.
        if new_host:
            self._hosts.append(proc)
            self._host_group.append(group)
        else:
            self._hosts[host] = proc
        self._by_addr[addr] = proc
        self._receivers = None
        self.generation += 1
        self._apply(proc, node.start(self.now))
        return proc

    def _crash(self, proc: Process[N]) -> None:
        if proc.mode != CRASHED:
            proc.kill(self.now)
            self._receivers = None
            self.generation += 1

    def _resume(self, proc: Process[N]) -> None:
        if proc.mode == PAUSED:
            self.generation += 1
            self._release(proc, proc.thaw(self.now))

    def _set_groups(self, assignment: list[int]) -> None:
        self._regroupings.append((self.now, self._host_group))
        self._host_group = assignment
        for proc in self._by_addr.values():
            proc.group = assignment[proc.host]
        self.generation += 1
