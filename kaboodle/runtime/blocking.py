"""A blocking face for programs without asyncio: the node runs on a loop in its own thread.

The same split as python-zeroconf's ``Zeroconf`` and ``AsyncZeroconf``: one implementation
(:class:`~kaboodle.runtime.api.Kaboodle`), and this thin wrapper whose methods hand work to
the loop's thread and wait for the answer.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable, Coroutine, Iterable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.coordinate import Coordinate
from kaboodle.protocol.discovery import FoundMember

from .api import Kaboodle
from .interfaces import Interface
from .peer_info import PeerInfo

__all__ = ["BlockingKaboodle"]

T = TypeVar("T")


class BlockingKaboodle:
    """:class:`Kaboodle` for synchronous code. Takes the same arguments.

    ``with BlockingKaboodle(port=7475) as kb: print(kb.peers())``
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="kaboodle-loop", daemon=True
        )
        self._thread.start()
        self._kb = self._call(lambda: Kaboodle(*args, **kwargs))

    def start(self, timeout: float | None = 30.0) -> None:
        """Join the mesh (see :meth:`Kaboodle.start`)."""
        self._run(self._kb.start(), timeout)

    def stop(self, timeout: float | None = 30.0, *, leave: bool = True) -> None:
        """Leave gracefully (or not: see :meth:`Kaboodle.stop`) and stop the loop's thread."""
        if self._thread.is_alive():
            self._run(self._kb.stop(leave=leave), timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)
            self._loop.close()

    def __enter__(self) -> BlockingKaboodle:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def self_addr(self) -> Addr:
        """This node's member address."""
        return self._call(lambda: self._kb.self_addr)

    def peers(self) -> dict[Addr, bytes]:
        """See :meth:`Kaboodle.peers`."""
        return self._call(self._kb.peers)

    def peer_states(self) -> dict[Addr, PeerInfo]:
        """See :meth:`Kaboodle.peer_states`."""
        return self._call(self._kb.peer_states)

    def fingerprint(self) -> int:
        """See :meth:`Kaboodle.fingerprint`."""
        return self._call(self._kb.fingerprint)

    @property
    def running(self) -> bool:
        """See :attr:`Kaboodle.running`."""
        return self._call(lambda: self._kb.running)

    @property
    def identity(self) -> bytes:
        """See :attr:`Kaboodle.identity`."""
        return self._call(lambda: self._kb.identity)

    @property
    def interface(self) -> Interface:
        """See :attr:`Kaboodle.interface`."""
        return self._call(lambda: self._kb.interface)

    @property
    def port(self) -> int:
        """See :attr:`Kaboodle.port`."""
        return self._kb.port

    @property
    def wire(self) -> str:
        """See :attr:`Kaboodle.wire`."""
        return self._kb.wire

    @property
    def uptime(self) -> float:
        """See :attr:`Kaboodle.uptime`."""
        return self._call(lambda: self._kb.uptime)

    @property
    def stats(self) -> Counter[str]:
        """See :attr:`Kaboodle.stats` (a copy, taken on the loop's thread)."""
        return self._call(lambda: Counter(self._kb.stats))

    @property
    def label(self) -> str:
        """See :attr:`Kaboodle.label`."""
        return self._kb.label

    def keys(self) -> list[str]:
        """See :meth:`Kaboodle.keys`."""
        return self._call(self._kb.keys)

    def install_key(self, key: bytes | str) -> None:
        """See :meth:`Kaboodle.install_key`."""
        self._call(lambda: self._kb.install_key(key))

    def use_key(self, key: bytes | str) -> None:
        """See :meth:`Kaboodle.use_key`."""
        self._call(lambda: self._kb.use_key(key))

    def remove_key(self, key: bytes | str) -> None:
        """See :meth:`Kaboodle.remove_key`."""
        self._call(lambda: self._kb.remove_key(key))

    @property
    def verify_incoming(self) -> bool:
        """See :attr:`Kaboodle.verify_incoming`; settable."""
        return self._call(lambda: self._kb.verify_incoming)

    @verify_incoming.setter
    def verify_incoming(self, value: bool) -> None:
        self._call(lambda: setattr(self._kb, "verify_incoming", value))

    @property
    def verify_outgoing(self) -> bool:
        """See :attr:`Kaboodle.verify_outgoing`; settable."""
        return self._call(lambda: self._kb.verify_outgoing)

    @verify_outgoing.setter
    def verify_outgoing(self, value: bool) -> None:
        self._call(lambda: setattr(self._kb, "verify_outgoing", value))

    def coordinate(self) -> Coordinate | None:
        """See :meth:`Kaboodle.coordinate`."""
        return self._call(self._kb.coordinate)

    def estimated_rtt(self, addr: Addr | str) -> float | None:
        """See :meth:`Kaboodle.estimated_rtt`."""
        return self._call(lambda: self._kb.estimated_rtt(addr))

    def nearest(self, n: int) -> list[tuple[Addr, float]]:
        """See :meth:`Kaboodle.nearest`."""
        return self._call(lambda: self._kb.nearest(n))

    def set_identity(self, identity: bytes | str) -> None:
        """See :meth:`Kaboodle.set_identity`."""
        self._call(lambda: self._kb.set_identity(identity))

    @property
    def tags(self) -> dict[str, str]:
        """See :attr:`Kaboodle.tags`."""
        return self._call(lambda: self._kb.tags)

    def pause(self) -> None:
        """See :meth:`Kaboodle.pause`."""
        self._call(self._kb.pause)

    def resume(self) -> None:
        """See :meth:`Kaboodle.resume`."""
        self._call(self._kb.resume)

    @property
    def paused(self) -> bool:
        """See :attr:`Kaboodle.paused`."""
        return self._call(lambda: self._kb.paused)

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """See :meth:`Kaboodle.set_tags`."""
        self._call(lambda: self._kb.set_tags(tags))

    def ping_addrs(self, addrs: Iterable[Addr | str], timeout: float | None = 10.0) -> None:
        """See :meth:`Kaboodle.ping_addrs`."""
        self._run(self._kb.ping_addrs(list(addrs)), timeout)

    def discover_next_peer(self, timeout: float | None = None) -> tuple[Addr, bytes]:
        """See :meth:`Kaboodle.discover_next_peer`."""
        return self._run(self._kb.discover_next_peer(timeout), None)

    @staticmethod
    def discover_mesh_member(
        port: int = 7475, interface: str | None = None, timeout: float = 5.0
    ) -> FoundMember:
        """See :meth:`Kaboodle.discover_mesh_member`."""
        return asyncio.run(Kaboodle.discover_mesh_member(port, interface, timeout))

    def _run(self, coro: Coroutine[Any, Any, T], timeout: float | None) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def _call(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        return self._run(call(), None)
