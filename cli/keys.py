"""``kaboodle keys``: the local node's encryption keys, over its control socket.

Keys go from a file to the node over the control socket (mode 0600) and are shown only by
their id, 8 hex digits of their SHA-256, never themselves.
"""

import base64
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from .client import ask
from .errors import CliError, ExitCode
from .options import DEFAULT_PORT, JsonOption, PortOption, SocketOption
from .secrets import keys_from

__all__ = ["keys_app"]

keys_app = typer.Typer(
    name="keys",
    help="The local node's encryption keys, shown by id, never the key (docs/security.md).",
    no_args_is_help=True,
)

KeyFileArgument = Annotated[
    Path,
    typer.Option(
        "--key-file",
        dir_okay=False,
        metavar="PATH",
        help="A file holding one base64 AES key (16, 24, 32 bytes).",
    ),
]


def _change(cmd: str, key_file: Path, port: int, control: Path | None, done: str) -> None:
    [key] = keys_from(key_file, f"kaboodle keys {cmd.removeprefix('key-')}")
    reply = ask(port, control, cmd, fields={"key": base64.b64encode(key).decode()})
    typer.echo(f"{done}; keys now: {_ids(reply)}")


def _ids(reply: dict[str, Any]) -> str:
    keys: list[str] = reply["keys"]
    if not keys:
        return "none (plain datagrams)"
    return ", ".join(f"{k} (primary)" if k == reply["primary"] else k for k in keys)


def _switches(reply: dict[str, Any]) -> tuple[str, str]:
    """The verify switches in words: what comes in, what goes out."""
    incoming = "encrypted only" if reply["verify_incoming"] else "plain accepted"
    return incoming, "encrypted" if reply["verify_outgoing"] else "plain"


@keys_app.command("install")
def install(
    *, key_file: KeyFileArgument, port: PortOption = DEFAULT_PORT, control: SocketOption = None
) -> None:
    """Install a key: the node opens what arrives with it at once."""
    _change("key-install", key_file, port, control, "installed")


@keys_app.command("use")
def use(
    *, key_file: KeyFileArgument, port: PortOption = DEFAULT_PORT, control: SocketOption = None
) -> None:
    """Make an installed key the primary one: the node seals what it sends with it."""
    _change("key-use", key_file, port, control, "in use")


@keys_app.command("remove")
def remove(
    *, key_file: KeyFileArgument, port: PortOption = DEFAULT_PORT, control: SocketOption = None
) -> None:
    """Remove an installed key that is not the primary one."""
    _change("key-remove", key_file, port, control, "removed")


@keys_app.command("list")
def list_keys(
    *, port: PortOption = DEFAULT_PORT, control: SocketOption = None, as_json: JsonOption = False
) -> None:
    """The node's keys by id (the primary first), its label and its verify switches."""
    reply = ask(port, control, "keys")
    if as_json:
        typer.echo(json.dumps(reply))
        return
    typer.echo(f"keys      {_ids(reply)}")
    typer.echo(f"label     {reply['label'] or '(none)'}")
    incoming, outgoing = _switches(reply)
    typer.echo(f"incoming  {incoming}")
    typer.echo(f"outgoing  {outgoing}")


@keys_app.command("verify")
def verify(
    *,
    incoming: Annotated[
        bool | None,
        typer.Option("--incoming/--no-incoming", help="Refuse plain datagrams (with keys)."),
    ] = None,
    outgoing: Annotated[
        bool | None,
        typer.Option("--outgoing/--no-outgoing", help="Encrypt what the node sends (with keys)."),
    ] = None,
    port: PortOption = DEFAULT_PORT,
    control: SocketOption = None,
) -> None:
    """Switch encryption of incoming and outgoing datagrams: how a running mesh turns it on."""
    if incoming is None and outgoing is None:
        raise CliError(
            "say what to switch: --incoming/--no-incoming, --outgoing/--no-outgoing",
            ExitCode.USAGE,
            "kaboodle keys verify",
        )
    fields = {k: v for k, v in (("incoming", incoming), ("outgoing", outgoing)) if v is not None}
    reply = ask(port, control, "key-verify", fields=fields)
    now_in, now_out = _switches(reply)
    typer.echo(f"incoming {now_in}, outgoing {now_out}")
