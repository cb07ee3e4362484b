"""What people see: rich tables and lines made from the control protocol's JSON objects.

Everything here takes the documented JSON shapes (docs/cli.md), not runtime objects, so the
table a human reads and the JSON a script reads can never disagree.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

__all__ = [
    "STATE_STYLES",
    "banner",
    "event_line",
    "identity_text",
    "latency_text",
    "peers_table",
    "summary_line",
    "tags_text",
    "watch_screen",
]

STATE_STYLES = {"alive": "green", "suspect": "yellow", "dead": "red", "left": "dim"}
"""The style of a member state's name, wherever one is drawn."""
_EVENT_STYLES = {
    "joined": "green",
    "updated": "cyan",
    "suspected": "yellow",
    "failed": "red",
    "left": "magenta",
    "fingerprint": "blue",
    "started": "bold",
    "leaving": "bold",
    "stopped": "bold",
}
_EVENT_WIDTH = max(len(kind) for kind in _EVENT_STYLES)


def identity_text(identity: str | None, identity_b64: str) -> Text:
    """The identity as text; bytes that are not UTF-8 as ``base64:...``, dimmed."""
    if identity is None:
        return Text(f"base64:{identity_b64}", style="dim")
    return Text(identity)  # a Text, not markup: an identity may hold "[bold]" literally


def latency_text(latency_ms: float | None) -> str:
    """``0.42 ms``; a dash before the first round trip (and for self)."""
    if latency_ms is None:
        return "-"
    return f"{latency_ms:.2f} ms" if latency_ms < 100 else f"{latency_ms:.0f} ms"


def tags_text(tags: Mapping[str, str], none: str = "(none)") -> str:
    """``role=web zone=a``, sorted by key; ``none`` when there are no tags."""
    return " ".join(f"{k}={v}" for k, v in sorted(tags.items())) or none


def _counted(view: Mapping[str, Any]) -> int:
    return sum(1 for p in view["peers"] if p["state"] in ("alive", "suspect"))


def peers_table(view: Mapping[str, Any]) -> Table:
    """The members of a view: address, identity, state, latency, the round trip estimated from
    coordinates, incarnation (and tags)."""
    with_tags = any(p["tags"] for p in view["peers"])
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("address", no_wrap=True)
    table.add_column("identity")
    table.add_column("state")
    table.add_column("latency", justify="right", no_wrap=True)
    table.add_column("rtt est", justify="right", no_wrap=True)
    table.add_column("incarnation", justify="right", no_wrap=True)
    if with_tags:
        table.add_column("tags")
    for peer in view["peers"]:
        addr = Text(peer["addr"])
        if peer["addr"] == view["self"] and not view.get("probe"):
            addr.append(" (self)", style="dim")  # a probe's answerer is not this host
        incarnation = peer["incarnation"]
        row: list[RenderableType] = [
            addr,
            identity_text(peer["identity"], peer["identity_b64"]),
            Text(peer["state"], style=STATE_STYLES.get(peer["state"], "")),
            latency_text(peer["latency_ms"]),
            latency_text(peer.get("rtt_estimate_ms")),
            "-" if incarnation is None else str(incarnation),
        ]
        if with_tags:
            row.append(Text(tags_text(peer["tags"], none="")))
        table.add_row(*row)
    return table


def summary_line(view: Mapping[str, Any]) -> Text:
    """``fingerprint 0x1a2b3c4d  3 members  (seen from [fd00::2]:41234)``."""
    text = Text("fingerprint ")
    text.append(view["fingerprint"], style="bold")
    members = view.get("members", _counted(view))
    text.append(f"  {members} member{'s' if members != 1 else ''}")
    if view.get("probe"):
        text.append(f"  (the view of {view['self']}, found by probe)", style="dim")
    else:
        text.append(f"  (seen from {view['self']})", style="dim")
    return text


def event_line(record: Mapping[str, Any], when: float | None = None) -> Text:
    """One event as a line: ``12:00:01  joined       [fd00::3]:40001  node-3``."""
    kind = str(record.get("event", "?"))
    stamp = time.strftime("%H:%M:%S", time.localtime(time.time() if when is None else when))
    line = Text()
    line.append(f"{stamp}  ", style="dim")
    line.append(kind, style=_EVENT_STYLES.get(kind, ""))
    if len(record) > 1:
        line.append(" " * (_EVENT_WIDTH - len(kind)))  # columns line up; no trailing blanks
    if kind == "fingerprint":
        line.append(f"  {record['fingerprint']}", style="bold")
        members = record["members"]
        line.append(f"  {members} member{'s' if members != 1 else ''}")
        return line
    if "addr" in record:
        line.append(f"  {record['addr']}")
    if "identity_b64" in record:
        line.append("  ")
        line.append_text(identity_text(record.get("identity"), record["identity_b64"]))
    if record.get("state") and kind == "updated":
        line.append(f"  {record['state']}", style=STATE_STYLES.get(record["state"], ""))
        old = record.get("old_tags")
        if old is not None and old != record["tags"]:
            line.append(f"  tags {tags_text(record['tags'])}")
            line.append(f"  (were {tags_text(old)})", style="dim")
    if "message" in record:
        line.append(f"  {record['message']}")
    return line


def encryption_text(keys: Mapping[str, Any]) -> str:
    """``on (key 1a2b3c4d), label blue``: a node's encryption, from the ``keys`` answer."""
    label = f", label {keys['label']}" if keys["label"] else ""
    if not keys["keys"]:
        return f"off{label}"
    ways = []
    if not keys["verify_outgoing"]:
        ways.append("sending plain")
    if not keys["verify_incoming"]:
        ways.append("accepting plain")
    extra = f", {', '.join(ways)}" if ways else ""
    return f"on (key {keys['primary']}{extra}){label}"


def banner(started: Mapping[str, Any]) -> Text:
    """What ``kaboodle join`` prints first: interface, address, port, identity, control socket."""
    iface = started["interface"]
    text = Text()
    text.append(f"kaboodle {started['version']}: a node on port {started['port']}\n", style="bold")
    rows: list[tuple[str, Text]] = [
        ("interface", Text(f"{iface['name']} ({iface['ip']}, index {iface['index']})")),
        ("address", Text(started["self"], style="bold")),
        ("port", Text(str(started["port"]))),
        ("identity", identity_text(started["identity"], started["identity_b64"])),
        ("profile", Text(str(started["profile"]))),
        ("wire", Text(str(started.get("wire", "kaboodle")))),
        ("encryption", Text(encryption_text(started["encryption"]))),
        ("control", Text(str(started["control"]))),
    ]
    if started.get("metrics_port") is not None:
        rows.append(("metrics", Text(f"http://[::]:{started['metrics_port']}/metrics")))
    for name, value in rows:
        text.append(f"  {name:<11}", style="dim")
        text.append_text(value)
        text.append("\n")
    text.rstrip()
    return text


def info_text(status: Mapping[str, Any]) -> Text:
    """What ``kaboodle info`` prints: the node, its members by state, uptime, its counters."""
    iface = status["interface"]
    members = status["members"]
    text = Text()
    text.append(f"node {status['self']}  ", style="bold")
    text.append_text(identity_text(status["identity"], status["identity_b64"]))
    text.append("\n")
    rows = [
        ("interface", f"{iface['name']} ({iface['ip']}, index {iface['index']})"),
        ("port", str(status["port"])),
        ("profile", str(status.get("profile", "-"))),
        ("wire", str(status.get("wire", "kaboodle"))),
        ("encryption", encryption_text(status["encryption"])),
        ("members", ", ".join(f"{members[s]} {s}" for s in ("alive", "suspect", "dead", "left"))),
        ("uptime", _duration(status["uptime_s"])),
    ]
    for name, value in rows:
        text.append(f"  {name:<11}", style="dim")
        text.append(f"{value}\n")
    text.append("  counters", style="dim")
    for key, value in status["stats"].items():
        text.append(f"\n    {key:<32} {value:>12,}")
    return text


def _duration(seconds: float) -> str:
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h {minutes:02}m {secs:02}s" if hours else f"{minutes}m {secs:02}s"


def watch_screen(
    view: Mapping[str, Any], recent: Iterable[Text], port: int, stopped: bool = False
) -> Group:
    """The live screen of ``kaboodle watch``: a title, the members, the latest events."""
    title = Text()
    title.append(f"kaboodle · port {port} · ", style="bold")
    title.append_text(summary_line(view))
    if stopped:
        title.append("  node stopped", style="bold red")
    parts: list[RenderableType] = [title, peers_table(view)]
    lines = list(recent)
    if lines:
        parts.append(Text("recent events", style="dim"))
        parts.extend(lines)
    return Group(*parts)
