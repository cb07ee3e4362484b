"""``kaboodle demo``: a mesh of nodes in this one process on loopback, drawn as a live grid
(the Rust crate's zellij demo, without zellij). Keys kill, pause, restart or retire a node, so
failure detection, suspicion, refutation and graceful leave can be watched as they happen."""

import sys
from typing import Annotated

import typer

__all__ = ["demo"]


def demo(
    *,
    nodes: Annotated[
        int,
        typer.Option("--nodes", "-n", min=2, max=9, metavar="N", help="How many nodes (2..9)."),
    ] = 4,
    for_seconds: Annotated[
        float | None,
        typer.Option(
            "--for",
            min=0.0,
            max=86400.0,
            metavar="SECONDS",
            help="End after this many seconds (default: at q, Ctrl-C or SIGTERM).",
        ),
    ] = None,
) -> None:
    """Run N nodes on loopback, drawn as a live grid; keys: 1-N select, k kill, p pause/resume,
    r restart, l leave, q quit."""
    import asyncio

    from rich.console import Console

    from . import demo_run

    console = Console(highlight=False)
    # Keys only from a terminal: from a pipe or /dev/null the demo is a view that runs on.
    keys_fd = sys.stdin.fileno() if sys.stdin is not None and sys.stdin.isatty() else None
    asyncio.run(demo_run.run(nodes, for_seconds, console, keys_fd))
