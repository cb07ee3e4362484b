"""``kaboodle leave``: make the local node leave the mesh gracefully and exit."""

import typer

from .client import ask
from .options import DEFAULT_PORT, PortOption, SocketOption

__all__ = ["leave"]

# The node answers once it has left: its goodbye gossip takes a moment (about 0.2 s on the
# default profile), so allow far more than that before calling it unresponsive.
_LEAVE_TIMEOUT = 30.0


def leave(*, port: PortOption = DEFAULT_PORT, control: SocketOption = None) -> None:
    """Make the local node leave the mesh gracefully; returns once it has left."""
    reply = ask(port, control, "leave", timeout=_LEAVE_TIMEOUT)
    typer.echo(f"the node {reply['self']} on port {reply['port']} left the mesh")
