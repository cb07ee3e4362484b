"""``kaboodle rtt``: the round trip between two members, estimated from the network coordinates
the local node knows (Serf's ``serf rtt``). No datagram is sent to either member."""

import json
from typing import Annotated, Any

import typer

from .client import ask
from .errors import CliError, ExitCode
from .options import DEFAULT_PORT, JsonOption, PortOption, SocketOption

__all__ = ["rtt"]


def rtt(
    first: Annotated[str, typer.Argument(metavar="A", help="A member: address or identity.")],
    second: Annotated[
        str | None,
        typer.Argument(
            metavar="[B]", help="Another member; without it, the estimate is from this node."
        ),
    ] = None,
    *,
    port: PortOption = DEFAULT_PORT,
    control: SocketOption = None,
    as_json: JsonOption = False,
) -> None:
    """Estimate the round trip between members A and B (or between this node and A)."""
    view = ask(port, control, "peers")
    me = next(p for p in view["peers"] if p["addr"] == view["self"])
    if me["coordinate"] is None:
        raise CliError(
            f"proximity is off on the node {view['self']}, so it has no coordinates "
            "(it is on unless Config.proximity is False)",
            ExitCode.NOT_FOUND,
        )
    from kaboodle.runtime.control.views import coordinate_from_json

    a = _member(view, first)
    b = me if second is None else _member(view, second)
    estimate = coordinate_from_json(_coordinate(a)).distance_to(
        coordinate_from_json(_coordinate(b))
    )
    milliseconds = round(estimate * 1000, 3)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "a": a["addr"],
                    "b": b["addr"],
                    "rtt_estimate_ms": milliseconds,
                    "from": view["self"],
                }
            )
        )
        return
    from . import render

    typer.echo(
        f"estimated {_name(a)} <-> {_name(b)} rtt: {render.latency_text(milliseconds)} "
        f"(coordinates as {view['self']} knows them)"
    )


def _member(view: dict[str, Any], name: str) -> dict[str, Any]:
    """The member of ``view`` that ``name`` names: its address, else its identity.

    Raises:
        CliError: no member, or more than one, goes by that name (exit 1).
    """
    from kaboodle.protocol.addr import Addr

    try:
        addr: str | None = str(Addr.parse(name))
    except ValueError:
        addr = None
    peers = view["peers"]
    found = [p for p in peers if p["addr"] == addr] or [p for p in peers if p["identity"] == name]
    if len(found) > 1:
        # Dead and left members keep their identity while remembered: prefer the live one.
        live = [p for p in found if p["state"] in ("alive", "suspect")]
        found = live if len(live) == 1 else found
    if not found:
        raise CliError(
            f"no member of {view['self']}'s view has the address or identity {name!r} "
            "(see 'kaboodle peers')",
            ExitCode.NOT_FOUND,
        )
    if len(found) > 1:
        addrs = ", ".join(p["addr"] for p in found)
        raise CliError(
            f"the identity {name!r} names {len(found)} members ({addrs}): give an address",
            ExitCode.NOT_FOUND,
        )
    member: dict[str, Any] = found[0]
    return member


def _coordinate(member: dict[str, Any]) -> Any:
    """The member's coordinate as JSON.

    Raises:
        CliError: the local node has none for it yet (exit 1).
    """
    if member["coordinate"] is None:
        raise CliError(
            f"no coordinate for {_name(member)} yet: a member sends its coordinate when it "
            "answers one of this node's probes, one member per probe period; try again shortly",
            ExitCode.NOT_FOUND,
        )
    return member["coordinate"]


def _name(member: dict[str, Any]) -> str:
    identity = member["identity"]
    return f"{identity} ({member['addr']})" if identity else member["addr"]
