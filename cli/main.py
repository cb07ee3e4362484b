"""The ``kaboodle`` command: a Typer application."""

from __future__ import annotations

import typer

import kaboodle

app = typer.Typer(
    name="kaboodle",
    help="Zero-configuration peer discovery and membership.",
    no_args_is_help=True,
    add_completion=True,
)


@app.command()
def version() -> None:
    """Print Kaboodle's version."""
    typer.echo(kaboodle.__version__)


@app.command()
def join() -> None:
    """Run a node in the foreground (not available yet: the networked runtime is coming)."""
    typer.echo("kaboodle join is not available yet: the networked runtime is not built", err=True)
    raise typer.Exit(1)
