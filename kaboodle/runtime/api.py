"""The public asyncio API: :class:`Kaboodle`, one member of a mesh on a real network."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.config import MIN_DATAGRAM, Config
from kaboodle.protocol.coordinate import Coordinate
from kaboodle.protocol.discovery import FoundMember, probe_datagram, read_probe_reply
from kaboodle.protocol.events import Event, FingerprintChanged, PeerJoined, RoundTrip
from kaboodle.protocol.local import check_tags
from kaboodle.protocol.messages import MemberState, Tags
from kaboodle.protocol.node import Node

from .envelope import Envelope, EnvelopeError
from .interfaces import Interface, choose_interface
from .keyring import Keyring, key_id, parse_key
from .peer_info import PeerInfo
from .runner import NodeRunner, ProtocolNode
from .seeds import Seed, parse_seed, resolve_seeds
from .subscriptions import DEFAULT_QUEUE, Subscription, Subscriptions
from .transport import addr_of, group_sockaddr, open_prober, open_sockets

if TYPE_CHECKING:
    from .control.server import ControlServer

__all__ = ["RUST_WIRE", "WIRES", "Kaboodle"]

RUST_WIRE = "rust-0.1"
WIRES = ("kaboodle", RUST_WIRE)
"""The wire protocols a node can speak: this library's own, and the kaboodle crate 0.1.5's."""

_LATENCY_WEIGHT = 0.2  # weight of a new round-trip sample in the moving average
_SEED_REFRESH = 30.0  # seconds between resolving seeds again (DNS names may change)


class Kaboodle:
    """One member of a Kaboodle mesh.

    Args:
        port: the discovery port, the same for every member of one mesh.
        interface: an interface name, one of its IP addresses, ``"ipv6"`` or ``"ipv4"``; by
            default the first non-loopback interface with IPv6, else with IPv4.
        identity: opaque bytes (or text, encoded as UTF-8) that others see for this node.
        seeds: ``host:port`` of members to join through where multicast does not reach; a
            host may be a DNS name (A or AAAA records, resolved again every 30 s).
        config: protocol settings (default: the LAN profile).
        tags: small str -> str metadata that others see: at most ``config.max_tags`` bytes
            (512 by default), counting the UTF-8 bytes of keys and values; change them
            while running with :meth:`set_tags`.
        unicast_port: the port of the member socket (default: an ephemeral port).
        keys: encryption keys (16, 24 or 32 bytes, or their base64 text); the first seals
            what this node sends, every one is tried on what it receives. Without keys,
            datagrams are plain.
        label: the mesh label (at most 64 UTF-8 bytes): bound into every datagram, so meshes
            with different labels never mix, even on one port and under one key.
        verify_incoming: with keys, refuse datagrams that are not encrypted.
        verify_outgoing: with keys, encrypt what this node sends. Both switches turn
            encryption on in a running plain mesh with no downtime (docs/security.md).
        wire: ``"kaboodle"`` (this library's protocol) or ``"rust-0.1"``, the kaboodle
            crate 0.1.5's, to join a mesh of Rust nodes (docs/interop.md). That wire carries
            no tags, encryption, labels, graceful leave or coordinates: asking for any of
            them in that mode is a ValueError (its default config has proximity off).

    Raises:
        ValueError: a bad port, seed, identity, tag, key, label or wire, or a feature the
            wire cannot carry.

    Use ``async with Kaboodle(...) as kb:`` or ``await kb.start()`` / ``await kb.stop()``.
    """

    def __init__(
        self,
        port: int = 7475,
        interface: str | None = None,
        identity: bytes | str = b"",
        seeds: Iterable[str] = (),
        *,
        config: Config | None = None,
        tags: Mapping[str, str] | None = None,
        unicast_port: int = 0,
        keys: Iterable[bytes | str] = (),
        label: str = "",
        verify_incoming: bool = True,
        verify_outgoing: bool = True,
        wire: str = "kaboodle",
    ) -> None:
        keys = tuple(keys)
        if _check_wire(wire, tags, keys, label) == RUST_WIRE:
            config = _rust_config(config)
        self._wire = wire
        for name, value in (("port", port), ("unicast_port", unicast_port)):
            if not 0 <= value <= 65535 or (name == "port" and value == 0):
                raise ValueError(f"{name} {value} is out of range")
        self._port = port
        self._interface_spec = interface
        self._identity = identity.encode() if isinstance(identity, str) else bytes(identity)
        self._seeds: tuple[Seed, ...] = tuple(parse_seed(s) for s in seeds)
        self._config = config or Config.lan()
        self._tags = _tags_of(tags or {}, self._config)
        self._unicast_port = unicast_port
        self._runner: NodeRunner | None = None
        self._iface: Interface | None = None
        self._subscriptions = Subscriptions()
        self._latency: dict[Addr, float] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._started_at = 0.0
        if len(self._identity) > self._config.max_identity:
            raise ValueError(f"identity is longer than {self._config.max_identity} bytes")
        self._envelope = Envelope(
            Keyring(_key(k) for k in keys),
            label,
            verify_incoming=verify_incoming,
            verify_outgoing=verify_outgoing,
        )
        # The protocol fills datagrams up to max_datagram; leave room for the envelope, which
        # may start sealing later (a key installed while running).
        room = self._config.max_datagram - self._envelope.overhead
        if room < MIN_DATAGRAM:
            raise ValueError(
                f"config.max_datagram {self._config.max_datagram} leaves {room} bytes once "
                f"encryption or the label takes {self._envelope.overhead}; use at least "
                f"{MIN_DATAGRAM + self._envelope.overhead}"
            )
        self._node_config = self._config.with_changes(max_datagram=room)

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Join the mesh: open the sockets, announce, start probing.

        Raises:
            KaboodleError: no interface fits, or a socket cannot be opened (the message says
                what exists and what to do).
            RuntimeError: already started.
        """
        if self._runner is not None:
            raise RuntimeError("this Kaboodle is already running")
        iface = choose_interface(self._interface_spec)
        sockets = open_sockets(iface, self._port, self._unicast_port)
        node: ProtocolNode
        if self._wire == RUST_WIRE:
            from kaboodle.protocol.rust.node import RustNode  # noqa: PLC0415 (only when asked for)

            node = RustNode(
                sockets.self_addr, self._identity, config=self._node_config, rng=random.Random()
            )
        else:
            node = Node(
                sockets.self_addr,
                self._identity,
                config=self._node_config,
                rng=random.Random(),
                # Milliseconds of wall clock: a node restarted at the same address outranks
                # its previous life.
                incarnation=time.time_ns() // 1_000_000,
                tags=self._tags,
            )
        self._iface = iface
        self._started_at = time.monotonic()
        self._runner = NodeRunner(node, sockets, self._envelope, self._on_events)
        await self._runner.start()
        if self._seeds:
            self._tasks.append(asyncio.create_task(self._refresh_seeds(), name="kaboodle-seeds"))

    async def stop(self, *, leave: bool = True) -> None:
        """Leave gracefully: tell the mesh, give the news a moment to spread, close. (The
        rust-0.1 wire has no leave message: its mesh sees the node fail.)

        Args:
            leave: False closes at once without a word, as a crash looks to the mesh
                (memberlist's ``Shutdown`` without ``Leave``): the others find it failed.
        """
        runner = self._runner
        if runner is None:
            return
        if leave:
            runner.resume()  # a frozen node must be thawed to say goodbye
            runner.perform(runner.node.leave(runner.now))
            if self._wire != RUST_WIRE:
                await asyncio.sleep(max(2 * self._config.gossip_interval, 0.2))
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        await runner.close()
        self._runner = None
        self._subscriptions.close()

    def pause(self) -> None:
        """Freeze the node, as SIGSTOP or a long stall would: it neither reads, sends nor
        keeps time until :meth:`resume`, and the mesh suspects it meanwhile (then finds it
        failed, if the pause outlasts the suspicion). For demos (``kaboodle demo``) and for
        testing what an application does when its node stalls."""
        self._running().pause()

    def resume(self) -> None:
        """Thaw a paused node: it catches up on what came due and refutes any suspicion."""
        self._running().resume()

    @property
    def paused(self) -> bool:
        """Whether the node is running but paused."""
        return self._runner is not None and self._runner.paused

    async def __aenter__(self) -> Kaboodle:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._runner is not None

    @property
    def uptime(self) -> float:
        """Seconds since start(); 0 when not running."""
        return time.monotonic() - self._started_at if self._runner is not None else 0.0

    @property
    def wire(self) -> str:
        """The wire protocol this node speaks: ``"kaboodle"`` or ``"rust-0.1"``."""
        return self._wire

    # --------------------------------------------------------------------- views

    @property
    def self_addr(self) -> Addr:
        """This node's member address (its unicast socket's)."""
        return self._running().node.addr

    @property
    def interface(self) -> Interface:
        """The network interface this node uses."""
        if self._iface is None:
            raise RuntimeError("this Kaboodle is not running")
        return self._iface

    @property
    def identity(self) -> bytes:
        """This node's identity."""
        return self._runner.node.identity if self._runner else self._identity

    @property
    def tags(self) -> dict[str, str]:
        """This node's tags (a copy: change them with :meth:`set_tags`)."""
        return dict(self._runner.node.tags if self._runner else self._tags)

    @property
    def port(self) -> int:
        """The discovery port."""
        return self._port

    def peers(self) -> dict[Addr, bytes]:
        """The members this node counts (alive or suspect), self included, to their identity."""
        return {m.addr: m.identity for m in self._running().node.members if m.counted}

    def peer_states(self) -> dict[Addr, PeerInfo]:
        """Every member this node knows, dead and left ones included while remembered."""
        runner = self._running()
        node = runner.node
        proximity = node.proximity
        coordinates = dict(proximity.peers) if proximity is not None else {}
        if proximity is not None:
            coordinates[node.addr] = proximity.coordinate
        return {
            m.addr: PeerInfo(
                state=m.state,
                identity=m.identity,
                incarnation=m.incarnation,
                tags=dict(m.tags),
                latency=self._latency.get(m.addr),
                last_heard=runner.last_heard.get(m.addr),
                rtt_estimate=proximity.estimate(m.addr) if proximity is not None else None,
                coordinate=coordinates.get(m.addr),
            )
            for m in node.members
        }

    def coordinate(self) -> Coordinate | None:
        """This node's network coordinate (Vivaldi); None when ``config.proximity`` is off."""
        proximity = self._running().node.proximity
        return proximity.coordinate if proximity is not None else None

    def estimated_rtt(self, addr: Addr | str) -> float | None:
        """The round trip to the member at ``addr`` estimated from network coordinates, in
        seconds: no datagram is sent. None when proximity is off or the member has not yet
        answered one of our probes (each member is probed about once every N probe periods).

        Raises:
            ValueError: ``addr`` is not an address.
        """
        proximity = self._running().node.proximity
        target = addr if isinstance(addr, Addr) else Addr.parse(addr)
        return proximity.estimate(target) if proximity is not None else None

    def nearest(self, n: int) -> list[tuple[Addr, float]]:
        """The ``n`` alive members nearest to this node by estimated round trip, nearest first,
        each with its estimate in seconds; members without an estimate yet are left out."""
        node = self._running().node
        proximity = node.proximity
        if proximity is None:
            return []
        estimates = [
            (m.addr, rtt)
            for m in node.members
            if m.state == MemberState.ALIVE
            and m.addr != node.addr
            and (rtt := proximity.estimate(m.addr)) is not None
        ]
        estimates.sort(key=lambda pair: (pair[1], pair[0].sort_key))
        return estimates[: max(n, 0)]

    def fingerprint(self) -> int:
        """The CRC-32 fingerprint of this node's view; equal views give equal fingerprints."""
        return self._running().node.fingerprint()

    @property
    def stats(self) -> Counter[str]:
        """Counters: datagrams received and sent, dropped by reason, refutations, syncs..."""
        runner = self._running()
        stats = runner.node.stats + runner.stats
        dropped = self._subscriptions.dropped
        if dropped:  # as a Counter sum, positive counts only
            stats["events-dropped"] = dropped
        return stats

    # ------------------------------------------------------------------- actions

    def events(self, maxsize: int = DEFAULT_QUEUE) -> Subscription:
        """Subscribe to events (PeerJoined, PeerLeft, PeerFailed, PeerUpdated, PeerSuspected,
        FingerprintChanged): ``async for event in kb.events(): ...``.

        Each subscriber has its own queue of ``maxsize`` events; one that falls further behind
        loses the oldest (counted in ``dropped``), so it can never hold the node up. Iteration
        ends when the node stops or the subscription is closed.
        """
        return self._subscriptions.subscribe(maxsize)

    async def discover_next_peer(self, timeout: float | None = None) -> tuple[Addr, bytes]:
        """Wait for the next member to join; returns its address and identity.

        Raises:
            TimeoutError: nobody joined within ``timeout`` seconds.
        """
        subscription = self.events()
        try:
            async with asyncio.timeout(timeout):
                async for event in subscription:
                    if isinstance(event, PeerJoined):
                        return event.addr, event.identity
        finally:
            subscription.close()
        raise RuntimeError("this Kaboodle stopped while waiting for a peer")

    async def ping_addrs(self, addrs: Iterable[Addr | str]) -> None:
        """Contact members at ``addrs`` directly, as seeds: join without multicast."""
        runner = self._running()
        targets: list[Addr] = []
        for addr in addrs:
            if isinstance(addr, Addr):
                targets.append(addr)
            else:
                seed = parse_seed(addr)
                targets += await resolve_seeds((seed,), runner.sockets.iface.family)
        runner.perform(runner.node.contact(runner.now, targets))

    def set_identity(self, identity: bytes | str) -> None:
        """Change this node's identity; while running, the mesh hears of it as an update.

        Raises:
            ValueError: the identity is too long.
        """
        value = identity.encode() if isinstance(identity, str) else bytes(identity)
        if self._runner is None:
            if len(value) > self._config.max_identity:
                raise ValueError(f"identity is longer than {self._config.max_identity} bytes")
            self._identity = value
            return
        self._runner.perform(self._runner.node.set_identity(self._runner.now, value))

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Replace this node's tags; while running, the mesh hears of it as an update (a new
        incarnation), and members report it as ``PeerUpdated`` with the old and new tags.
        Before ``start()``, these are the tags it starts with. Tags are not in the
        fingerprint, so changing them changes no fingerprint.

        Raises:
            ValueError: a key or value that is not a string, or tags over
                ``config.max_tags`` bytes (the UTF-8 bytes of keys and values together); the
                tags are then unchanged.
        """
        if tags and self._wire == RUST_WIRE:
            raise ValueError(_not_carried("tags"))
        value = _tags_of(tags, self._config)
        if self._runner is None:
            self._tags = value
            return
        node = self._runner.node
        self._runner.perform(node.set_identity(self._runner.now, node.identity, value))

    def install_key(self, key: bytes | str) -> None:
        """Install an encryption key (raw bytes or base64 text): it is tried on what arrives
        at once. The first key of a node that had none also seals what it sends (unless
        ``verify_outgoing`` is off).

        Raises:
            ValueError: not a 16, 24 or 32-byte key, or the rust-0.1 wire (no encryption).
        """
        if self._wire == RUST_WIRE:
            raise ValueError(_not_carried("encryption keys"))
        self._envelope.keyring.install(_key(key))

    def use_key(self, key: bytes | str) -> None:
        """Seal what this node sends with ``key``, already installed.

        Raises:
            ValueError: the key is not installed.
        """
        self._envelope.keyring.use(_key(key))

    def remove_key(self, key: bytes | str) -> None:
        """Remove an installed key that is not the primary one.

        Raises:
            ValueError: it is the primary key (use another one first), or not installed.
        """
        self._envelope.keyring.remove(_key(key))

    def keys(self) -> list[str]:
        """The ids of the installed keys (8 hex digits of their SHA-256), the primary first."""
        return [key_id(key) for key in self._envelope.keyring.keys]

    @property
    def label(self) -> str:
        """The mesh label."""
        return self._envelope.label

    @property
    def verify_incoming(self) -> bool:
        """With keys, whether datagrams that are not encrypted are refused; settable."""
        return self._envelope.verify_incoming

    @verify_incoming.setter
    def verify_incoming(self, value: bool) -> None:
        self._envelope.verify_incoming = value

    @property
    def verify_outgoing(self) -> bool:
        """With keys, whether what this node sends is encrypted; settable."""
        return self._envelope.verify_outgoing

    @verify_outgoing.setter
    def verify_outgoing(self, value: bool) -> None:
        self._envelope.verify_outgoing = value

    def control_server(
        self, path: Path, *, on_leave: Callable[[], None], profile: str | None = None
    ) -> ControlServer:
        """The control socket server for this node at ``path`` (what ``kaboodle join`` serves).

        Nothing is opened yet: the caller owns the server and drives it. ``claim()`` takes the
        path (before ``start()`` of this node, so a second node on the same socket fails before
        it announces anything), ``start()`` begins answering once this node runs, ``leaving()``
        says it is about to leave, and ``close()`` (after this node has stopped) answers pending
        ``leave`` requests and removes the socket.

        Args:
            path: the Unix socket path to serve.
            on_leave: called when a client asks the node to leave; the caller then stops this
                node and closes the server, and only then does that client get its answer.
            profile: the name of the timing profile the node runs, for the ``info`` answer.

        Returns:
            A :class:`~kaboodle.runtime.control.ControlServer` reporting on this node. This
            call raises nothing; the server's ``claim()`` raises ``NodeAlreadyRunningError``
            when a live node already serves ``path``, ``ControlPermissionError`` when the
            directory or the socket cannot be used, and :class:`KaboodleError` when ``path`` is
            too long for a Unix socket or exists and is not one.
        """
        from .control.server import ControlServer  # noqa: PLC0415 (a node needs none by default)

        return ControlServer(self, path, on_leave=on_leave, profile=profile)

    @classmethod
    async def discover_mesh_member(
        cls,
        port: int = 7475,
        interface: str | None = None,
        timeout: float = 5.0,
        *,
        keys: Iterable[bytes | str] = (),
        label: str = "",
        wire: str = "kaboodle",
    ) -> FoundMember:
        """Find one member of the mesh on ``port`` without joining it (the seed's probe).

        An encrypted or labelled mesh answers only a probe with its key and label. With
        ``wire="rust-0.1"`` the probe is the crate's, and the answer has no fingerprint and
        no member count (they are None).

        Raises:
            TimeoutError: no member answered within ``timeout`` seconds.
            KaboodleError: no interface fits, or the socket cannot be opened.
            ValueError: a bad key or label.
        """
        keys = tuple(keys)
        _check_wire(wire, None, keys, label)
        envelope = Envelope(Keyring(_key(k) for k in keys), label)
        iface = choose_interface(interface)
        sock = open_prober(iface)
        try:
            if wire == RUST_WIRE:
                from kaboodle.protocol.rust import discovery as rust_discovery  # noqa: PLC0415

                prober = addr_of(sock.getsockname())
                ask = rust_discovery.probe_datagram(prober)
                read: Callable[[Addr, bytes], FoundMember | None] = (
                    rust_discovery.read_probe_response
                )
            else:
                nonce = random.getrandbits(64)
                ask = envelope.seal(probe_datagram(nonce))
                read = functools.partial(_read_reply, envelope=envelope, nonce=nonce)
            group = group_sockaddr(iface, port)
            return await _probe(sock, group, port, timeout, ask=ask, read=read)
        finally:
            sock.close()

    # ------------------------------------------------------------------- helpers

    def _running(self) -> NodeRunner:
        if self._runner is None:
            raise RuntimeError("this Kaboodle is not running: call start() first")
        return self._runner

    def _on_events(self, events: list[Event]) -> None:
        public: list[Event] = []
        for event in events:
            if isinstance(event, RoundTrip):
                old = self._latency.get(event.addr)
                self._latency[event.addr] = (
                    event.seconds if old is None else old + _LATENCY_WEIGHT * (event.seconds - old)
                )
            else:
                if isinstance(event, FingerprintChanged) and self._runner is not None:
                    self._runner.stats["fingerprint-changes"] += 1
                public.append(event)
        if public:
            self._subscriptions.publish(public)

    async def _refresh_seeds(self) -> None:
        while True:
            runner = self._running()
            addrs = await resolve_seeds(self._seeds, runner.sockets.iface.family)
            strangers = [a for a in addrs if not runner.node.counts(a)]
            if strangers:
                runner.perform(runner.node.contact(runner.now, strangers))
            await asyncio.sleep(_SEED_REFRESH)


def _check_wire(
    wire: str, tags: Mapping[str, str] | None, keys: tuple[object, ...], label: str
) -> str:
    """``wire``, once known to be one of :data:`WIRES` that can carry ``tags``, ``keys`` and
    ``label``.

    Raises:
        ValueError: an unknown wire, or tags, keys or a label for the rust-0.1 wire.
    """
    if wire not in WIRES:
        raise ValueError(f"wire {wire!r} is not one of {', '.join(WIRES)}")
    if wire == RUST_WIRE:
        for given, what in ((tags, "tags"), (keys, "encryption keys"), (label, "mesh label")):
            if given:
                raise ValueError(_not_carried(what))
    return wire


def _rust_config(config: Config | None) -> Config:
    """The config of a rust-0.1 node (proximity off by default).

    Raises:
        ValueError: coordinates asked for: the crate carries none.
    """
    if config is None:
        return Config.lan(proximity=False)
    if config.proximity:
        raise ValueError(_not_carried("network coordinates") + " (use Config(proximity=False))")
    return config


def _not_carried(what: str) -> str:
    return f"the rust-0.1 wire carries no {what}: set none in that mode (docs/interop.md)"


def _tags_of(tags: Mapping[str, str], config: Config) -> Tags:
    """``tags`` as the protocol keeps them (sorted pairs), checked against ``config``'s cap.

    Raises:
        ValueError: a key or value is not a string, or the tags exceed the cap.
    """
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(f"tag keys and values must be strings, not {key!r}: {value!r}")
    pairs = tuple(sorted(tags.items()))
    check_tags(pairs, config)
    return pairs


def _key(key: bytes | str) -> bytes:
    """A raw key as given, or the key in a base64 text."""
    return parse_key(key) if isinstance(key, str) else bytes(key)


def _read_reply(src: Addr, data: bytes, *, envelope: Envelope, nonce: int) -> FoundMember | None:
    try:
        return read_probe_reply(src, envelope.open(data), nonce)
    except EnvelopeError:
        return None


async def _probe(
    sock: socket.socket,
    group: tuple[Any, ...],
    port: int,
    timeout: float,
    *,
    ask: bytes,
    read: Callable[[Addr, bytes], FoundMember | None],
) -> FoundMember:
    loop = asyncio.get_running_loop()
    found: asyncio.Future[FoundMember] = loop.create_future()
    send_errors: list[OSError] = []

    class Listener(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            with contextlib.suppress(ValueError, OSError):  # a source that is no address
                member = read(addr_of(addr), data)
                if member is not None and not found.done():
                    found.set_result(member)

        def error_received(self, exc: Exception) -> None:
            if isinstance(exc, OSError):
                send_errors.append(exc)

    transport, _ = await loop.create_datagram_endpoint(Listener, sock=sock)
    try:
        async with asyncio.timeout(timeout):
            delay = 0.25
            while True:
                try:
                    transport.sendto(ask, group)
                except OSError as error:
                    send_errors.append(error)
                done, _ = await asyncio.wait({found}, timeout=delay)
                if done:
                    return found.result()
                delay = min(delay * 1.5, 2.0)  # members answer at random: ask again, slower
    except TimeoutError:
        # Say why when the probes never left: "nobody answered" would mislead.
        why = f" (sending the probe failed: {send_errors[-1]})" if send_errors else ""
        raise TimeoutError(
            f"no kaboodle member answered a probe on port {port} within {timeout:g} s{why}"
        ) from None
    finally:
        transport.close()
