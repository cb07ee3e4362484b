"""Options that several commands share, so each is spelled and documented once."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

__all__ = [
    "DEFAULT_PORT",
    "InterfaceOption",
    "JsonOption",
    "KeyFileOption",
    "KeyOption",
    "LabelOption",
    "LogLevel",
    "Order",
    "PortOption",
    "ProbeOption",
    "SocketOption",
    "State",
    "TimeoutOption",
    "Wire",
    "WireOption",
]

DEFAULT_PORT = 7475
"""The seed's demo port."""


class State(StrEnum):
    """A member state, as ``--state`` and the JSON spell it."""

    alive = "alive"
    suspect = "suspect"
    dead = "dead"
    left = "left"


class Wire(StrEnum):
    """``--wire`` values: the protocol a node speaks."""

    kaboodle = "kaboodle"
    rust = "rust-0.1"


WireOption = Annotated[
    Wire,
    typer.Option(
        "--wire",
        envvar="KABOODLE_WIRE",
        case_sensitive=False,
        help="kaboodle (this library's protocol) or rust-0.1 (the kaboodle crate 0.1.5's, "
        "to be one mesh with Rust nodes; no tags, keys, label or coordinates).",
    ),
]


class LogLevel(StrEnum):
    """``--log-level`` values."""

    debug = "debug"
    info = "info"
    warning = "warning"
    error = "error"


class Order(StrEnum):
    """How ``peers --sort`` orders the members."""

    addr = "addr"
    rtt = "rtt"


PortOption = Annotated[
    int,
    typer.Option(
        "--port",
        "-p",
        envvar="KABOODLE_PORT",
        metavar="PORT",
        min=1,
        max=65535,
        help="The mesh's discovery port (the same for every member).",
    ),
]

SocketOption = Annotated[
    Path | None,
    typer.Option(
        "--socket",
        envvar="KABOODLE_SOCKET",
        metavar="PATH",
        dir_okay=False,
        help="The node's control socket, instead of the one for --port in the runtime directory.",
    ),
]

InterfaceOption = Annotated[
    str | None,
    typer.Option(
        "--interface",
        "-i",
        envvar="KABOODLE_INTERFACE",
        metavar="NAME|IP|ipv4|ipv6",
        help="The network interface: a name, one of its IPs, ipv4 or ipv6 "
        "(default: the first non-loopback one with IPv6, else with IPv4).",
    ),
]

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object (docs/cli.md) instead of a table.")
]

ProbeOption = Annotated[
    bool,
    typer.Option(
        "--probe",
        help="Ask the mesh on --port without joining it (one member's view); needs no local node.",
    ),
]

TimeoutOption = Annotated[
    float,
    typer.Option(
        "--timeout",
        min=0.1,
        max=3600.0,
        metavar="SECONDS",
        help="Seconds to wait for a member to answer a probe.",
    ),
]

KeyFileOption = Annotated[
    Path | None,
    typer.Option(
        "--key-file",
        envvar="KABOODLE_KEY_FILE",
        metavar="PATH",
        dir_okay=False,
        help="A file holding one base64 AES key (16, 24 or 32 bytes): encrypt with it "
        "(docs/security.md).",
    ),
]

KeyOption = Annotated[
    str | None,
    typer.Option("--key", hidden=True, help="Refused: a key on the command line is public."),
]

LabelOption = Annotated[
    str,
    typer.Option(
        "--label",
        envvar="KABOODLE_LABEL",
        metavar="LABEL",
        help="The mesh label: meshes with different labels never mix, even on one port.",
    ),
]
