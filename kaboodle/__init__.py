"""Kaboodle: zero-configuration peer discovery and membership (SWIM) for Python services.

import asyncio, kaboodle

async def main() -> None:
    async with kaboodle.Kaboodle(port=7475, identity="web-1") as kb:
        async for event in kb.events():
            print(event, hex(kb.fingerprint()), kb.peers())

asyncio.run(main())
"""

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
from kaboodle.version import __version__

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
