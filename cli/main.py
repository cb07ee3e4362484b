"""The ``kaboodle`` command: wires the commands (one module each) into one Typer app."""

from collections.abc import Callable
from typing import Any

import typer

from kaboodle.version import __version__

from .demo import demo
from .group import OneLineErrorsGroup
from .info import info
from .join import join
from .keys import keys_app
from .leave import leave
from .peers import fingerprint, peers
from .probe import probe
from .rtt import rtt
from .tags import tags
from .watch import watch

__all__ = ["COMMANDS", "app", "make_app"]


def version() -> None:
    """Print Kaboodle's version."""
    typer.echo(__version__)


_COMMANDS: dict[str, Callable[..., Any]] = {
    "join": join,
    "peers": peers,
    "probe": probe,
    "fingerprint": fingerprint,
    "info": info,
    "rtt": rtt,
    "tags": tags,
    "watch": watch,
    "leave": leave,
    "demo": demo,
}
COMMANDS = frozenset([*_COMMANDS, "keys", "version"])
"""The names of the subcommands."""


def make_app(only: str | None = None) -> typer.Typer:
    """The app with every command, or with the command ``only`` alone (named as ever).

    Typer turns every command's signature into Click parameters on each run; a run of one
    command needs only that one converted (20 ms fewer before ``kaboodle join`` announces).
    """
    built = typer.Typer(
        name="kaboodle",
        help="Zero-configuration peer discovery and membership. "
        "'kaboodle join' runs a node; the other commands ask it (docs/cli.md).",
        cls=OneLineErrorsGroup,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_show_locals=False,
        # Click's plain help: Typer's rich help imports markdown-it, 130 ms on every --help.
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    for name, command in (*_COMMANDS.items(), ("version", version)):
        if only in (None, name):
            built.command(name)(command)
    if only in (None, "keys"):
        built.add_typer(keys_app)
    if only is not None and only != "keys":
        # A group of one command: without a callback Typer would make the command the whole
        # program, and "kaboodle join ..." would no longer name it.
        built.callback()(_one_command)
    return built


def _one_command() -> None:
    """Zero-configuration peer discovery and membership."""


app = make_app()
