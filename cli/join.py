"""``kaboodle join``: run a node in the foreground and serve its control socket."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import AsyncIterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from kaboodle import PROFILES, Event, Kaboodle
from kaboodle.runtime.control import event_json, info_json

from .errors import CliError, ExitCode
from .logs import LogLevel, NodeOutput, configure_logging
from .options import (
    DEFAULT_PORT,
    InterfaceOption,
    KeyFileOption,
    KeyOption,
    LabelOption,
    PortOption,
    SocketOption,
    Wire,
    WireOption,
)
from .paths import prepare_runtime_dir, socket_path
from .secrets import keys_from, refuse_key_flag
from .tags import parse_tags

__all__ = ["join", "split_seeds"]


class Profile(StrEnum):
    """``--profile`` values: the protocol's timing profiles."""

    lan = "lan"
    wan = "wan"
    local = "local"


def split_seeds(values: list[str] | None) -> list[str]:
    """Seeds from repeated ``--seed`` flags or ``KABOODLE_SEEDS`` (spaces or commas apart)."""
    return [part for value in values or () for part in value.replace(",", " ").split()]


def join(
    *,
    port: PortOption = DEFAULT_PORT,
    interface: InterfaceOption = None,
    identity: Annotated[
        str | None,
        typer.Option(
            "--identity",
            envvar="KABOODLE_IDENTITY",
            help="What other members see for this node, as UTF-8 (default: the hostname).",
        ),
    ] = None,
    seed: Annotated[
        list[str] | None,
        typer.Option(
            "--seed",
            "-s",
            envvar="KABOODLE_SEEDS",
            metavar="HOST:PORT",
            help="A member to join through where multicast does not reach; repeatable "
            "(KABOODLE_SEEDS: several, apart by spaces or commas).",
        ),
    ] = None,
    unicast_port: Annotated[
        int,
        typer.Option(
            "--unicast-port",
            envvar="KABOODLE_UNICAST_PORT",
            min=0,
            max=65535,
            help="The port of this node's member socket (default 0: any free port); fix it "
            "when others name this node in their seeds, as Swarm and Kubernetes do.",
        ),
    ] = 0,
    profile: Annotated[
        Profile, typer.Option("--profile", case_sensitive=False, help="Protocol timing.")
    ] = Profile.lan,
    tag: Annotated[
        list[str] | None,
        typer.Option(
            "--tag",
            "-t",
            metavar="KEY=VALUE",
            help="Metadata others see (512 bytes in all by default); repeatable.",
        ),
    ] = None,
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", case_sensitive=False, help="Least severe log record.")
    ] = LogLevel.info,
    json_logs: Annotated[
        bool,
        typer.Option("--json-logs", help="Write events and logs as JSON lines (docs/cli.md)."),
    ] = False,
    control: SocketOption = None,
    key_file: KeyFileOption = None,
    key: KeyOption = None,
    label: LabelOption = "",
    verify_incoming: Annotated[
        bool,
        typer.Option(
            "--verify-incoming/--accept-plaintext",
            help="With a key: refuse plain datagrams, or accept them too (turning it on).",
        ),
    ] = True,
    verify_outgoing: Annotated[
        bool,
        typer.Option(
            "--verify-outgoing/--send-plaintext",
            help="With a key: encrypt what this node sends, or still send plain (turning it on).",
        ),
    ] = True,
    wire: WireOption = Wire.kaboodle,
) -> None:
    """Run a node in the foreground: print what it is, then one line per event.

    SIGINT and SIGTERM (or 'kaboodle leave') make it leave gracefully and exit 0.
    """
    configure_logging(log_level, json_logs)
    refuse_key_flag(key, "kaboodle join")
    keys = keys_from(key_file, "kaboodle join")
    tags = parse_tags(tag, "--tag", "kaboodle join")
    config = PROFILES[profile.value]()
    if wire is Wire.rust:
        config = config.with_changes(proximity=False)  # the crate carries no coordinates
    try:
        kb = Kaboodle(
            port=port,
            interface=interface,
            identity=socket.gethostname() if identity is None else identity,
            seeds=split_seeds(seed),
            unicast_port=unicast_port,
            config=config,
            tags=tags,
            keys=keys,
            label=label,
            verify_incoming=verify_incoming,
            verify_outgoing=verify_outgoing,
            wire=wire.value,
        )
    except ValueError as exc:  # a bad seed, identity or tag, or what the wire cannot carry
        raise CliError(str(exc), ExitCode.USAGE, "kaboodle join") from None
    path = control if control is not None else socket_path(prepare_runtime_dir(), port)
    asyncio.run(_run(kb, path, profile.value, NodeOutput(json_logs)))


async def _run(kb: Kaboodle, path: Path, profile: str, out: NodeOutput) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # Installed first: a signal that comes while the node starts still means "leave".
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    server = kb.control_server(path, on_leave=stop.set, profile=profile)
    # The socket first: a second join on this port must fail before it announces anything.
    server.claim()
    try:
        events = kb.events()  # subscribed before start, so no early event is missed
        await kb.start()
        try:
            await server.start()
            out.emit(
                {"event": "started", **info_json(kb), "profile": profile, "control": str(path)}
            )
            printer = asyncio.create_task(_print_events(events, out, stop))
            await stop.wait()
            server.leaving()
            out.emit({"event": "leaving"})
        finally:
            await kb.stop()  # graceful: peers record "left" at once
        await printer  # ends with the subscription, once the node has stopped
        out.emit({"event": "stopped"})
    finally:
        await server.close()


async def _print_events(events: AsyncIterable[Event], out: NodeOutput, stop: asyncio.Event) -> None:
    async for event in events:
        record = event_json(event)
        # Once leaving, the node's own view empties as it goes: not news about the mesh.
        if record is not None and not stop.is_set():
            out.emit(record)
