"""Kaboodle: zero-configuration peer discovery and membership (SWIM) for Python services.

import asyncio, kaboodle

async def main() -> None:
    async with kaboodle.Kaboodle(port=7475, identity="web-1") as kb:
        async for event in kb.events():
            print(event, hex(kb.fingerprint()), kb.peers())

asyncio.run(main())
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaboodle.lazy import lazy_getattr
from kaboodle.version import __version__

if TYPE_CHECKING:
    from kaboodle.protocol.addr import Addr
    from kaboodle.protocol.config import PROFILES, Config
    from kaboodle.protocol.coordinate import Coordinate
    from kaboodle.protocol.discovery import FoundMember
    from kaboodle.protocol.events import (
        Event,
        FingerprintChanged,
        PeerFailed,
        PeerJoined,
        PeerLeft,
        PeerSuspected,
        PeerUpdated,
    )
    from kaboodle.protocol.messages import MemberState
    from kaboodle.runtime.api import Kaboodle
    from kaboodle.runtime.blocking import BlockingKaboodle
    from kaboodle.runtime.errors import KaboodleError
    from kaboodle.runtime.interfaces import Interface
    from kaboodle.runtime.peer_info import PeerInfo

__all__ = [
    "PROFILES",
    "Addr",
    "BlockingKaboodle",
    "Config",
    "Coordinate",
    "Event",
    "FingerprintChanged",
    "FoundMember",
    "Interface",
    "Kaboodle",
    "KaboodleError",
    "MemberState",
    "PeerFailed",
    "PeerInfo",
    "PeerJoined",
    "PeerLeft",
    "PeerSuspected",
    "PeerUpdated",
    "__version__",
]

# The names are imported on first use: the CLI's client commands, which only talk to a node's
# control socket, must not pay for the asyncio runtime, the cipher and the interface scanner.
_LAZY = {
    "Addr": "kaboodle.protocol.addr",
    "PROFILES": "kaboodle.protocol.config",
    "Config": "kaboodle.protocol.config",
    "Coordinate": "kaboodle.protocol.coordinate",
    "FoundMember": "kaboodle.protocol.discovery",
    "Event": "kaboodle.protocol.events",
    "FingerprintChanged": "kaboodle.protocol.events",
    "PeerFailed": "kaboodle.protocol.events",
    "PeerJoined": "kaboodle.protocol.events",
    "PeerLeft": "kaboodle.protocol.events",
    "PeerSuspected": "kaboodle.protocol.events",
    "PeerUpdated": "kaboodle.protocol.events",
    "MemberState": "kaboodle.protocol.messages",
    "Kaboodle": "kaboodle.runtime.api",
    "BlockingKaboodle": "kaboodle.runtime.blocking",
    "KaboodleError": "kaboodle.runtime.errors",
    "Interface": "kaboodle.runtime.interfaces",
    "PeerInfo": "kaboodle.runtime.peer_info",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
