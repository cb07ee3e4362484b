"""The rust-0.1 node driven by hand and on a small in-process bus: the crate's rules where the
mesh needs them, and none of its weaknesses (shared/reference/rust-kaboodle-0.1.5-wire.md)."""

from __future__ import annotations

import heapq
import itertools
import random
import zlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import mutations

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.config import Config
from kaboodle.protocol.effects import Effects, Multicast, Send
from kaboodle.protocol.events import PeerFailed, PeerJoined, PeerSuspected
from kaboodle.protocol.rust import wire
from kaboodle.protocol.rust.node import MAX_SHARES_PER_TICK, PING_TIMEOUT, RustNode
from kaboodle.protocol.timers import RustTick

A = Addr.parse("[fd00::1]:7000")
B = Addr.parse("[fd00::2]:7000")
C = Addr.parse("[fd00::3]:7000")
LINK_LOCAL = Addr.parse("[fe80::9]:40000")
FAR = Addr.parse("[2001:db8::66]:9")


def unstarted(addr: Addr, identity: bytes, **config: Any) -> RustNode:
    return RustNode(addr, identity, config=Config(**config), rng=random.Random(addr.ip[-1]))


def node(addr: Addr = A, identity: bytes = b"a", **config: Any) -> RustNode:
    n = unstarted(addr, identity, **config)
    n.start(0.0)
    return n


def envelopes(fx: Effects) -> list[tuple[Addr, wire.Envelope]]:
    return [(s.to, wire.decode_envelope(s.data)) for s in fx.sends if isinstance(s, Send)]


def unicast(n: RustNode, now: float, src: Addr, identity: bytes, msg: wire.SwimMessage) -> Effects:
    return n.handle_datagram(now, src, wire.encode(wire.Envelope(identity, msg)))


def group(n: RustNode, now: float, src: Addr, msg: wire.Broadcast) -> Effects:
    return n.handle_datagram(now, src, wire.encode(msg), via_group=True)


class Bus:
    """Nodes on one link: every unicast and multicast delivered after 1 ms, timers in order."""

    def __init__(self, *nodes: RustNode) -> None:
        self.nodes = {n.addr: n for n in nodes}
        self.now = 0.0
        self.down: set[Addr] = set()
        self.events: list[tuple[Addr, Any]] = []
        self._queue: list[tuple[float, int, Addr, Any]] = []
        self._seq = itertools.count()
        for n in nodes:
            self.apply(n, n.start(0.0))

    def apply(self, n: RustNode, fx: Effects) -> None:
        self.events += [(n.addr, e) for e in fx.events]
        for send in fx.sends:
            targets = [send.to] if isinstance(send, Send) else list(self.nodes)
            for to in targets:
                if to != n.addr:
                    item = ("dgram", n.addr, send.data, isinstance(send, Multicast))
                    heapq.heappush(self._queue, (self.now + 0.001, next(self._seq), to, item))
        for timer in fx.timers:
            heapq.heappush(self._queue, (timer.at, next(self._seq), n.addr, ("timer", timer.timer)))

    def run_until(self, t: float) -> None:
        while self._queue and self._queue[0][0] <= t:
            self.now, _, to, item = heapq.heappop(self._queue)
            n = self.nodes.get(to)
            if n is None or to in self.down:
                continue
            if item[0] == "timer":
                fx = n.handle_timer(self.now, item[1])
            else:
                _, src, data, via_group = item
                fx = n.handle_datagram(self.now, src, data, via_group=via_group)
            self.apply(n, fx)
        self.now = t


def crate_fingerprint(entries: dict[Addr, bytes]) -> int:
    ordered = sorted(entries, key=lambda a: a.sort_key)
    return zlib.crc32(b"".join(str(a).encode() + entries[a] for a in ordered))


def test_start_joins_the_group_and_ticks_every_second() -> None:
    n = RustNode(A, b"a", config=Config(), rng=random.Random(1))
    fx = n.start(0.0)
    [join] = [wire.decode_broadcast(s.data) for s in fx.sends if isinstance(s, Multicast)]
    assert join == wire.Join(A, b"a")
    assert any(t.at == 1.0 and isinstance(t.timer, RustTick) for t in fx.timers)
    assert n.fingerprint() == crate_fingerprint({A: b"a"})


def test_three_nodes_meet_and_agree_on_the_crates_fingerprint() -> None:
    bus = Bus(unstarted(A, b"a"), unstarted(B, b"b"), unstarted(C, b"c"))
    bus.run_until(5.0)
    expected = crate_fingerprint({A: b"a", B: b"b", C: b"c"})
    assert {n.fingerprint() for n in bus.nodes.values()} == {expected}


def test_a_dead_peer_is_pinged_then_asked_about_then_removed() -> None:
    bus = Bus(unstarted(A, b"a"), unstarted(B, b"b"), unstarted(C, b"c"))
    bus.run_until(5.0)
    bus.down.add(C)
    bus.run_until(20.0)
    events = bus.events
    assert (A, PeerSuspected(addr=C, incarnation=0, identity=b"c")) in events
    assert (A, PeerFailed(addr=C, incarnation=0, identity=b"c")) in events
    assert {n.fingerprint() for a, n in bus.nodes.items() if a != C} == {
        crate_fingerprint({A: b"a", B: b"b"})
    }


def test_a_ping_gets_an_ack_and_its_sender_becomes_known() -> None:
    n = node()
    [(to, reply)] = envelopes(unicast(n, 0.1, B, b"b", wire.Ping()))
    assert to == B and reply == wire.Envelope(b"a", wire.Ack(A, n.fingerprint(), 2))
    assert n.counts(B)


def test_an_empty_or_truncated_datagram_is_dropped_not_taken_for_a_ping() -> None:
    n = node()
    ping = wire.encode(wire.Envelope(b"b", wire.Ping()))
    assert n.handle_datagram(0.1, B, b"").sends == []
    assert n.handle_datagram(0.1, B, ping[:-1]).sends == []
    assert n.handle_datagram(0.1, B, b"", via_group=True).sends == []
    assert not n.counts(B)
    assert n.stats["dropped:short"] == 2 and n.stats["dropped:malformed"] == 1


def test_a_relayed_ack_rescues_its_target_only_from_a_helper_we_asked() -> None:
    n = node()
    for peer, name in ((B, b"b"), (C, b"c")):
        unicast(n, 0.1, peer, name, wire.Ping())
    t, pinged = 0.1, False
    while not pinged:  # until a tick pings C, which never answers
        t += 1.0
        fx = n.handle_timer(t, RustTick())
        pinged = (C, wire.Envelope(b"a", wire.Ping())) in envelopes(fx)
        unicast(n, t, B, b"b", wire.Ping())  # B stays fresh
    fx = n.handle_timer(t + PING_TIMEOUT, RustTick())
    helpers = [to for to, e in envelopes(fx) if e.msg == wire.PingRequest(C)]
    assert helpers == [B]
    assert n.members.get(C).state.name == "SUSPECT"  # type: ignore[union-attr]
    # A forged ack from a non-helper does not rescue C...
    unicast(n, t + 2.1, FAR, b"x", wire.Ack(C, 0, 3))
    assert n.members.get(C).state.name == "SUSPECT"  # type: ignore[union-attr]
    # ...the helper's relayed ack does (the crate would remove C anyway).
    unicast(n, t + 2.2, B, b"b", wire.Ack(C, 0, 3))
    assert n.members.get(C).state.name == "ALIVE"  # type: ignore[union-attr]
    n.handle_timer(t + 2 * PING_TIMEOUT + 0.5, RustTick())
    assert n.counts(C)


def test_equal_counts_with_different_fingerprints_ask_once_per_tick_not_forever() -> None:
    n = node()
    unicast(n, 0.1, B, b"b", wire.Ping())
    asked = 0
    for i in range(1000):  # the crate's storm: a request for every request
        fx = unicast(n, 0.2 + i * 1e-4, B, b"b", wire.KnownPeersRequest(0x1234, 2))
        asked += sum(isinstance(e.msg, wire.KnownPeersRequest) for _, e in envelopes(fx))
    assert asked == 1
    shares = n.stats["dropped:share-cap"]
    assert shares == 1000 - MAX_SHARES_PER_TICK  # the answers are capped per tick too


def test_failed_is_a_hint_to_ping_never_a_removal() -> None:
    n = node()
    unicast(n, 0.1, B, b"b", wire.Ping())
    fx = group(n, 0.2, B, wire.Failed(B))
    assert n.counts(B)
    assert [e.msg for to, e in envelopes(fx) if to == B] == [wire.Ping()]


def test_a_probe_is_answered_where_it_came_from_only() -> None:
    n = node()
    fx = group(n, 0.1, LINK_LOCAL, wire.Probe(Addr.parse("[fd00::9]:40000")))
    assert [s.to for s in fx.sends] == [Addr.parse("[fd00::9]:40000")]
    assert wire.decode_probe_response(fx.sends[0].data) == wire.ProbeResponse(b"a")  # type: ignore[union-attr]
    # A probe from a routable source naming someone else would aim us at a third party.
    assert group(n, 0.2, Addr.parse("[fd00::66]:5"), wire.Probe(FAR)).sends == []


def test_a_join_adds_the_newcomer_and_pushes_the_table_only_on_link() -> None:
    n = node()
    fx = group(n, 0.1, LINK_LOCAL, wire.Join(B, b"b"))
    assert PeerJoined(addr=B, identity=b"b", incarnation=0) in fx.events
    [(to, push)] = envelopes(fx)
    assert to == B and isinstance(push.msg, wire.KnownPeers)
    assert dict(push.msg.peers) == {A: b"a", B: b"b"}  # everyone, as the crate answers a Join
    fx = group(n, 0.2, Addr.parse("[fd00::66]:5"), wire.Join(FAR, b"far"))
    assert envelopes(fx) == []  # a routable source naming another address: no push
    # A Join is nobody's word on an identity we know.
    group(n, 0.3, LINK_LOCAL, wire.Join(B, b"imposter"))
    assert n.members.get(B).identity == b"b"  # type: ignore[union-attr]


def test_known_peers_are_added_as_heard_long_ago_and_within_the_table_cap() -> None:
    n = node(max_members=4)
    peers = tuple((Addr.from_ip(f"fd00::5:{i}", 7000), b"p") for i in range(10))
    unicast(n, 0.1, B, b"b", wire.KnownPeers(peers))
    assert len(n.members) == 4  # self, B, and two of the ten
    assert n.stats["dropped:table-full"] == 1
    # Learned peers are not shared on before we hear from them ourselves.
    fx = unicast(n, 0.2, B, b"b", wire.KnownPeersRequest(0, 9))
    [(to, answer)] = [(to, e) for to, e in envelopes(fx) if isinstance(e.msg, wire.KnownPeers)]
    assert to == B and answer.msg.peers == ()  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ hostile input

REAL = [
    wire.encode(wire.Envelope(b"b", msg))
    for msg in (
        wire.Ping(),
        wire.PingRequest(C),
        wire.Ack(B, 0xE0114DFF, 3),
        wire.KnownPeers(((C, b"c"), (FAR, b"far"))),
        wire.KnownPeersRequest(1, 9),
    )
] + [wire.encode(m) for m in (wire.Join(B, b"b"), wire.Failed(C), wire.Probe(B))]
SOURCES = [B, C, FAR, LINK_LOCAL]


HOSTILE = mutations(st.sampled_from(REAL))


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_hostile_datagrams_never_raise_and_tables_stay_within_their_caps(
    data: st.DataObject,
) -> None:
    n = node(max_members=6, max_relays=4)
    now = 0.0
    for _ in range(data.draw(st.integers(1, 60))):
        now += data.draw(st.floats(0.0, 1.5))
        if data.draw(st.booleans()):
            n.handle_timer(now, RustTick())
        src = data.draw(st.sampled_from(SOURCES))
        n.handle_datagram(now, src, data.draw(HOSTILE), via_group=data.draw(st.booleans()))
        sizes = n.sizes()
        assert sizes["members"] <= 6 and sizes["relays"] <= 4
        assert n.members.get(A) is not None  # self stays known
        assert n.fingerprint() == crate_fingerprint({m.addr: m.identity for m in n.members})
