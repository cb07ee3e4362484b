"""``kaboodle probe``: find one member of a mesh without joining it (the seed's ``--probe``).

Also the probe view that ``peers --probe`` and ``fingerprint --probe`` show. A probe's answer
carries only what the member that answered says of itself and its view: its address,
identity, fingerprint and member count, which is all that can be learnt without joining.
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .errors import CliError, ExitCode
from .options import (
    DEFAULT_PORT,
    InterfaceOption,
    JsonOption,
    KeyFileOption,
    KeyOption,
    LabelOption,
    PortOption,
    TimeoutOption,
    Wire,
    WireOption,
)
from .secrets import keys_from, refuse_key_flag

if TYPE_CHECKING:
    from kaboodle import FoundMember
    from kaboodle.runtime.control import PeerJson

__all__ = ["discover", "found_json", "probe", "probe_view"]


def discover(
    port: int,
    interface: str | None,
    timeout: float,
    key_file: Path | None = None,
    label: str = "",
    *,
    wire: Wire = Wire.kaboodle,
) -> "FoundMember":
    """Probe the mesh on ``port`` until a member answers; an encrypted or labelled mesh
    answers only a probe with its key (in ``key_file``) and label.

    Raises:
        CliError: nobody answered within ``timeout`` seconds (exit 1); a bad key file or
            label (exit 2).
        KaboodleError: no interface matches, or the probe socket cannot be opened (exit 3).
    """
    import asyncio

    from kaboodle import Kaboodle

    keys = keys_from(key_file, "kaboodle probe")
    try:
        return asyncio.run(
            Kaboodle.discover_mesh_member(
                port, interface, timeout, keys=keys, label=label, wire=wire.value
            )
        )
    except ValueError as exc:  # the label, or a key or label with the rust-0.1 wire
        raise CliError(str(exc), ExitCode.USAGE, "kaboodle probe") from None
    except TimeoutError:
        raise CliError(
            f"no kaboodle member answered a probe on port {port} within {timeout:g} s",
            ExitCode.NOT_FOUND,
        ) from None


def found_json(found: "FoundMember") -> dict[str, Any]:
    """What ``kaboodle probe --json`` prints."""
    from kaboodle.runtime.control import fingerprint_text, identity_json

    text, b64 = identity_json(found.identity)
    return {
        "addr": str(found.addr),
        "identity": text,
        "identity_b64": b64,
        "fingerprint": None if found.fingerprint is None else fingerprint_text(found.fingerprint),
        "members": found.members,
    }


def probe_view(found: "FoundMember") -> dict[str, Any]:
    """A view in the shape of ``peers --json`` made from a probe's answer: ``self`` is the
    member that answered and the only peer listed; ``members`` is its count of members, and
    ``probe`` is true. Its incarnation, latency and coordinate are not in the answer, so they are
    null."""
    from kaboodle.runtime.control import fingerprint_text, identity_json

    if found.fingerprint is None or found.members is None:
        raise CliError("the member's answer carries no view (a rust-0.1 member)", ExitCode.USAGE)
    text, b64 = identity_json(found.identity)
    peer: PeerJson = {
        "addr": str(found.addr),
        "identity": text,
        "identity_b64": b64,
        "state": "alive",
        "incarnation": None,
        "latency_ms": None,
        "rtt_estimate_ms": None,
        "coordinate": None,
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
    key_file: KeyFileOption = None,
    key: KeyOption = None,
    label: LabelOption = "",
    wire: WireOption = Wire.kaboodle,
) -> None:
    """Find one member of the mesh on --port without joining it."""
    refuse_key_flag(key, "kaboodle probe")
    found = discover(port, interface, timeout, key_file, label, wire=wire)
    if as_json:
        typer.echo(json.dumps(found_json(found)))
        return
    from rich.console import Console
    from rich.text import Text

    from kaboodle.runtime.control import fingerprint_text, identity_json

    from . import render

    line = Text("found ")
    line.append(str(found.addr), style="bold")
    line.append("  ")
    text, b64 = identity_json(found.identity)
    line.append_text(render.identity_text(text, b64))
    if found.fingerprint is None or found.members is None:
        line.append("  (a rust-0.1 answer: no fingerprint, no member count)", style="dim")
    else:
        line.append(f"  fingerprint {fingerprint_text(found.fingerprint)}")
        line.append(f"  {found.members} member{'s' if found.members != 1 else ''}")
    Console(highlight=False, soft_wrap=True).print(line)
