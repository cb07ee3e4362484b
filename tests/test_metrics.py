"""Prometheus metrics: ``kaboodle join --metrics-port`` scraped over HTTP, as Prometheus does."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path

import pytest
from cli_helpers import JoinProcess, one_line_error, run
from prometheus_client.parser import text_string_to_metric_families
from waiting import free_port, wait_for, wait_until

from kaboodle import Config, Kaboodle, KaboodleError
from kaboodle.runtime.metrics import serve_metrics

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    """Every sample on ``/metrics``, by name and labels; the text must parse as Prometheus's."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        assert reply.status == 200
        text = reply.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_scrape_shows_members_traffic_probes_and_the_fingerprint() -> None:
    port = free_port()
    nodes = [
        Kaboodle(port=port, interface="lo", identity=f"m-{i}", config=Config.local())
        for i in range(3)
    ]
    for node in nodes:
        await node.start()
    for node in nodes[1:]:
        await node.ping_addrs([str(nodes[0].self_addr)])
    exporter = serve_metrics(nodes[0], 0)
    try:
        await wait_for(lambda: all(len(n.peers()) == 3 for n in nodes))
        await wait_for(lambda: nodes[0].stats["probes-acked"] >= 2, 10.0)
        samples = await asyncio.to_thread(scrape, exporter.port)
        assert value(samples, "kaboodle_members", state="alive") == 3
        assert value(samples, "kaboodle_members", state="dead") == 0
        assert value(samples, "kaboodle_fingerprint") == nodes[0].fingerprint()
        assert value(samples, "kaboodle_node_info", version=__import__("kaboodle").__version__,
                     wire="kaboodle", addr=str(nodes[0].self_addr)) == 1  # fmt: skip
        assert value(samples, "kaboodle_probes_total") >= 2
        assert value(samples, "kaboodle_probe_outcomes_total", outcome="acked") >= 2
        for kind in ("ping", "ack"):
            assert value(samples, "kaboodle_datagrams_sent_total", kind=kind) > 0
            assert value(samples, "kaboodle_datagrams_received_total", kind=kind) > 0
            assert value(samples, "kaboodle_sent_bytes_total", kind=kind) > value(
                samples, "kaboodle_datagrams_sent_total", kind=kind
            )
        assert value(samples, "kaboodle_fingerprint_changes_total") >= 1
        assert value(samples, "kaboodle_uptime_seconds") > 0

        # A member killed: suspected by its prober, then removed; the counters say so.
        changes = nodes[0].stats["fingerprint-changes"]
        await nodes[2].stop(leave=False)
        await wait_for(lambda: nodes[0].stats["suspicions"] >= 1, 10.0)
        await wait_for(lambda: len(nodes[0].peers()) == 2, 15.0)
        # The fingerprint's event comes once the view has settled (Config.event_delay).
        await wait_for(lambda: nodes[0].stats["fingerprint-changes"] > changes, 5.0)
        after = await asyncio.to_thread(scrape, exporter.port)
        assert value(after, "kaboodle_suspicions_total") >= 1
        assert value(after, "kaboodle_members", state="alive") == 2
        assert value(after, "kaboodle_fingerprint") == nodes[0].fingerprint()
        assert value(after, "kaboodle_fingerprint_changes_total") > value(
            samples, "kaboodle_fingerprint_changes_total"
        )
    finally:
        exporter.close()
        for node in nodes[:2]:
            await node.stop()


async def test_hostile_datagrams_show_as_drops_by_reason() -> None:
    node = Kaboodle(port=free_port(), interface="lo", identity="target", config=Config.local())
    await node.start()
    exporter = serve_metrics(node, 0)
    try:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=(node.self_addr.host, node.self_addr.port)
        )
        for junk in (b"", b"KB", b"XX\x01\x91\x00", b"KB\x01\xc1"):
            transport.sendto(junk)
        transport.close()
        await wait_for(
            lambda: sum(v for k, v in node.stats.items() if k.startswith("dropped:")) >= 3
        )
        samples = await asyncio.to_thread(scrape, exporter.port)
        reasons = {
            labels[0][1]: v
            for (name, labels), v in samples.items()
            if name == "kaboodle_dropped_total"
        }
        assert reasons.get("magic", 0) >= 1 and reasons.get("short", 0) >= 1, reasons
    finally:
        exporter.close()
        await node.stop()


async def test_a_port_in_use_is_a_clear_error() -> None:
    node = Kaboodle(port=free_port(), interface="lo", identity="x", config=Config.local())
    await node.start()
    first = serve_metrics(node, 0)
    try:
        with pytest.raises(KaboodleError, match=f"cannot serve metrics on port {first.port}"):
            serve_metrics(node, first.port)
    finally:
        first.close()
        await node.stop()


def test_join_serves_metrics_on_the_port_it_is_given(
    env: dict[str, str], nodes: list[JoinProcess]
) -> None:
    metrics_port = free_port()
    node = JoinProcess(free_port(), {**env, "KABOODLE_METRICS_PORT": str(metrics_port)})
    nodes.append(node)
    assert node.started["metrics_port"] == metrics_port
    reported = wait_until(lambda: node.first("fingerprint"), 10.0, node.describe)
    samples = scrape(metrics_port)
    assert value(samples, "kaboodle_members", state="alive") == 1
    assert value(samples, "kaboodle_fingerprint") == int(reported["fingerprint"], 16)


def test_join_without_prometheus_client_says_what_to_install(
    env: dict[str, str], tmp_path: Path
) -> None:
    # A prometheus_client that cannot be imported, ahead of the real one on the path.
    hidden = tmp_path / "prometheus_client"
    hidden.mkdir()
    (hidden / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    env = {**env, "PYTHONPATH": f"{tmp_path}:{env['PYTHONPATH']}"}
    done = run("join", "--interface", "lo", "--metrics-port", str(free_port()), env=env)
    assert done.returncode == 3
    assert "pip install 'kaboodle[metrics]'" in one_line_error(done.stderr)
