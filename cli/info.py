"""``kaboodle info``: what the local node is and how it fares (Serf's ``serf info``): its
address, interface, profile, wire and encryption, members by state, uptime and counters."""

import json

import typer

from .client import ask
from .options import DEFAULT_PORT, JsonOption, PortOption, SocketOption

__all__ = ["info"]


def info(
    *,
    port: PortOption = DEFAULT_PORT,
    control: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the local node: address, interface, members by state, uptime, counters."""
    answer = ask(port, control, "info")
    if as_json:
        typer.echo(json.dumps(answer))
        return
    from rich.console import Console

    from . import render

    Console(highlight=False, soft_wrap=True).print(render.info_text(answer))
