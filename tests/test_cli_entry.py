"""The entry point's quick ``kaboodle fingerprint`` (cli/entry.py) answers exactly as the Typer
app does: the same output, the same one-line errors, the same exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import KABOODLE, ROOT, JoinProcess
from waiting import free_port

from cli.entry import quick_fingerprint_args

# The Typer app itself, without the entry point in front of it.
TYPER_ONLY = [
    sys.executable,
    "-c",
    "import sys; from cli.main import app; app(prog_name='kaboodle')",
]


def both_ways(args: list[str], env: dict[str, str]) -> tuple[tuple[int, str, str], ...]:
    """(exit code, stdout, stderr) through the entry point, then through Typer alone."""
    results = []
    for argv in ([*KABOODLE, *args], [*TYPER_ONLY, *args]):
        done = subprocess.run(
            argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=30, check=False
        )
        results.append((done.returncode, done.stdout, done.stderr))
    return tuple(results)


def test_every_form_of_the_command_gets_the_answer_typer_gives(
    env: dict[str, str], nodes: list[JoinProcess], tmp_path: Path
) -> None:
    port = free_port()
    node = JoinProcess(port, env)
    nodes.append(node)
    p, sock, elsewhere = str(port), node.started["control"], str(free_port())
    variants: list[tuple[list[str], dict[str, str]]] = [
        (["-p", p], {}),
        ([f"-p{p}"], {}),
        ([f"--port={p}"], {}),
        (["--port", p, "--json"], {}),
        (["--json", "--port", p], {}),
        (["--json", "--json", "-p", p], {}),
        (["-p", p, "-p", p], {}),
        (["-p", "0"], {}),
        (["-p", ""], {}),
        (["-p", "+" + p], {}),
        (["-p", " " + p], {}),
        (["-p", "x"], {}),
        (["--port"], {}),
        (["-p", p, "extra"], {}),
        (["-p", p, "--bogus"], {}),
        (["-p", elsewhere], {}),
        (["--socket", sock], {}),
        ([f"--socket={sock}", "--json"], {}),
        (["--socket="], {}),
        (["--socket", str(tmp_path)], {}),
        (["--socket", str(tmp_path / "none.sock")], {}),
        ([], {"KABOODLE_PORT": p}),
        ([], {"KABOODLE_PORT": "abc"}),
        ([], {"KABOODLE_PORT": ""}),
        ([], {"KABOODLE_SOCKET": sock}),
        ([], {"KABOODLE_SOCKET": str(tmp_path)}),
        (["-p", elsewhere], {"KABOODLE_PORT": p}),
    ]
    for args, extra in variants:
        quick, typer = both_ways(["fingerprint", *args], {**env, **extra})
        assert quick == typer, (args, extra)
    # And the answers are the node's, so that the comparison above compares something.
    code, out, _ = both_ways(["fingerprint", "-p", p], env)[0]
    assert code == 0 and out.strip() == node.first("fingerprint")["fingerprint"]


@pytest.mark.parametrize(
    "args",
    [
        ["join", "--help"],
        ["join", "--bogus"],
        ["join", "--port", "0"],
        ["join", "--tag", "novalue"],
        ["peers", "--help"],
        ["peers", "--state", "moon"],
        ["info", "-p", "9"],
        ["keys", "--help"],
        ["keys", "list", "--help"],
        ["keys", "verify"],
        ["version"],
        ["demo", "--nodes", "1"],
        ["--help"],
        ["nosuch"],
    ],
)
def test_a_command_run_alone_answers_as_in_the_whole_app(
    args: list[str], env: dict[str, str]
) -> None:
    # The entry point builds only the command it runs (cli/main.py's make_app).
    alone, whole = both_ways(args, env)
    assert alone == whole


@pytest.mark.parametrize(
    ("args", "env", "quick"),
    [
        (["fingerprint"], {}, (7475, None, False)),
        (["fingerprint", "--json", "-p", "9"], {}, (9, None, True)),
        (["fingerprint", "--port=9"], {"KABOODLE_PORT": "8"}, (9, None, False)),
        (["fingerprint"], {"KABOODLE_PORT": "8", "KABOODLE_SOCKET": "/s"}, (8, Path("/s"), False)),
        (["fingerprint", "--probe"], {}, None),
        (["fingerprint", "--help"], {}, None),
        (["fingerprint", "-p", "65536"], {}, None),
        (["fingerprint", "-p", "٣"], {}, None),  # a digit, but not one Click's int() wants here
        (["peers"], {}, None),
        ([], {}, None),
    ],
)
def test_only_plain_forms_take_the_quick_way(
    args: list[str], env: dict[str, str], quick: tuple[int, Path | None, bool] | None
) -> None:
    assert quick_fingerprint_args(args, env) == quick
