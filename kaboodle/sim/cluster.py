"""A mesh of protocol nodes on the simulated network, and the ground truth to check it against.

:class:`Cluster` is what tests and benchmarks drive: it builds real
:class:`~kaboodle.protocol.node.Node` objects, exposes the network's lifecycle by host number,
and answers "has the mesh converged?" cheaply enough to ask every 50 virtual milliseconds at
10,000 nodes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.config import Config
from kaboodle.protocol.events import Event
from kaboodle.protocol.fingerprint import fingerprint
from kaboodle.protocol.members import digest_of
from kaboodle.protocol.messages import Tags
from kaboodle.protocol.node import Node

from .audit import FailureAudit
from .loss import LossModel
from .network import DEFAULT_LATENCY, SimNetwork
from .process import Process, Spawn
from .stats import NetStats

__all__ = ["DEFAULT_CHECK_INTERVAL", "INCARNATION_EPOCH", "Cluster"]

DEFAULT_CHECK_INTERVAL = 0.05
"""Virtual seconds between two convergence checks in :meth:`Cluster.run_until_converged`."""

INCARNATION_EPOCH = 1_700_000_000
"""Added to the virtual start time to form a node's first incarnation: real nodes start from
the wall clock, and the size of that number on the wire matters to the byte counts."""


def default_identity(host: int) -> bytes:
    """The identity of a host's nodes: stable across restarts, like a machine id."""
    return b"host-%d" % host


class Cluster:
    """``nodes`` protocol nodes started at virtual time 0 on a seeded network.

    Args:
        nodes: how many hosts to start with (more can be added with :meth:`add_node`).
        seed: the seed of every random draw, nodes' included.
        config: protocol settings for every node (default: the LAN profile).
        loss: per-datagram loss rate in [0, 1), or a :class:`.loss.LossModel`.
        latency: (min, max) one-way latency in seconds (jitter, when ``topology`` is given).
        topology: the one-way delay between two hosts on top of it (see
            :class:`.latency.PlaneLatency`).
        ipv6: IPv6 addresses (default) or IPv4.
        identity: a host's identity bytes.
        tags: a host's tags.
    """

    def __init__(
        self,
        nodes: int = 0,
        *,
        seed: int = 0,
        config: Config | None = None,
        loss: float | LossModel = 0.0,
        latency: tuple[float, float] = DEFAULT_LATENCY,
        ipv6: bool = True,
        identity: Callable[[int], bytes] = default_identity,
        tags: Callable[[int], Tags] | None = None,
        topology: Callable[[int, int], float] | None = None,
    ) -> None:
        self.config = config if config is not None else Config.lan()
        self._identity = identity
        self._tags = tags
        self.network: SimNetwork[Node] = SimNetwork(
            self._make_node, seed=seed, loss=loss, latency=latency, ipv6=ipv6, topology=topology
        )
        """The network underneath, for what this class does not wrap."""
        self.audit: FailureAudit[Node] = FailureAudit(self.network, round_of=_final_round)
        """Event counts and the verdict on every removal."""
        self._truth_at = -1
        self._truth: list[tuple[Addr, bytes]] = []
        self._truth_digest = (0, 0)
        self._truth_fingerprint: int | None = None
        self._live: list[Node] = []
        self._converged_at_version = -1
        self._converged = False
        self.network.add_hosts(nodes)

    def _make_node(self, spawn: Spawn) -> Node:
        return Node(
            spawn.addr,
            self._identity(spawn.host),
            config=self.config,
            rng=spawn.rng,
            incarnation=INCARNATION_EPOCH + int(spawn.now),
            tags=self._tags(spawn.host) if self._tags is not None else (),
        )

    # ----------------------------------------------------------------------------- inspection

    @property
    def now(self) -> float:
        """The virtual time, in seconds."""
        return self.network.now

    @property
    def stats(self) -> NetStats:
        """The network's counters."""
        return self.network.stats

    @property
    def nodes(self) -> list[Node]:
        """The current node of every host, by host number (crashed ones included)."""
        return self.network.nodes

    def node(self, host: int) -> Node:
        """The current node of ``host``."""
        return self.network.node(host)

    def process(self, host: int) -> Process[Node]:
        """The current process of ``host`` (its address, whether it is paused, ...)."""
        return self.network.process(host)

    def addr(self, host: int) -> Addr:
        """The current address of ``host``."""
        return self.network.process(host).addr

    def __len__(self) -> int:
        return len(self.network.hosts)

    def live_hosts(self) -> list[int]:
        """Hosts whose node runs, is not paused and is not leaving."""
        return self.network.live_hosts()

    def live_nodes(self) -> list[Node]:
        """The nodes of :meth:`live_hosts`."""
        self._refresh_truth()
        return list(self._live)

    def record_events(self, host: int | None = None) -> list[tuple[float, int, Event]]:
        """Start recording events as (time, host, event), from every node or from ``host``'s
        nodes only; returns the list that fills up as the simulation runs."""
        log: list[tuple[float, int, Event]] = []

        def record(now: float, proc: Process[Node], events: Sequence[Event]) -> None:
            log.extend((now, proc.host, event) for event in events)

        self.network.add_event_hook(record, host=host)
        return log

    @property
    def version(self) -> int:
        """Changes whenever a node reported an event or the network's membership or topology
        changed: if it is unchanged, no view and no truth changed either."""
        return self.network.generation + self.audit.batches

    # ------------------------------------------------------------------------------ lifecycle

    def add_node(self) -> int:
        """Start one more host now; returns its number."""
        return self.network.add_host()

    def add_nodes_over(self, count: int, window: float, rng: random.Random) -> float:
        """Start ``count`` more hosts at random times within the next ``window`` seconds, as
        a deployment starts them (a start storm); returns when the last one started."""
        start = self.now
        for at in sorted(start + rng.uniform(0, window) for _ in range(count)):
            self.run_until(at)
            self.add_node()
        return self.now

    def crash(self, host: int) -> None:
        """Kill ``host``'s node silently."""
        self.network.crash(host)

    def stop(self, host: int) -> None:
        """Stop ``host``'s node gracefully: it leaves, runs one probe interval more, then exits."""
        self.network.stop(host, self.config.probe_interval)

    def restart(self, host: int) -> Node:
        """Crash ``host``'s node if running and start a new one at a new address."""
        return self.network.restart(host).node

    def pause(self, host: int) -> None:
        """Freeze ``host``'s node (SIGSTOP)."""
        self.network.pause(host)

    def resume(self, host: int) -> None:
        """Thaw ``host``'s node (SIGCONT)."""
        self.network.resume(host)

    def partition(self, groups: Iterable[Iterable[int]]) -> None:
        """Split the network into groups of hosts; unlisted hosts form one more group."""
        self.network.partition(groups)

    def heal(self) -> None:
        """End every partition."""
        self.network.heal()

    # ---------------------------------------------------------------------------------- truth

    def true_members(self) -> list[tuple[Addr, bytes]]:
        """(address, identity) of every live node: what every live node should count."""
        self._refresh_truth()
        return list(self._truth)

    def true_fingerprint(self) -> int:
        """The fingerprint of :meth:`true_members`."""
        self._refresh_truth()
        if self._truth_fingerprint is None:
            self._truth_fingerprint = fingerprint(self._truth)
        return self._truth_fingerprint

    def views_agree(self) -> bool:
        """Cheap check: every live node's view digest equals the digest of the true live set."""
        self._refresh_truth()
        target = self._truth_digest
        return all(node.view_digest() == target for node in self._live)

    def converged(self) -> bool:
        """Every live node has the fingerprint of the true live set.

        Checks digests first (O(1) per node) and confirms with exact fingerprints only when they
        all agree; the answer is cached until :attr:`version` changes.
        """
        version = self.version
        if version != self._converged_at_version:
            self._converged_at_version = version
            self._converged = self.views_agree() and all(
                node.fingerprint() == self.true_fingerprint() for node in self._live
            )
        return self._converged

    def counted_by(self, addr: Addr) -> int:
        """How many live nodes count ``addr`` as a member."""
        self._refresh_truth()
        return sum(1 for node in self._live if node.counts(addr))

    def forgotten(self, addr: Addr) -> bool:
        """No live node counts ``addr`` any more (stops at the first that does)."""
        self._refresh_truth()
        return not any(node.counts(addr) for node in self._live)

    def fingerprints(self) -> dict[int, int]:
        """The exact fingerprint of every live host's view, by host number."""
        return {h: self.node(h).fingerprint() for h in self.live_hosts()}

    # ------------------------------------------------------------------------------------ run

    def run_until(self, t: float) -> None:
        """Run the simulation up to virtual time ``t``."""
        self.network.run_until(t)

    def run_for(self, seconds: float) -> None:
        """Run ``seconds`` of virtual time."""
        self.network.run_for(seconds)

    def run_until_condition(
        self,
        predicate: Callable[[], bool],
        deadline: float,
        *,
        step: float = DEFAULT_CHECK_INTERVAL,
    ) -> float | None:
        """Run until ``predicate()`` holds, checking every ``step`` virtual seconds.

        Returns:
            The virtual time at which it first held, or None if it did not by ``deadline``
            (the clock is then at ``deadline``).
        """
        while True:
            if predicate():
                return self.now
            if self.now >= deadline:
                return None
            self.network.run_until(min(self.now + step, deadline))

    def run_until_converged(
        self, deadline: float, *, step: float = DEFAULT_CHECK_INTERVAL
    ) -> float | None:
        """Run until :meth:`converged`; returns the time, or None if not by ``deadline``."""
        return self.run_until_condition(self.converged, deadline, step=step)

    def run_until_forgotten(
        self, addrs: Sequence[Addr], deadline: float, *, step: float = DEFAULT_CHECK_INTERVAL
    ) -> float | None:
        """Run until no live node counts any of ``addrs``; returns the time or None."""
        return self.run_until_condition(
            lambda: all(self.forgotten(a) for a in addrs), deadline, step=step
        )

    # ------------------------------------------------------------------------------- internal

    def _refresh_truth(self) -> None:
        generation = self.network.generation
        if generation == self._truth_at:
            return
        self._truth_at = generation
        live = self.network.live_processes()
        self._live = [proc.node for proc in live]
        self._truth = [(proc.addr, proc.node.identity) for proc in live]
        self._truth_digest = digest_of(self._truth)
        self._truth_fingerprint = None


def _final_round(proc: Process[Node]) -> float:
    """How long before a burial the observer's last call went out: a probe interval, stretched
    by its health (the lead Merger gives the last call)."""
    node = proc.node
    return node.config.probe_interval * (node.health + 1)
