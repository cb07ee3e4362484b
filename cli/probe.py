"""``kaboodle probe``: find one member of a mesh without joining it (the seed's ``--probe``).

Also the probe view that ``peers --probe`` and ``fingerprint --probe`` show. A probe's answer
carries only what the member that answered says of itself and its view: its address,
identity, fingerprint and member count, which is all that can be learnt without joining.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import typer
from rich.console import Console
from rich.text import Text

from kaboodle import FoundMember, Kaboodle
from kaboodle.runtime.control import PeerJson, fingerprint_text, identity_json

from . import render
from .errors import CliError, ExitCode
from .options import DEFAULT_PORT, InterfaceOption, JsonOption, PortOption, TimeoutOption

__all__ = ["discover", "found_json", "probe", "probe_view"]


def discover(port: int, interface: str | None, timeout: float) -> FoundMember:
    """Probe the mesh on ``port`` until a member answers.

    Raises:
        CliError: nobody answered within ``timeout`` seconds (exit 1).
        KaboodleError: no interface matches, or the probe socket cannot be opened (exit 3).
    """
    try:
        return asyncio.run(Kaboodle.discover_mesh_member(port, interface, timeout))
    except TimeoutError:
        raise CliError(
            f"no kaboodle member answered a probe on port {port} within {timeout:g} s",
            ExitCode.NOT_FOUND,
        ) from None


def found_json(found: FoundMember) -> dict[str, Any]:
    """What ``kaboodle probe --json`` prints."""
    text, b64 = identity_json(found.identity)
    return {
        "addr": str(found.addr),
        "identity": text,
        "identity_b64": b64,
        "fingerprint": fingerprint_text(found.fingerprint),
        "members": found.members,
    }


def probe_view(found: FoundMember) -> dict[str, Any]:
    """A view in the shape of ``peers --json`` made from a probe's answer: ``self`` is the
    member that answered and the only peer listed; ``members`` is its count of members, and
    ``probe`` is true. Its incarnation and latency are not in the answer, so they are null."""
    text, b64 = identity_json(found.identity)
    peer: PeerJson = {
        "addr": str(found.addr),
        "identity": text,
        "identity_b64": b64,
        "state": "alive",
        "incarnation": None,
        "latency_ms": None,
        "tags": {},
    }
    return {
        "self": str(found.addr),
        "fingerprint": fingerprint_text(found.fingerprint),
        "peers": [peer],
        "members": found.members,
        "probe": True,
    }


def probe(
    *,
    port: PortOption = DEFAULT_PORT,
    interface: InterfaceOption = None,
    timeout: TimeoutOption = 5.0,
    as_json: JsonOption = False,
) -> None:
    """Find one member of the mesh on --port without joining it."""
    found = discover(port, interface, timeout)
    if as_json:
        typer.echo(json.dumps(found_json(found)))
        return
    line = Text("found ")
    line.append(str(found.addr), style="bold")
    line.append("  ")
    text, b64 = identity_json(found.identity)
    line.append_text(render.identity_text(text, b64))
    line.append(f"  fingerprint {fingerprint_text(found.fingerprint)}")
    line.append(f"  {found.members} member{'s' if found.members != 1 else ''}")
    Console(highlight=False, soft_wrap=True).print(line)
