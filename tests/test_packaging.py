"""What a wheel of this checkout holds: every package of the source tree, so that an install
(the container image installs from a wheel, not in editable mode) imports what the tests do."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_in_the_tree_is_listed_in_pyproject() -> None:
    listed = set(
        tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    )
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("kaboodle", "cli")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found == listed
