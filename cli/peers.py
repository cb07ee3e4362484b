"""``kaboodle peers`` and ``kaboodle fingerprint``: what the local node (or a probe) sees."""

import json
import re
from typing import Annotated, Any

import typer

from .client import ask
from .entry import print_fingerprint
from .errors import CliError, ExitCode
from .options import (
    DEFAULT_PORT,
    InterfaceOption,
    JsonOption,
    KeyFileOption,
    LabelOption,
    Order,
    PortOption,
    ProbeOption,
    SocketOption,
    State,
    TimeoutOption,
)
from .probe import discover, probe_view
from .tags import split_pairs

__all__ = ["fingerprint", "peers"]


def peers(
    *,
    port: PortOption = DEFAULT_PORT,
    as_json: JsonOption = False,
    state: Annotated[
        list[State] | None,
        typer.Option(
            "--state", case_sensitive=False, help="Only members in this state; repeatable."
        ),
    ] = None,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            metavar="KEY=REGEX",
            help="Only members whose tag KEY matches REGEX in full (a missing tag is empty); "
            "repeatable, all must match.",
        ),
    ] = None,
    sort: Annotated[
        Order,
        typer.Option(
            "--sort",
            case_sensitive=False,
            help="Fingerprint order (addr), or nearest first by estimated round trip (rtt).",
        ),
    ] = Order.addr,
    probe: ProbeOption = False,
    interface: InterfaceOption = None,
    timeout: TimeoutOption = 5.0,
    control: SocketOption = None,
    key_file: KeyFileOption = None,
    label: LabelOption = "",
) -> None:
    """Show the members the local node knows, self included, and its fingerprint."""
    wanted_tags = _tag_filters(tag)
    view: dict[str, Any]
    if probe:
        view = probe_view(discover(port, interface, timeout, key_file, label))
    else:
        view = ask(port, control, "peers", probe_hint=True)
    if state:
        wanted = {s.value for s in state}
        view["peers"] = [p for p in view["peers"] if p["state"] in wanted]
    if wanted_tags:
        view["peers"] = [
            p
            for p in view["peers"]
            if all(rx.fullmatch(p["tags"].get(key, "")) for key, rx in wanted_tags)
        ]
    if sort is Order.rtt:
        view["peers"].sort(key=lambda p: _nearness(p, view["self"]))
    if as_json:
        typer.echo(json.dumps(view))
        return
    from rich.console import Console

    from . import render

    console = Console(highlight=False)
    console.print(render.peers_table(view))
    console.print(render.summary_line(view), soft_wrap=True)


def _nearness(peer: dict[str, Any], me: str) -> tuple[int, float]:
    # This node first, then by estimate; members without one last, in fingerprint order
    # (the sort is stable).
    if peer["addr"] == me:
        return (0, 0.0)
    estimate = peer["rtt_estimate_ms"]
    return (1, estimate) if estimate is not None else (2, 0.0)


def _tag_filters(values: list[str] | None) -> list[tuple[str, re.Pattern[str]]]:
    """``--tag KEY=REGEX`` flags as compiled filters, Serf's way: the regular expression must
    match the whole value, and a member without the tag has the empty value.

    Raises:
        CliError: not KEY=REGEX, or not a regular expression (exit 2).
    """
    filters = []
    for key, pattern in split_pairs(values, "--tag", "kaboodle peers"):
        try:
            filters.append((key, re.compile(pattern)))
        except re.error as exc:
            raise CliError(
                f"invalid value for '--tag': {pattern!r} is not a regular expression ({exc})",
                ExitCode.USAGE,
                "kaboodle peers",
            ) from None
    return filters


def fingerprint(
    *,
    port: PortOption = DEFAULT_PORT,
    as_json: JsonOption = False,
    probe: ProbeOption = False,
    interface: InterfaceOption = None,
    timeout: TimeoutOption = 5.0,
    control: SocketOption = None,
    key_file: KeyFileOption = None,
    label: LabelOption = "",
) -> None:
    """Print the fingerprint of the local node's view: 0x and 8 hex digits."""
    if probe:
        view = probe_view(discover(port, interface, timeout, key_file, label))
        answer = {"fingerprint": view["fingerprint"], "members": view["members"]}
    else:
        answer = ask(port, control, "fingerprint", probe_hint=True)
    print_fingerprint(answer, as_json)
