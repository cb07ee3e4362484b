"""The kaboodle crate 0.1.5's membership protocol as a sans-IO state machine (section 4 of
shared/reference/rust-kaboodle-0.1.5-wire.md), so that a Python node and Rust nodes form one
mesh and show one fingerprint.

It follows the crate where the mesh depends on it: the crate's timings (a 1 s tick, 2 s for
a ping, 2 s more for ping-requests), its Join, its sync rule (the side with fewer peers asks
for the other's), and its fingerprint over every known peer, self and those being pinged
included. It does not copy the crate's weaknesses (section 5):

- a datagram is one whole message or it is dropped and counted (:mod:`.wire`);
- an ack relayed by a helper rescues its target (the crate refreshes only the helper);
- ``Failed`` cannot be refuted in this protocol, so it is a hint, never a verdict: the named
  peer is pinged at once, and removed only if it fails that ping like any other;
- KnownPeersRequest is sent at most once per peer per tick, and answered at most
  :data:`MAX_SHARES_PER_TICK` times per tick: no request storm;
- a Probe is answered only at the address it came from, a Join's table push only when the
  Join came from its own link (and a few per tick), a PingRequest only for a known target:
  no datagram aims us at an address a stranger chose;
- the peer table, the relays and the pending requests are bounded (``Config.max_members``,
  ``Config.max_relays``), and full tables drop and count.

This node sends no ``Failed``: the crate ignores every ``Failed`` a crate sends (it checks the
multicast source against its peers' unicast addresses), so each node decides by its own pings.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable

from ..addr import Addr
from ..codec import DecodeError
from ..config import Config
from ..effects import Effects, Multicast, Send, SetTimer
from ..events import PeerFailed, PeerJoined, PeerSuspected, PeerUpdated, RoundTrip
from ..members import MemberTable
from ..messages import MemberState, Tags, Update
from ..timers import FingerprintCheck, RustTick, Timer
from ..view_watch import ViewWatch
from . import wire

__all__ = [
    "MAX_PEER_SHARE_AGE",
    "MAX_SHARES_PER_TICK",
    "PING_TIMEOUT",
    "PROTOCOL_PERIOD",
    "REBROADCAST_INTERVAL",
    "RustNode",
]

PROTOCOL_PERIOD = 1.0
"""Seconds between two ticks (the crate's PROTOCOL_PERIOD)."""
PING_TIMEOUT = 2.0
"""Seconds a ping, and then the ping-requests, may take (the crate's PING_TIMEOUT)."""
REBROADCAST_INTERVAL = 10.0
"""Seconds between two Joins while we know nobody."""
MAX_PEER_SHARE_AGE = 10.0
"""Only peers heard from this recently are shared in a KnownPeers answer."""
NUM_INDIRECT_PING_PEERS = 3
NUM_CANDIDATE_TARGET_PEERS = 5
MAX_SHARES_PER_TICK = 8
"""KnownPeers datagrams (answers and Join pushes together) sent in one tick at most."""

ALIVE, SUSPECT = MemberState.ALIVE, MemberState.SUSPECT
_SLACK = 1e-6  # ticks land at sums of floats: 2.0 s must not read as 1.9999999999999996
_KNOWN, _WAITING_FOR_PING, _WAITING_FOR_INDIRECT = 0, 1, 2


class _Peer:
    """The crate's per-peer state: when we last heard from it, and which ping it waits for."""

    __slots__ = ("heard_at", "helpers", "since", "waiting")

    def __init__(self, heard_at: float) -> None:
        self.heard_at = heard_at
        self.waiting = _KNOWN
        self.since = heard_at
        self.helpers: frozenset[Addr] = frozenset()  # asked to ping it for us


class RustNode:
    """One member of a kaboodle 0.1.5 mesh, as a state machine with :class:`~..node.Node`'s
    entry points (the runtime drives either).

    Args:
        addr: this node's unicast address (the crate's key for it, and its Join address).
        identity: opaque bytes others see.
        config: protocol settings; only its limits (members, relays, identity size) and the
            fingerprint event delay apply: the crate fixes its own timings.
        rng: the only source of randomness.
    """

    def __init__(self, addr: Addr, identity: bytes, *, config: Config, rng: random.Random) -> None:
        if len(identity) > config.max_identity:
            raise ValueError(f"identity is longer than {config.max_identity} bytes")
        self.addr = addr
        self.config = config
        self.stats: Counter[str] = Counter()
        self.members = MemberTable()
        """Every known peer, self included: alive, or suspect while ping-requests run."""
        self.proximity = None
        """The crate has no coordinates."""
        self.tags: Tags = ()
        """The crate carries no tags."""
        self._rng = rng
        self._identity = identity
        self._peers: dict[Addr, _Peer] = {}
        self._curious: dict[Addr, set[Addr]] = {}  # target -> who asked us to ping it
        self._asked: set[Addr] = set()  # peers sent a KnownPeersRequest this tick
        self._shares = 0  # KnownPeers datagrams sent this tick
        self._ticks = 0
        self._last_join = float("-inf")
        self._view = ViewWatch(config, self.members)
        self._started = False
        self.leaving = False

    # ----------------------------------------------------------------- views

    @property
    def identity(self) -> bytes:
        """This node's identity."""
        return self._identity

    def fingerprint(self) -> int:
        """The crate's fingerprint: CRC-32 over every known peer, self included, in order."""
        return self.members.fingerprint()

    def counts(self, addr: Addr) -> bool:
        """Whether ``addr`` is a known peer."""
        return self.members.counts(addr)

    def sizes(self) -> dict[str, int]:
        """How full each bounded table is."""
        return {"members": len(self.members), "relays": sum(map(len, self._curious.values()))}

    # ----------------------------------------------------------- entry points

    def start(self, now: float) -> Effects:
        """Know ourselves, broadcast a Join and start ticking."""
        fx = Effects()
        if self._started:
            return fx
        self._started = True
        self.members.add(self._record(self.addr, self._identity), now)
        self._view.changed(now, fx)
        self._tick(now, fx)
        return fx

    @staticmethod
    def kind_of(data: bytes, *, via_group: bool = False) -> str:
        """The kind of a datagram of the crate's wire, for counters (not decoded)."""
        return wire.message_kind(data, via_group)

    def handle_datagram(
        self, now: float, src: Addr, data: bytes, *, via_group: bool = False
    ) -> Effects:
        """Take one datagram from ``src``: a broadcast on the group port, else an envelope.
        Malformed input is counted in ``stats``, never raised."""
        fx = Effects()
        self.stats["received"] += 1
        if self.leaving:
            return fx
        before = self.members.digest()
        try:
            if via_group:
                self._broadcast(now, src, wire.decode_broadcast(data), fx)
            else:
                self._envelope(now, src, wire.decode_envelope(data), fx)
        except DecodeError as error:
            self.stats[f"dropped:{error.reason}"] += 1
        self._after(now, before, fx)
        return fx

    def handle_timer(self, now: float, timer: Timer) -> Effects:
        """Take a timer this node set earlier, now due."""
        fx = Effects()
        if self.leaving:
            return fx
        before = self.members.digest()
        if isinstance(timer, RustTick):
            self._tick(now, fx)
        elif isinstance(timer, FingerprintCheck):
            self._view.check(fx)
        self._after(now, before, fx)
        return fx

    def leave(self, now: float) -> Effects:
        """Stop taking part. The crate has no leave message: the mesh sees this node fail."""
        self.leaving = True
        return Effects()

    def contact(self, now: float, addrs: Iterable[Addr]) -> Effects:
        """Ping ``addrs`` (seeds): the crate adds whoever sends it an envelope."""
        fx = Effects()
        for addr in addrs:
            if addr != self.addr:
                self._send(addr, wire.Ping(), fx)
        return fx

    def set_identity(self, now: float, identity: bytes, tags: Tags | None = None) -> Effects:
        """Change our identity; peers take it from our next envelope (the crate has no update
        message).

        Raises:
            ValueError: the identity is too long, or tags are given (the crate has none).
        """
        if tags:
            raise ValueError("the rust-0.1 wire carries no tags")
        if len(identity) > self.config.max_identity:
            raise ValueError(f"identity is longer than {self.config.max_identity} bytes")
        fx = Effects()
        before = self.members.digest()
        self._identity = identity
        self.members.put(self._record(self.addr, identity), now)
        self._after(now, before, fx)
        return fx

    def restart_announcing(self, now: float) -> Effects:
        """Broadcast a Join now (the driver saw the network come back)."""
        fx = Effects()
        self._join(now, fx)
        return fx

    # ------------------------------------------------------------------ tick

    def _tick(self, now: float, fx: Effects) -> None:
        fx.timers.append(SetTimer(at=now + PROTOCOL_PERIOD, timer=RustTick()))
        self._ticks += 1
        self._asked.clear()
        self._shares = 0
        alone = len(self.members) <= 1
        if self._ticks == 1 or (alone and now - self._last_join >= REBROADCAST_INTERVAL):
            self._join(now, fx)
        for addr, peer in list(self._peers.items()):
            overdue = now - peer.since >= PING_TIMEOUT - _SLACK
            if peer.waiting == _WAITING_FOR_PING and overdue:
                self._ask_helpers(now, addr, peer, fx)
            elif peer.waiting == _WAITING_FOR_INDIRECT and overdue:
                self._remove(addr, fx)
        candidates = sorted(
            (a for a, p in self._peers.items() if p.waiting == _KNOWN),
            key=lambda a: self._peers[a].heard_at,
        )[:NUM_CANDIDATE_TARGET_PEERS]
        if candidates:
            target = self._rng.choice(candidates)
            self._waiting(target, _WAITING_FOR_PING, now)
            self._send(target, wire.Ping(), fx)

    def _join(self, now: float, fx: Effects) -> None:
        self._last_join = now
        fx.sends.append(Multicast(data=wire.encode(wire.Join(self.addr, self._identity))))

    def _ask_helpers(self, now: float, target: Addr, peer: _Peer, fx: Effects) -> None:
        helpers = [a for a, p in self._peers.items() if a != target and p.waiting == _KNOWN]
        chosen = self._rng.sample(helpers, min(NUM_INDIRECT_PING_PEERS, len(helpers)))
        if not chosen:
            self._remove(target, fx)
            return
        self._waiting(target, _WAITING_FOR_INDIRECT, now)
        peer.helpers = frozenset(chosen)
        member = self.members.get(target)
        if member is not None:
            self.members.put(member.changed(state=SUSPECT), now)
            fx.events.append(PeerSuspected(addr=target, incarnation=0, identity=member.identity))
        for helper in chosen:
            self._send(helper, wire.PingRequest(target), fx)

    # -------------------------------------------------------------- handlers

    def _envelope(self, now: float, src: Addr, envelope: wire.Envelope, fx: Effects) -> None:
        if src == self.addr:
            return
        if not self._heard(now, src, envelope.identity, fx):
            return  # a full table: a stranger we cannot take, nor answer
        msg = envelope.msg
        if isinstance(msg, wire.Ping):
            self._send(src, self._ack(), fx)
        elif isinstance(msg, wire.PingRequest):
            self._relay(now, src, msg.target, fx)
        elif isinstance(msg, wire.Ack):
            self._acked(now, src, msg, fx)
        elif isinstance(msg, wire.KnownPeersRequest):
            self._share(now, src, fx, exclude=src)
            self._sync_rule(src, msg.fingerprint, msg.num_peers, fx)
        else:
            self._learn(now, msg, fx)

    def _heard(self, now: float, src: Addr, identity: bytes, fx: Effects) -> bool:
        """Any envelope from ``src``: it is a known peer, heard from now, with that identity.
        False when it is new and the table is full (or its identity too long)."""
        if len(identity) > self.config.max_identity:
            self.stats["dropped:identity-too-long"] += 1
            return False
        member = self.members.get(src)
        if member is None:
            if len(self.members) >= self.config.max_members:
                self.stats["dropped:table-full"] += 1
                return False
            self._add(now, src, identity, now, fx)
            return True
        self._alive(now, src, fx, identity)
        return True

    def _add(self, now: float, addr: Addr, identity: bytes, heard_at: float, fx: Effects) -> None:
        """A new peer (the caller checked that it fits), last heard from at ``heard_at``."""
        self.members.add(self._record(addr, identity), now)
        self._peers[addr] = _Peer(heard_at)
        fx.events.append(PeerJoined(addr=addr, identity=identity, incarnation=0))

    def _alive(self, now: float, addr: Addr, fx: Effects, identity: bytes | None = None) -> None:
        """``addr`` (a known peer) answered: Known again, and its identity as it says."""
        member = self.members.get(addr)
        peer = self._peers.get(addr)
        if member is None or peer is None:
            return
        if peer.waiting == _WAITING_FOR_PING:
            fx.events.append(RoundTrip(addr=addr, seconds=now - peer.since))
        peer.heard_at = now
        self._waiting(addr, _KNOWN, now)
        identity = member.identity if identity is None else identity
        if member.state != ALIVE or member.identity != identity:
            self.members.put(self._record(addr, identity), now)
            fx.events.append(PeerUpdated(addr=addr, identity=identity, incarnation=0, state=ALIVE))

    def _relay(self, now: float, src: Addr, target: Addr, fx: Effects) -> None:
        if target == self.addr:
            self._send(src, self._ack(), fx)
            return
        if target not in self._peers:
            self.stats["dropped:ping-req-target"] += 1
            return
        waiting = self._curious.setdefault(target, set())
        if len(waiting) >= self.config.max_relays or (
            src not in waiting and sum(map(len, self._curious.values())) >= self.config.max_relays
        ):
            self.stats["dropped:relay-cap"] += 1
            return
        waiting.add(src)
        peer = self._peers[target]
        if peer.waiting == _KNOWN:
            self._waiting(target, _WAITING_FOR_PING, now)
        self._send(target, wire.Ping(), fx)

    def _acked(self, now: float, src: Addr, ack: wire.Ack, fx: Effects) -> None:
        for requester in self._curious.pop(ack.peer, ()):
            fx.sends.append(Send(to=requester, data=wire.encode(self._envelope_of(ack))))
        target = self._peers.get(ack.peer)
        if ack.peer != src and target is not None and src in target.helpers:
            self._alive(now, ack.peer, fx)  # relayed by a helper we asked: it is there
        self._sync_rule(ack.peer, ack.fingerprint, ack.num_peers, fx)

    def _sync_rule(self, peer: Addr, fingerprint: int, num_peers: int, fx: Effects) -> None:
        """The side whose view differs and is not the larger asks for the other's peers; at
        most once per peer per tick, which is what stops the crate's request storm."""
        if fingerprint == self.fingerprint() or len(self.members) > num_peers:
            return
        if peer == self.addr or peer in self._asked:
            self.stats["sync-requests-held"] += 1
            return
        self._asked.add(peer)
        request = wire.KnownPeersRequest(self.fingerprint(), len(self.members))
        self._send(peer, request, fx)

    def _share(
        self, now: float, to: Addr, fx: Effects, *, exclude: Addr, everyone: bool = False
    ) -> None:
        """Send ``to`` our peers: recently heard Known ones (``everyone``: all, self and any
        state, as the crate answers a Join), within one datagram of the crate's buffer."""
        if self._shares >= MAX_SHARES_PER_TICK:
            self.stats["dropped:share-cap"] += 1
            return
        self._shares += 1
        entries = []
        for member in self.members:
            addr = member.addr
            if everyone:
                entries.append((addr, member.identity))
                continue
            peer = self._peers.get(addr)
            if addr in (self.addr, exclude) or peer is None or peer.waiting != _KNOWN:
                continue
            if now - peer.heard_at < MAX_PEER_SHARE_AGE:
                entries.append((addr, member.identity))
        self._rng.shuffle(entries)
        room = wire.MAX_DATAGRAM - len(wire.encode(self._envelope_of(wire.KnownPeers(()))))
        chosen = []
        for addr, identity in entries:
            size = wire.encoded_peer_size(addr, identity)
            if size <= room:
                chosen.append((addr, identity))
                room -= size
        self._send(to, wire.KnownPeers(tuple(chosen)), fx)

    def _learn(self, now: float, msg: wire.KnownPeers, fx: Effects) -> None:
        """Peers another node knows: the new ones are added as heard long ago, so that they
        are not shared on and are pinged first (the crate's rule)."""
        for addr, identity in msg.peers:
            if addr in self.members or addr == self.addr:
                continue
            if len(identity) > self.config.max_identity:
                self.stats["dropped:identity-too-long"] += 1
                continue
            if len(self.members) >= self.config.max_members:
                self.stats["dropped:table-full"] += 1
                return
            self._add(now, addr, identity, now - MAX_PEER_SHARE_AGE, fx)

    def _broadcast(self, now: float, src: Addr, msg: wire.Broadcast, fx: Effects) -> None:
        if isinstance(msg, wire.Join):
            if msg.addr == self.addr:
                return  # our own, looped back
            new = msg.addr not in self.members
            if new:
                if not self._heard(now, msg.addr, msg.identity, fx):
                    return
            else:
                # A Join names its address in the payload, so it is nobody's word about an
                # identity we already know; it only says the peer is there.
                self._alive(now, msg.addr, fx)
            if new and _on_link(src, msg.addr) and self._rng.random() < self._share_chance():
                self._share(now, msg.addr, fx, exclude=msg.addr, everyone=True)
        elif isinstance(msg, wire.Probe):
            if _on_link(src, msg.addr) and self._rng.random() < self._share_chance():
                self.stats["probes-answered"] += 1
                response = wire.ProbeResponse(self._identity)
                fx.sends.append(Send(to=msg.addr, data=wire.encode(response)))
            else:
                self.stats["probes-ignored"] += 1
        else:
            peer = self._peers.get(msg.addr)
            if peer is not None and peer.waiting == _KNOWN:
                # A hint, not a verdict: check it ourselves, as the first step of a probe.
                self.stats["failed-hints"] += 1
                self._waiting(msg.addr, _WAITING_FOR_PING, now)
                self._send(msg.addr, wire.Ping(), fx)

    # --------------------------------------------------------------- helpers

    def _share_chance(self) -> float:
        """The crate's p: everyone answers in a small mesh, 1 % of members from 12 peers up."""
        k = len(self.members) - 2
        return 1.0 if k <= 0 else max(1, 100 - k * k) / 100

    def _waiting(self, addr: Addr, state: int, now: float) -> None:
        peer = self._peers[addr]
        peer.waiting = state
        peer.since = now
        if state == _KNOWN:
            peer.helpers = frozenset()

    def _remove(self, addr: Addr, fx: Effects) -> None:
        member = self.members.get(addr)
        self._peers.pop(addr, None)
        self._curious.pop(addr, None)
        if member is not None:
            self.members.remove(addr)
            fx.events.append(PeerFailed(addr=addr, incarnation=0, identity=member.identity))

    def _ack(self) -> wire.Envelope:
        fingerprint = self.fingerprint()
        return self._envelope_of(wire.Ack(self.addr, fingerprint, len(self.members)))

    def _envelope_of(self, msg: wire.SwimMessage) -> wire.Envelope:
        return wire.Envelope(self._identity, msg)

    def _send(self, to: Addr, msg: wire.SwimMessage | wire.Envelope, fx: Effects) -> None:
        envelope = msg if isinstance(msg, wire.Envelope) else self._envelope_of(msg)
        fx.sends.append(Send(to=to, data=wire.encode(envelope)))

    def _record(self, addr: Addr, identity: bytes) -> Update:
        return Update(addr=addr, state=ALIVE, incarnation=0, identity=identity)

    def _after(self, now: float, before: tuple[int, int], fx: Effects) -> None:
        if self.members.digest() != before:
            self._view.changed(now, fx)


def _on_link(src: Addr, named: Addr) -> bool:
    """Whether a broadcast that names ``named`` plausibly came from it: the same IP, or, over
    IPv6, from a link-local address (the crate multicasts from its link-local address, and
    link-local sources cannot be forged from beyond the link)."""
    return src.ip == named.ip or (src.is_ipv6 and src.ip[:2] == b"\xfe\x80")
