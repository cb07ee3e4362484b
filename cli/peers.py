"""``kaboodle peers`` and ``kaboodle fingerprint``: what the local node (or a probe) sees."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console

from . import render
from .client import ask
from .options import (
    DEFAULT_PORT,
    InterfaceOption,
    JsonOption,
    KeyFileOption,
    LabelOption,
    PortOption,
    ProbeOption,
    SocketOption,
    State,
    TimeoutOption,
)
from .probe import discover, probe_view

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
    probe: ProbeOption = False,
    interface: InterfaceOption = None,
    timeout: TimeoutOption = 5.0,
    control: SocketOption = None,
    key_file: KeyFileOption = None,
    label: LabelOption = "",
) -> None:
    """Show the members the local node knows, self included, and its fingerprint."""
    view: dict[str, Any]
    if probe:
        view = probe_view(discover(port, interface, timeout, key_file, label))
    else:
        view = ask(port, control, "peers", probe_hint=True)
    if state:
        wanted = {s.value for s in state}
        view["peers"] = [p for p in view["peers"] if p["state"] in wanted]
    if as_json:
        typer.echo(json.dumps(view))
        return
    console = Console(highlight=False)
    console.print(render.peers_table(view))
    console.print(render.summary_line(view), soft_wrap=True)


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
    if as_json:
        typer.echo(json.dumps({"fingerprint": answer["fingerprint"], "members": answer["members"]}))
    else:
        typer.echo(answer["fingerprint"])
