"""The asyncio driver of a protocol node: datagrams and timers in, effects out.

Everything runs on the event loop's thread: socket callbacks and timer callbacks call into the
node and perform the effects it returns at once. Nothing here blocks, and no datagram, however
malformed, can raise out of a callback: the node counts what it drops, and the runner counts
what never reached the node (send errors, oversized reads).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import logging
import socket
import time
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.effects import Effects, Multicast, Send, SetTimer
from kaboodle.protocol.events import Event
from kaboodle.protocol.node import Node
from kaboodle.protocol.timers import Timer

from .envelope import Envelope, EnvelopeError
from .interfaces import change_feed, find_address, interface_index
from .transport import RECV_BUFFER, Sockets, addr_of

if TYPE_CHECKING:
    from kaboodle.protocol.rust.node import RustNode  # loaded only for the rust-0.1 wire

__all__ = ["NodeRunner", "ProtocolNode"]

ProtocolNode: TypeAlias = "Node | RustNode"
"""The state machines a runner drives: this library's protocol, or the crate's (rust-0.1)."""

log = logging.getLogger("kaboodle")

_FROZEN_MAX = 4096  # what a paused node keeps: about what its socket buffers would hold

_WATCH_INTERVAL = 2.0  # seconds between checks of our interface: when polling, or while it is gone
_REFUSALS = {
    "auth": "sealed with a key we do not have, for another mesh label, or tampered",
    "plaintext": "not encrypted, while this node requires encryption",
    "label": "for another mesh label",
}


_READ_BATCH = 64  # datagrams read per wake-up at most: a flood must not starve the timers


class NodeRunner:
    """Drives one :class:`Node` over one :class:`Sockets` on the running event loop.

    Args:
        node: the protocol node, not yet started.
        sockets: its sockets, already bound.
        envelope: seals what the node sends and opens what it receives.
        on_events: called with the events of every call into the node, on the loop's thread.
    """

    def __init__(
        self,
        node: ProtocolNode,
        sockets: Sockets,
        envelope: Envelope,
        on_events: Callable[[list[Event]], None],
    ) -> None:
        self.node = node
        self.sockets = sockets
        self.envelope = envelope
        self.stats: Counter[str] = Counter()
        self._on_events = on_events
        self._loop = asyncio.get_running_loop()
        # Pending timers by value, so that a node's cancels find them; of equal timers pending
        # at once only the last is here, and the others come back stale, which a node ignores.
        self._handles: dict[Timer, asyncio.TimerHandle] = {}
        # Of those, the ones that may come back sooner (SetTimer.early): when each may, and
        # how to hand it back. They are handed back after a wake-up for datagrams.
        self._early: dict[Timer, tuple[float, Callable[[], None]]] = {}
        self._readers: list[int] = []  # the file descriptors the loop watches for us
        self._watch: asyncio.TimerHandle | None = None
        self._iface_missing = False  # our address was on no interface at the last check
        self._feed: socket.socket | None = None  # tells of link and address changes
        self._closed = False
        self._frozen: list[Callable[[], None]] | None = None  # while paused: what came due
        self.last_heard: dict[Addr, float] = {}
        """Wall-clock time of the last datagram from each member (members only: a stranger's
        datagrams must not grow this)."""

    @property
    def now(self) -> float:
        """The node's clock: the loop's monotonic time."""
        return self._loop.time()

    async def start(self) -> None:
        """Attach the sockets to the loop and start the node."""
        for sock, via_group in ((self.sockets.unicast, False), (self.sockets.group, True)):
            # A reader of our own rather than a datagram transport: an idle node's CPU is
            # mostly the interpreter's work per wake-up, and the transport adds layers and
            # reads into a fresh 256 KiB buffer each time (three syscalls and a page fault).
            self._loop.add_reader(sock.fileno(), self._readable, sock, via_group)
            self._readers.append(sock.fileno())
        # Our interface is checked when the system says a link or an address changed, or
        # every few seconds where it cannot say (an idle node's CPU is mostly its wake-ups).
        self._feed = change_feed()
        if self._feed is not None:
            self._loop.add_reader(self._feed.fileno(), self._interfaces_changed)
        else:
            self._watch = self._loop.call_later(_WATCH_INTERVAL, self._check_interface)
        self.perform(self.node.start(self.now))

    def perform(self, fx: Effects) -> None:
        """Carry out a node's effects: send, set timers, report events."""
        if self._closed:
            return
        if self._frozen is not None:
            self._frozen.append(functools.partial(self.perform, fx))
            return
        seal = self.envelope.seal
        kind_of = self.node.kind_of
        for send in fx.sends:
            if isinstance(send, Send):
                self._sendto(seal(send.data), self.sockets.sockaddr(send.to), kind_of(send.data))
            elif isinstance(send, Multicast):
                self._send_group(seal(send.data), kind_of(send.data, via_group=True))
        handles = self._handles
        for stale in fx.cancels:
            handle = handles.pop(stale, None)
            if handle is not None:
                handle.cancel()
                self._early.pop(stale, None)
        for timer in fx.timers:
            self._set_timer(timer)
        if fx.events:
            self._on_events(fx.events)

    def _readable(self, sock: socket.socket, via_group: bool) -> None:
        """A socket has datagrams: take what is queued, a burst in one wake-up."""
        for _ in range(_READ_BATCH):
            try:
                data, sockaddr = sock.recvfrom(RECV_BUFFER)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                # An ICMP error reported on the socket (a peer's port closed): the next read
                # returns data again.
                self.stats[f"receive-error:{errno.errorcode.get(error.errno or 0, error)}"] += 1
                continue
            self.datagram(data, sockaddr, via_group)
            if self._closed:
                return
        if self._early and self._frozen is None:
            self._hand_back_early()

    def _hand_back_early(self) -> None:
        """Hand back now the timers that may come early: we are awake anyway, and each one
        handed back now is a wake-up saved."""
        now = self.now
        for timer in [timer for timer, (earliest, _) in self._early.items() if earliest <= now]:
            # Each one handed back may cancel or replace another of the list.
            entry = self._early.get(timer)
            if entry is not None and entry[0] <= now:
                self.stats["timers-early"] += 1
                entry[1]()

    def datagram(self, data: bytes, sockaddr: Any, via_group: bool) -> None:
        """A datagram arrived on one of our sockets."""
        if self._frozen is not None:
            # As in a stopped process's socket buffer: kept for later, up to a point.
            if len(self._frozen) < _FROZEN_MAX:
                self._frozen.append(functools.partial(self.datagram, data, sockaddr, via_group))
            return
        self.stats["received-group" if via_group else "received-unicast"] += 1
        if len(data) >= RECV_BUFFER:
            self.stats["dropped:oversize"] += 1
            return
        try:
            src = addr_of(sockaddr)
        except (OSError, ValueError, IndexError):
            self.stats["dropped:source"] += 1
            return
        try:
            data = self.envelope.open(data)
        except EnvelopeError as error:
            self._refused(src, error.reason)
            return
        kind = self.node.kind_of(data, via_group=via_group)
        self.stats[f"received:{kind}"] += 1
        self.stats[f"received-bytes:{kind}"] += len(data)
        if src in self.node.members:
            self.last_heard[src] = time.time()
        self.perform(self.node.handle_datagram(self.now, src, data, via_group=via_group))

    def _refused(self, src: Addr, reason: str) -> None:
        key = f"dropped:{reason}"
        if not self.stats[key]:
            # Once per reason, never once per datagram: a neighbour with a wrong key would
            # otherwise flood the log.
            log.warning(
                "refused a datagram from %s (%s: %s); counting further ones as %s",
                src,
                reason,
                _REFUSALS[reason],
                key,
            )
        self.stats[key] += 1

    @property
    def paused(self) -> bool:
        """Whether the node is frozen by :meth:`pause`."""
        return self._frozen is not None

    def pause(self) -> None:
        """Freeze the node as SIGSTOP freezes a process: what arrives or comes due (datagrams,
        timers, effects) waits for :meth:`resume`."""
        if self._frozen is None and not self._closed:
            self._frozen = []

    def resume(self) -> None:
        """Thaw a paused node: what came due runs now, late, as after SIGCONT."""
        frozen, self._frozen = self._frozen, None
        for due in frozen or ():
            due()

    async def close(self) -> None:
        """Stop delivering anything to the node and close the sockets."""
        self._closed = True
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()
        self._early.clear()
        if self._watch is not None:
            self._watch.cancel()
        if self._feed is not None:
            self._loop.remove_reader(self._feed.fileno())
            self._feed.close()
            self._feed = None
        for fd in self._readers:
            self._loop.remove_reader(fd)
        self._readers.clear()
        self.sockets.close()

    def _set_timer(self, set_timer: SetTimer) -> None:
        timer = set_timer.timer
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None and self._handles.get(timer) is handle:
                del self._handles[timer]
                if self._early.pop(timer, None) is not None:
                    handle.cancel()  # handed back early: the loop must not run it again
            if self._frozen is not None:
                self._frozen.append(fire)
            elif not self._closed:
                self.perform(self.node.handle_timer(self.now, timer))

        handle = self._loop.call_at(set_timer.at, fire)
        self._handles[timer] = handle
        if set_timer.early > 0:
            self._early[timer] = (set_timer.at - set_timer.early, fire)
        else:
            self._early.pop(timer, None)  # an equal timer set before, now replaced

    def _sendto(self, data: bytes, sockaddr: tuple[Any, ...], kind: str) -> None:
        try:
            self.sockets.unicast.sendto(data, sockaddr)
        except BlockingIOError:
            self.stats["dropped:send-buffer-full"] += 1
        except OSError as error:
            self._send_failed("send-error", error, sockaddr)
        else:
            self._sent(data, kind)

    def _send_group(self, data: bytes, kind: str) -> None:
        target = self.sockets.group_sockaddr()
        try:
            self.sockets.unicast.sendto(data, target)
        except OSError as error:
            broadcast = self.sockets.iface.broadcast
            if error.errno == errno.ENETUNREACH and broadcast is not None:
                # No route for the limited broadcast: use the subnet's directed broadcast.
                self._sendto(data, (broadcast, self.sockets.group_port), kind)
                return
            self._send_failed("group-send-error", error, target)
            return
        self._sent(data, kind)

    def _sent(self, data: bytes, kind: str) -> None:
        stats = self.stats
        stats["sent"] += 1
        stats["sent-bytes"] += len(data)
        stats[f"sent:{kind}"] += 1
        stats[f"sent-bytes:{kind}"] += len(data)

    def _send_failed(self, kind: str, error: OSError, sockaddr: tuple[Any, ...]) -> None:
        key = f"{kind}:{errno.errorcode.get(error.errno or 0, error.errno)}"
        if not self.stats[key]:
            # Once per kind of failure: enough to diagnose, never a flood.
            log.warning(
                "%s (further ones are counted as %s)", self._why(kind, error, sockaddr), key
            )
        self.stats[key] += 1

    def _why(self, kind: str, error: OSError, sockaddr: tuple[Any, ...]) -> str:
        """What a send failure means, and what to check, in words."""
        reason = error.strerror or str(error)
        if kind != "group-send-error":
            return f"sending to {sockaddr[0]} port {sockaddr[1]} failed: {reason}"
        where = f"{sockaddr[0]} port {sockaddr[1]} on {self.sockets.iface.name}"
        if error.errno in (errno.EPERM, errno.EACCES):
            return (
                f"multicast to {where} is refused by this host ({reason}): discovery falls back "
                "to seeds; check the firewall, or give --seed HOST:PORT"
            )
        if error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL):
            return (
                f"multicast to {where} has no route ({reason}): this interface cannot reach "
                "the group; choose another with --interface, or give --seed HOST:PORT"
            )
        return f"multicast to {where} failed: {reason}"

    def _interfaces_changed(self) -> None:
        """The feed says a link or an address changed somewhere: look at ours."""
        assert self._feed is not None
        for _ in range(_READ_BATCH):
            try:
                self._feed.recv(RECV_BUFFER)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break  # ENOBUFS: notifications were lost, which says the same thing
        self._check_interface()

    def _check_interface(self) -> None:
        """Look at our interface now; look again in a while if we poll (no change feed), or
        while our address is missing or rejoining failed (the feed may say nothing more)."""
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if not self._interface_settled() or self._feed is None:
            self._watch = self._loop.call_later(_WATCH_INTERVAL, self._check_interface)

    def _interface_settled(self) -> bool:
        """Rejoin the group when our address comes back on an interface with a new index or
        name: a container's network disconnected and connected again drops the membership,
        and Docker may bring the interface back as eth1 rather than eth0. False while the
        address is on no interface, or the rejoin failed."""
        current = self.sockets.iface
        missing = self._iface_missing
        if not missing and interface_index(current.name) == current.index:
            # One ioctl, where listing every address costs a node more than its probes;
            # the memberships hang on the index, so an unchanged index needs nothing.
            return True
        found = find_address(current.ip, prefer=current.name)
        if found is None:
            self._iface_missing = True
            return False
        if (found.index, found.name) == (current.index, current.name) and not missing:
            return True
        try:
            self.sockets.rejoin(found)
        except OSError as error:
            log.debug("rejoining the group on %s failed: %s", found.name, error)
            return False
        self._iface_missing = False
        self.stats["rejoined"] += 1
        log.info(
            "%s is back on %s (index %d): rejoined the group", found.ip, found.name, found.index
        )
        self.perform(self.node.restart_announcing(self.now))
        return True
