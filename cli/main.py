"""The ``kaboodle`` command: wires the commands (one module each) into one Typer app."""

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

__all__ = ["app"]

app = typer.Typer(
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

app.command()(join)
app.command()(peers)
app.command()(probe)
app.command()(fingerprint)
app.command()(info)
app.command()(rtt)
app.command()(tags)
app.command()(watch)
app.command()(leave)
app.command()(demo)
app.add_typer(keys_app)


@app.command()
def version() -> None:
    """Print Kaboodle's version."""
    typer.echo(__version__)
