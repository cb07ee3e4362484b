"""``kaboodle tags``: the local node's tags, shown or changed over its control socket (Serf's
``serf tags``); also the ``KEY=VALUE`` flags that ``join --tag``, ``tags --set`` and
``peers --tag`` share."""

import json
from typing import Annotated

import typer

from .client import ask
from .errors import CliError, ExitCode
from .options import DEFAULT_PORT, JsonOption, PortOption, SocketOption

__all__ = ["parse_tags", "split_pairs", "tags"]


def split_pairs(values: list[str] | None, flag: str, command: str) -> list[tuple[str, str]]:
    """``KEY=VALUE`` flags as (key, value) pairs, in the order given; the value may be empty
    and may hold ``=``.

    Raises:
        CliError: a flag without ``=`` or with an empty key (exit 2).
    """
    pairs = []
    for value in values or ():
        key, sep, text = value.partition("=")
        if not sep or not key:
            raise CliError(
                f"invalid value for {flag!r}: {value!r} is not KEY=VALUE", ExitCode.USAGE, command
            )
        pairs.append((key, text))
    return pairs


def parse_tags(values: list[str] | None, flag: str, command: str) -> dict[str, str]:
    """``KEY=VALUE`` flags as tags.

    Raises:
        CliError: a flag that is not ``KEY=VALUE``, or a key given twice (exit 2).
    """
    tags: dict[str, str] = {}
    for key, text in split_pairs(values, flag, command):
        if key in tags:
            raise CliError(
                f"invalid value for {flag!r}: {key!r} is given twice", ExitCode.USAGE, command
            )
        tags[key] = text
    return tags


def tags(
    *,
    set_tags: Annotated[
        list[str] | None,
        typer.Option("--set", metavar="KEY=VALUE", help="Add or change a tag; repeatable."),
    ] = None,
    delete: Annotated[
        list[str] | None,
        typer.Option("--delete", metavar="KEY", help="Remove a tag, if present; repeatable."),
    ] = None,
    port: PortOption = DEFAULT_PORT,
    control: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the local node's tags, or change them: the mesh hears of a change at once.

    The node refuses tags over its cap (512 bytes by default: keys and values in UTF-8).
    """
    changes = parse_tags(set_tags, "--set", "kaboodle tags")
    fields = {"set": changes, "delete": delete or []} if changes or delete else None
    reply = ask(port, control, "tags", fields=fields)
    if as_json:
        typer.echo(json.dumps(reply))
        return
    from . import render

    now = render.tags_text(reply["tags"])
    typer.echo(f"updated; tags now: {now}" if fields else now)
