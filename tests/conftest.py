"""Shared pytest configuration, and the fixtures of the command's tests."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_helpers import JoinProcess, cli_env
from typer.testing import CliRunner


def pytest_configure(config: pytest.Config) -> None:
    # Tests that build network-namespace labs (tests/netns_lab.py): they need root and iproute2,
    # and can be left out with `-m "not netns"`.
    config.addinivalue_line(
        "markers", "netns: builds a network-namespace lab (root and iproute2; see netns_lab.py)"
    )


@pytest.fixture
def rundir() -> Iterator[Path]:
    """A short runtime directory of the test's own (a Unix socket path has 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="kbt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def env(rundir: Path) -> dict[str, str]:
    """The environment for ``kaboodle`` processes (tests/cli_helpers.py: cli_env)."""
    return cli_env(rundir)


@pytest.fixture
def runner(rundir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """Typer's CliRunner, in the test's runtime directory and free of KABOODLE_* settings."""
    for name in list(os.environ):
        if name.startswith("KABOODLE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KABOODLE_RUNTIME_DIR", str(rundir))
    monkeypatch.setenv("COLUMNS", "200")
    return CliRunner()


@pytest.fixture
def nodes() -> Iterator[list[JoinProcess]]:
    """Node processes a test starts; all are ended, whatever happens."""
    started: list[JoinProcess] = []
    yield started
    for node in started:
        node.stop()
