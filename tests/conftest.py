"""Shared pytest configuration."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Tests that build network-namespace labs (tests/netns_lab.py): they need root and iproute2,
    # and can be left out with `-m "not netns"`.
    config.addinivalue_line(
        "markers", "netns: builds a network-namespace lab (root and iproute2; see netns_lab.py)"
    )
