"""The ``kaboodle`` command's entry point: the installed script and ``python -m cli``.

A container's healthcheck runs ``kaboodle fingerprint`` every 10 s on every node, and importing
Typer and building its app costs several times what the rest of that command does. So that one
command, in its plain forms, is answered here without Typer: when its arguments are only
``--port``/``-p PORT``, ``--socket PATH`` and ``--json``, each at most once and with a value
Typer would take as is (from the command line or from ``KABOODLE_PORT`` and
``KABOODLE_SOCKET``). Everything else (help, ``--probe``, a bad or unusual value, any other
command) goes to the Typer app (cli/main.py), which parses, answers and words errors as ever;
tests/test_cli_entry.py checks that both ways print the same.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "print_fingerprint", "quick_fingerprint_args"]

_DEFAULT_PORT = 7475  # cli/options.py's DEFAULT_PORT, which imports Typer


def main() -> None:
    """Run the ``kaboodle`` command line."""
    args = sys.argv[1:]
    quick = quick_fingerprint_args(args, os.environ)
    if quick is None:
        from cli.main import COMMANDS, app, make_app

        # One command's run needs only that command built; completion needs them all.
        one = args[0] if args and args[0] in COMMANDS else None
        if one is None or "_KABOODLE_COMPLETE" in os.environ:
            app(prog_name="kaboodle")
        else:
            make_app(one)(prog_name="kaboodle")
        return
    from kaboodle.runtime.errors import KaboodleError

    from .client import ask
    from .errors import CliError, reported

    port, socket, as_json = quick
    try:
        print_fingerprint(ask(port, socket, "fingerprint", probe_hint=True), as_json)
    except (CliError, KaboodleError) as exc:
        sys.exit(reported(exc))


def print_fingerprint(answer: Mapping[str, Any], as_json: bool) -> None:
    """What ``kaboodle fingerprint`` prints for the node's (or a probe's) answer."""
    if as_json:
        text = json.dumps({"fingerprint": answer["fingerprint"], "members": answer["members"]})
    else:
        text = str(answer["fingerprint"])
    sys.stdout.write(text + "\n")


def quick_fingerprint_args(
    args: Sequence[str], env: Mapping[str, str]
) -> tuple[int, Path | None, bool] | None:
    """``(port, socket, as_json)`` when ``args`` are a plain ``fingerprint`` command that can be
    answered without Typer; None when the Typer app must have them."""
    if not args or args[0] != "fingerprint":
        return None
    values: dict[str, str] = {}
    as_json = False
    rest = list(args[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--json" and not as_json:
            as_json = True
            continue
        name, value = _split(arg, rest)
        if name is None or name in values:
            return None
        values[name] = value
    # Click reads an environment variable only when it is set to something.
    if "port" in values:
        port_text = values["port"]
    else:
        port_text = env.get("KABOODLE_PORT") or str(_DEFAULT_PORT)
    if "socket" in values:
        socket_text: str | None = values["socket"]
    else:
        socket_text = env.get("KABOODLE_SOCKET") or None
    if not (port_text.isascii() and port_text.isdigit() and 1 <= int(port_text) <= 65535):
        return None  # Typer says what is wrong with it
    if socket_text is not None and (not socket_text or os.path.isdir(socket_text)):
        return None
    return int(port_text), None if socket_text is None else Path(socket_text), as_json


def _split(arg: str, rest: list[str]) -> tuple[str | None, str]:
    """The option an argument names (``port`` or ``socket``) and its value, taken from the
    argument itself or from the next one; None for anything else."""
    for flag, name in (("--port", "port"), ("--socket", "socket"), ("-p", "port")):
        if arg == flag:
            if not rest or rest[0].startswith("-"):
                return None, ""
            return name, rest.pop(0)
        joined = f"{flag}=" if flag.startswith("--") else flag
        if arg.startswith(joined) and len(arg) > len(joined):
            return name, arg[len(joined) :]
    return None, ""
