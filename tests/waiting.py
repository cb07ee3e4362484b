"""Waiting for conditions with deadlines (never a blind sleep), and free ports."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_until(
    condition: Callable[[], Any], timeout: float = 10.0, describe: Callable[[], str] = lambda: ""
) -> Any:
    """Poll ``condition`` until it returns something true, and return that; fail at the
    deadline with what was seen. The test goes on as soon as the condition holds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {describe()}")
        time.sleep(0.02)


async def wait_for(
    condition: Callable[[], Any], timeout: float = 5.0, describe: Callable[[], str] = lambda: ""
) -> None:
    """The same, on a running event loop."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"not within {timeout} s: {describe()}")
        await asyncio.sleep(0.02)


def free_port() -> int:
    """A UDP port nobody on this host uses now (for a discovery port of a test's own)."""
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        sock.bind(("::1", 0))
        return int(sock.getsockname()[1])
