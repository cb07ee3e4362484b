"""Judging proximity in the simulator: how close the nodes' RTT estimates come to the round
trips a latency model makes, and whether each node finds its nearest peers."""

from __future__ import annotations

from kaboodle.protocol.node import Node
from kaboodle.protocol.proximity import Proximity

from .latency import PlaneLatency
from .network import SimNetwork

__all__ = ["ProximityAudit"]


class ProximityAudit:
    """How well the nodes of a simulated mesh estimate their round trips under a model.

    Args:
        network: the simulated network whose live nodes are judged.
        model: the latency model it runs on.
        jitter: the network's (min, max) one-way latency draw, whose mean both ways is part
            of every true round trip.
    """

    __slots__ = ("_jitter", "_model", "_network")

    def __init__(
        self, network: SimNetwork[Node], model: PlaneLatency, jitter: tuple[float, float]
    ) -> None:
        self._network = network
        self._model = model
        self._jitter = jitter[0] + jitter[1]  # twice the mean one-way draw: there and back

    def true_rtt(self, a: int, b: int) -> float:
        """The expected round trip between hosts ``a`` and ``b``."""
        return self._model.rtt(a, b) + self._jitter

    def errors(self) -> list[float]:
        """The relative error of every estimate a live node holds of a live peer."""
        errors = []
        for host, estimates in self._estimates().items():
            for peer, estimate in estimates.items():
                true = self.true_rtt(host, peer)  # once: a model lookup for each of N^2 pairs
                errors.append(abs(estimate - true) / true)
        return errors

    def nearest_found(self, n: int) -> list[int]:
        """For each live node: how many of its true ``n`` nearest live peers are among the
        ``n`` it estimates nearest (by estimate among the peers whose coordinate it has)."""
        estimates = self._estimates()
        found = []
        for host, known in estimates.items():
            others = [h for h in estimates if h != host]
            true = set(sorted(others, key=lambda h: self.true_rtt(host, h))[:n])
            guessed = set(sorted(known, key=known.__getitem__)[:n])
            found.append(len(true & guessed))
        return found

    def _estimates(self) -> dict[int, dict[int, float]]:
        """Each live node's estimates of its live peers, by host number."""
        nodes: dict[int, Proximity] = {
            proc.host: proc.node.proximity
            for proc in self._network.live_processes()
            if proc.node.proximity is not None
        }
        out: dict[int, dict[int, float]] = {}
        for host, proximity in nodes.items():
            known = out[host] = {}
            for addr in proximity.peers:
                peer = self._network.process_at(addr)
                estimate = proximity.estimate(addr)
                if peer is not None and peer.host in nodes and estimate is not None:
                    known[peer.host] = estimate
        return out
