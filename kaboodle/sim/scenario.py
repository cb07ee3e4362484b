"""Scenarios: start a mesh, wait for it to converge, disturb it, and measure the recovery.

The disturbances happen ``action_delay`` virtual seconds after the mesh first converged, all at
the same moment and in this order: crash ``kill`` random nodes, pause ``pause`` other random
nodes for ``pause_s`` seconds, split the live nodes into two random halves for
``partition_s`` seconds. If the mesh never converges they never happen.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.config import PROFILES, Config
from kaboodle.protocol.node import Node

from .cluster import DEFAULT_CHECK_INTERVAL, Cluster
from .loss import BurstyLoss, LossModel
from .process import Process

__all__ = ["ScenarioResult", "ScenarioSpec", "run_scenario"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioSpec:
    """What to simulate. Invalid values raise ValueError.

    ``config`` overrides ``profile`` when given.
    """

    nodes: int
    duration: float
    seed: int = 0
    loss: float = 0.0
    burst_ms: float | None = None
    """With a value, ``loss`` comes in bursts of that mean length (Gilbert-Elliott, per directed
    link: :class:`~kaboodle.sim.loss.BurstyLoss`), at ``burst_loss`` inside them."""
    burst_loss: float = 0.5
    loss_model: LossModel | None = None
    """With a value, decides every datagram's fate in place of ``loss`` and bursts (e.g. a
    :class:`~kaboodle.sim.loss.DirectedLoss` that cuts one direction); ``loss`` is then only
    reported."""
    latency_ms: tuple[float, float] = (1.0, 5.0)
    kill: int = 0
    pause: int = 0
    pause_s: float = 0.0
    partition_s: float | None = None
    profile: str = "lan"
    config: Config | None = None
    ipv6: bool = True
    action_delay: float = 5.0
    """Virtual seconds after the first convergence at which the disturbances happen."""
    check_interval: float = DEFAULT_CHECK_INTERVAL
    """Virtual seconds between convergence checks (the resolution of every reported time)."""

    def __post_init__(self) -> None:
        low, high = self.latency_ms
        problems = [
            (self.nodes < 1, f"nodes must be >= 1, not {self.nodes}"),
            (not self.duration > 0, f"duration must be > 0, not {self.duration}"),
            (not 0 <= self.loss < 1, f"loss must be in [0, 1), not {self.loss}"),
            (
                self.burst_ms is not None
                and not (self.burst_ms > 0 and self.loss <= self.burst_loss <= 1),
                f"bursts need burst_ms > 0 and loss <= burst_loss <= 1, not {self.burst_ms} ms "
                f"at {self.burst_loss}",
            ),
            (
                self.loss_model is not None and self.burst_ms is not None,
                "give a loss model or bursts, not both",
            ),
            (not 0 <= low <= high, f"latency must be 0 <= min <= max ms, not {low}:{high}"),
            (self.kill < 0 or self.pause < 0, "kill and pause counts must be >= 0"),
            (
                self.kill + self.pause > self.nodes,
                f"cannot kill {self.kill} and pause {self.pause} of {self.nodes} nodes",
            ),
            (self.pause_s < 0, f"pause seconds must be >= 0, not {self.pause_s}"),
            (
                self.partition_s is not None and not self.partition_s > 0,
                f"partition seconds must be > 0, not {self.partition_s}",
            ),
            (
                self.config is None and self.profile not in PROFILES,
                f"profile must be one of {', '.join(PROFILES)}, not {self.profile!r}",
            ),
            (not self.check_interval > 0, "check_interval must be > 0"),
            (self.action_delay < 0, "action_delay must be >= 0"),
        ]
        for failed, message in problems:
            if failed:
                raise ValueError(message)

    def make_config(self) -> Config:
        """The protocol settings of every node."""
        return self.config if self.config is not None else PROFILES[self.profile]()

    def make_loss(self) -> float | LossModel:
        """The network's loss: a rate, bursts of it, or the given model."""
        if self.loss_model is not None:
            return self.loss_model
        if self.burst_ms is None or not self.loss:
            return self.loss
        return BurstyLoss(
            self.loss, burst_s=self.burst_ms / 1000, burst_loss=self.burst_loss, seed=self.seed
        )


@dataclass(slots=True, kw_only=True)
class ScenarioResult:
    """What happened. Times are virtual seconds, measured at ``check_interval`` resolution."""

    nodes: int
    seed: int
    duration: float
    profile: str
    loss: float
    burst_ms: float | None
    """The loss's mean burst length (None: uniform loss)."""
    latency_ms: tuple[float, float]
    converged_s: float | None
    """From the start until every live node had the fingerprint of the true live set."""
    detect_s: list[float | None] | None
    """Per killed node, from its crash until no live node counted it ([] without --kill, None
    when the kills never happened)."""
    heal_s: float | None
    """From the heal until every live node had the one correct fingerprint again."""
    recovered_s: float | None
    """From the last disturbance (kill, resume or heal) until converged again."""
    final_converged: bool
    """Converged at the end of the run."""
    false_failures: int
    """Removals (PeerFailed or PeerLeft) of a member that was live and reachable."""
    pause_false_failures: int
    """Removals of a member that was paused at the time (not in false_failures)."""
    msgs_per_node_s: float
    bytes_per_node_s: float
    max_datagram_bytes: int
    wall_s: float
    disturbed_at: float | None
    """When the disturbances happened, or None."""
    partition_s: float | None = None
    """How long the partition lasted, or None without one."""
    killed: list[int] = field(default_factory=list)
    paused: list[int] = field(default_factory=list)
    messages: int = 0
    bytes: int = 0
    lost: int = 0
    deliveries: int = 0
    """Datagrams handed to nodes (a multicast once per receiver)."""
    timers: int = 0
    """Timers handed back to nodes: with deliveries, the simulator's work."""
    events: dict[str, int] = field(default_factory=dict)
    """Events the nodes reported, by class name."""
    removals: dict[str, int] = field(default_factory=dict)
    """PeerFailed and PeerLeft events by verdict: gone, paused, partitioned, stale, late,
    false, unknown (see :mod:`.audit`)."""
    node_stats: dict[str, int] = field(default_factory=dict)
    """The nodes' own counters (drops by reason, refutations, syncs), summed."""

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready data, times rounded to the millisecond."""
        data = asdict(self)
        data["latency_ms"] = list(self.latency_ms)
        for key in ("converged_s", "heal_s", "recovered_s", "disturbed_at", "wall_s"):
            data[key] = _ms(data[key])
        if self.detect_s is not None:
            data["detect_s"] = [_ms(s) for s in self.detect_s]
        return data

    def to_json(self) -> str:
        """The result as one JSON object on one line."""
        return json.dumps(self.to_dict(), sort_keys=False)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


class _Run:
    """The bookkeeping of one scenario run."""

    def __init__(self, spec: ScenarioSpec) -> None:
        self.spec = spec
        low, high = spec.latency_ms
        self.cluster = Cluster(
            spec.nodes,
            seed=spec.seed,
            config=spec.make_config(),
            loss=spec.make_loss(),
            latency=(low / 1000, high / 1000),
            ipv6=spec.ipv6,
        )
        # The scenario's choices get their own stream, so they do not perturb the network's.
        self.rng = random.Random(f"kaboodle.sim.scenario:{spec.seed}")
        self.converged_at: float | None = None
        self.disturbed_at: float | None = None
        self.killed: list[tuple[int, Addr]] = []
        self.detected: list[float | None] = []
        self.paused: list[int] = []
        self.healed_at: float | None = None
        self.heal_s: float | None = None
        self.last_disturbance: float | None = None
        self.recovered_s: float | None = None

    def run(self) -> None:
        spec, cluster = self.spec, self.cluster
        step = spec.check_interval
        seen = -1
        while True:
            version = cluster.version
            if version != seen:  # no event and no lifecycle change: nothing can have changed
                seen = version
                self.check()
            if cluster.now >= spec.duration:
                return
            cluster.run_until(min(cluster.now + step, spec.duration))

    def check(self) -> None:
        cluster, now = self.cluster, self.cluster.now
        converged = cluster.converged()
        if converged and self.converged_at is None:
            self.converged_at = now
            spec = self.spec
            if spec.kill or spec.pause or spec.partition_s is not None:
                cluster.network.call_at(now + spec.action_delay, self.disturb)
        if converged and self.healed_at is not None and self.heal_s is None:
            self.heal_s = now - self.healed_at
        if converged and self.last_disturbance is not None and self.recovered_s is None:
            self.recovered_s = now - self.last_disturbance
        for index, (_, addr) in enumerate(self.killed):
            if self.detected[index] is None and cluster.forgotten(addr):
                assert self.disturbed_at is not None
                self.detected[index] = now - self.disturbed_at

    def disturb(self) -> None:
        spec, cluster, rng = self.spec, self.cluster, self.rng
        now = cluster.now
        self.disturbed_at = self.last_disturbance = now
        live = cluster.live_hosts()
        chosen = rng.sample(live, min(len(live), spec.kill + spec.pause))
        for host in chosen[: spec.kill]:
            self.killed.append((host, cluster.addr(host)))
            self.detected.append(None)
            cluster.crash(host)
        self.paused = chosen[spec.kill :]
        for host in self.paused:
            cluster.pause(host)
        if self.paused:
            procs = [cluster.process(h) for h in self.paused]
            cluster.network.call_at(now + spec.pause_s, lambda: self.resume(procs))
        if spec.partition_s is not None:
            halves = cluster.live_hosts()
            rng.shuffle(halves)
            middle = len(halves) // 2
            groups = [halves[:middle], halves[middle:]]
            # Paused nodes are not live, but they come back: each lands in a random half.
            for host in self.paused:
                groups[rng.randrange(2)].append(host)
            cluster.partition(groups)
            cluster.network.call_at(now + spec.partition_s, self.heal)

    def resume(self, procs: list[Process[Node]]) -> None:
        for proc in procs:
            if proc is self.cluster.process(proc.host):  # not restarted meanwhile
                self.cluster.resume(proc.host)
        self.mark_disturbance()

    def heal(self) -> None:
        self.cluster.heal()
        self.healed_at = self.cluster.now
        self.mark_disturbance()

    def mark_disturbance(self) -> None:
        self.last_disturbance = self.cluster.now
        self.recovered_s = None


def run_scenario(spec: ScenarioSpec) -> ScenarioResult:
    """Run ``spec`` to its end and report what happened."""
    started = time.perf_counter()
    run = _Run(spec)
    run.run()
    wall = time.perf_counter() - started
    cluster = run.cluster
    stats = cluster.stats
    node_stats: dict[str, int] = {}
    for node in cluster.nodes:
        for key, value in node.stats.items():
            node_stats[key] = node_stats.get(key, 0) + value
    per_node_s = spec.nodes * spec.duration
    detect: list[float | None] | None = run.detected
    if spec.kill and run.disturbed_at is None:
        detect = None
    return ScenarioResult(
        nodes=spec.nodes,
        seed=spec.seed,
        duration=spec.duration,
        profile=spec.profile if spec.config is None else "custom",
        loss=spec.loss,
        burst_ms=spec.burst_ms,
        latency_ms=spec.latency_ms,
        converged_s=run.converged_at,
        detect_s=detect,
        heal_s=run.heal_s,
        recovered_s=run.recovered_s,
        final_converged=cluster.converged(),
        false_failures=cluster.audit.false_failures,
        pause_false_failures=cluster.audit.pause_false_failures,
        msgs_per_node_s=stats.messages / per_node_s,
        bytes_per_node_s=stats.bytes_sent / per_node_s,
        max_datagram_bytes=stats.max_datagram,
        wall_s=wall,
        disturbed_at=run.disturbed_at,
        partition_s=spec.partition_s,
        killed=[host for host, _ in run.killed],
        paused=run.paused,
        messages=stats.messages,
        bytes=stats.bytes_sent,
        lost=stats.lost,
        deliveries=stats.delivered,
        timers=stats.timers,
        events=dict(cluster.audit.events),
        removals=dict(cluster.audit.verdicts),
        node_stats=dict(sorted(node_stats.items())),
    )
