"""``kaboodle join``: run a node in the foreground and serve its control socket."""

import functools
import socket
from collections.abc import Callable
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from .errors import CliError, ExitCode
from .options import (
    DEFAULT_PORT,
    InterfaceOption,
    KeyFileOption,
    KeyOption,
    LabelOption,
    LogLevel,
    PortOption,
    SocketOption,
    Wire,
    WireOption,
)
from .paths import prepare_runtime_dir, socket_path
from .secrets import keys_from, refuse_key_flag
from .tags import parse_tags

if TYPE_CHECKING:
    from kaboodle import Kaboodle
    from kaboodle.runtime.metrics import MetricsServer

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
            metavar="TEXT",
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
            metavar="PORT",
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
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port",
            envvar="KABOODLE_METRICS_PORT",
            metavar="PORT",
            min=1,
            max=65535,
            help="Serve Prometheus metrics on this TCP port, at /metrics, on every address "
            "(needs the metrics extra: pip install 'kaboodle[metrics]').",
        ),
    ] = None,
) -> None:
    """Run a node in the foreground: print what it is, then one line per event.

    SIGINT and SIGTERM (or 'kaboodle leave') make it leave gracefully and exit 0.
    """
    # The node's modules load here, not when the command line is parsed: the client commands
    # (a healthcheck's 'kaboodle fingerprint') share this module's import and need none of them.
    import asyncio

    from kaboodle import PROFILES, Kaboodle

    from .foreground import run
    from .logs import NodeOutput, configure_logging

    configure_logging(log_level, json_logs)
    metrics = None if metrics_port is None else _metrics(metrics_port)
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
    asyncio.run(run(kb, path, profile.value, NodeOutput(json_logs), metrics))


def _metrics(port: int) -> "Callable[[Kaboodle], MetricsServer]":
    """What serves the node's metrics on ``port``, once it runs.

    Raises:
        CliError: prometheus-client is not installed (exit 3).
    """
    try:
        from kaboodle.runtime.metrics import serve_metrics
    except ImportError as exc:
        raise CliError(
            f"--metrics-port needs prometheus-client, which cannot be imported ({exc}): "
            "pip install 'kaboodle[metrics]'",
            ExitCode.ENVIRONMENT,
        ) from None
    return functools.partial(serve_metrics, port=port)
