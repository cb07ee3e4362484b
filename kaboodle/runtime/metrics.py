"""Prometheus metrics of a running node, served over HTTP on ``/metrics`` (``kaboodle join
--metrics-port``; needs the ``metrics`` extra, prometheus-client).

The node's counters are read when Prometheus scrapes, not pushed as they change: the
datagram path pays nothing for metrics. prometheus-client serves from a thread of its own,
and the node belongs to its event loop's thread, so each scrape asks the loop for a copy of
the node's state and waits for it (a second at most).

Names follow Prometheus's conventions: a ``kaboodle_`` prefix, ``_total`` counters, bytes and
seconds. Counters without a metric of their own are kept, under ``kaboodle_node_events_total``.
"""

from __future__ import annotations

import asyncio
import errno
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from kaboodle.protocol.addr import Addr
from kaboodle.runtime.peer_info import PeerInfo
from kaboodle.version import __version__

from .control.views import members_by_state
from .errors import KaboodleError

__all__ = ["MetricsServer", "NodeCollector", "Observed", "Snapshot", "serve_metrics"]

_SCRAPE_TIMEOUT = 1.0

# Counters with a metric of their own: (stats key, metric name, help).
_PLAIN = (
    ("probes", "kaboodle_probes", "Probes of a member sent by this node's failure detector."),
    ("suspicions", "kaboodle_suspicions", "Suspicions of a member this node started."),
    ("refuted", "kaboodle_refutations", "Suspicions of this node that it refuted."),
    ("sync-sent", "kaboodle_syncs", "Full state exchanges this node sent."),
    (
        "fingerprint-changes",
        "kaboodle_fingerprint_changes",
        "Changes of the fingerprint of this node's view.",
    ),
    (
        "events-dropped",
        "kaboodle_events_dropped",
        "Events lost by subscribers that fell behind.",
    ),
)
_OUTCOMES = {
    "probes-acked": "acked",
    "probes-acked-indirect": "acked-indirect",
    "probes-failed": "failed",
}
# Counters with a label: (stats key prefix, metric name, label, help).
_LABELLED = (
    ("sent:", "kaboodle_datagrams_sent", "kind", "Datagrams sent, by message kind."),
    ("sent-bytes:", "kaboodle_sent_bytes", "kind", "Bytes sent (as on the wire), by kind."),
    ("received:", "kaboodle_datagrams_received", "kind", "Datagrams received, by kind."),
    ("received-bytes:", "kaboodle_received_bytes", "kind", "Bytes received, by kind."),
    ("dropped:", "kaboodle_dropped", "reason", "What this node dropped, by reason."),
    ("send-error:", "kaboodle_send_errors", "error", "Failed sends to a member, by errno."),
    ("group-send-error:", "kaboodle_group_send_errors", "error", "Failed group sends, by errno."),
)
# Totals of the labelled ones, or reported by other metrics: not repeated as node events.
_COVERED = {"sent", "sent-bytes", "received", "received-group", "received-unicast"}


class Observed(Protocol):
    """What the collector reads of a node (a :class:`kaboodle.Kaboodle`)."""

    @property
    def running(self) -> bool: ...
    @property
    def stats(self) -> Counter[str]: ...
    @property
    def uptime(self) -> float: ...
    @property
    def wire(self) -> str: ...
    @property
    def self_addr(self) -> Addr: ...
    def peer_states(self) -> dict[Addr, PeerInfo]: ...
    def fingerprint(self) -> int: ...


@dataclass(frozen=True)
class Snapshot:
    """A copy of what the metrics show, taken on the node's loop."""

    stats: Counter[str]
    members: dict[str, int]
    fingerprint: int
    uptime: float
    wire: str
    addr: str


def snapshot(node: Observed) -> Snapshot | None:
    """A copy of ``node``'s state for the metrics, or None when it is not running."""
    if not node.running:
        return None
    return Snapshot(
        stats=Counter(node.stats),
        members=members_by_state(node.peer_states()),
        fingerprint=node.fingerprint(),
        uptime=node.uptime,
        wire=node.wire,
        addr=str(node.self_addr),
    )


class NodeCollector(Collector):
    """A prometheus-client collector for one node on the event loop ``loop``."""

    def __init__(self, node: Observed, loop: asyncio.AbstractEventLoop) -> None:
        self._node = node
        self._loop = loop

    def _take(self) -> Snapshot | None:
        async def take() -> Snapshot | None:
            return snapshot(self._node)

        future = asyncio.run_coroutine_threadsafe(take(), self._loop)
        try:
            return future.result(_SCRAPE_TIMEOUT)
        except TimeoutError:
            future.cancel()
            return None  # a loop too busy to answer: an empty scrape, not a hung one

    def collect(self) -> Iterator[Metric]:
        """The node's metrics as of now (none while it is not running)."""
        snap = self._take()
        if snap is None:
            return
        info = GaugeMetricFamily(
            "kaboodle_node_info",
            "The node: version, wire and address.",
            labels=["version", "wire", "addr"],
        )
        info.add_metric([__version__, snap.wire, snap.addr], 1)
        yield info
        members = GaugeMetricFamily(
            "kaboodle_members",
            "Members in this node's view, self included, by state.",
            labels=["state"],
        )
        for state, count in snap.members.items():
            members.add_metric([state], count)
        yield members
        yield GaugeMetricFamily(
            "kaboodle_fingerprint",
            "The fingerprint of this node's view (CRC-32; the same on every node when they agree).",
            value=snap.fingerprint,
        )
        yield GaugeMetricFamily(
            "kaboodle_uptime_seconds", "Seconds since the node started.", value=snap.uptime
        )
        yield from _counters(snap.stats)


def _counters(stats: Counter[str]) -> Iterator[Metric]:
    left = {key: value for key, value in stats.items() if key not in _COVERED}
    for key, name, documentation in _PLAIN:
        yield CounterMetricFamily(name, documentation, value=left.pop(key, 0))
    outcomes = CounterMetricFamily(
        "kaboodle_probe_outcomes", "Probes settled, by outcome.", labels=["outcome"]
    )
    for key, outcome in _OUTCOMES.items():
        outcomes.add_metric([outcome], left.pop(key, 0))
    yield outcomes
    for prefix, name, label, documentation in _LABELLED:
        family = CounterMetricFamily(name, documentation, labels=[label])
        for key in sorted(k for k in left if k.startswith(prefix)):
            family.add_metric([key.removeprefix(prefix)], left.pop(key))
        yield family
    others = CounterMetricFamily(
        "kaboodle_node_events", "The node's other counters, by name.", labels=["name"]
    )
    for key in sorted(left):
        others.add_metric([key], left[key])
    yield others


class MetricsServer:
    """A running ``/metrics`` endpoint; :meth:`close` stops it."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread

    @property
    def port(self) -> int:
        """The TCP port it listens on."""
        return int(self._server.server_address[1])

    def close(self) -> None:
        """Stop serving and wait for the server's thread."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)


def serve_metrics(node: Observed, port: int, host: str = "::") -> MetricsServer:
    """Serve ``node``'s metrics on ``http://host:port/metrics``; call from its event loop.

    Args:
        node: the node (a running :class:`kaboodle.Kaboodle`).
        port: the TCP port (0: any free one, see :attr:`MetricsServer.port`).
        host: the address to listen on; ``::`` (every address, IPv4 too) falls back to
            ``0.0.0.0`` on a host without IPv6.

    Raises:
        KaboodleError: the port cannot be opened (taken, or not permitted).
    """
    registry = CollectorRegistry(auto_describe=False)
    registry.register(NodeCollector(node, asyncio.get_running_loop()))
    return MetricsServer(*_listen(port, host, registry))


def _listen(
    port: int, host: str, registry: CollectorRegistry
) -> tuple[WSGIServer, threading.Thread]:
    try:
        return start_http_server(port, host, registry)
    except OSError as exc:
        if host == "::" and exc.errno in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
            return _listen(port, "0.0.0.0", registry)  # a host without IPv6
        raise KaboodleError(
            f"cannot serve metrics on port {port} ({exc.strerror}): choose another "
            "--metrics-port, or stop what holds it"
        ) from exc
