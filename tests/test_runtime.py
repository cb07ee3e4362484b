"""The asyncio runtime over real UDP sockets, several nodes in one process on loopback.

Loopback has no multicast, so these nodes join through seeds (ping_addrs); multicast
discovery is tested between network namespaces in test_multihost.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import AsyncIterator

import pytest
from waiting import free_port, wait_for

from kaboodle import (
    BlockingKaboodle,
    Config,
    Kaboodle,
    KaboodleError,
    MemberState,
    PeerFailed,
    PeerJoined,
    PeerLeft,
    PeerSuspected,
    PeerUpdated,
)
from kaboodle.protocol import codec
from kaboodle.protocol.effects import Effects, SetTimer
from kaboodle.protocol.messages import Ping
from kaboodle.protocol.timers import PingResend, Timer

FAST = Config.local()


@pytest.fixture
async def mesh() -> AsyncIterator[list[Kaboodle]]:
    port = free_port()
    nodes = [
        Kaboodle(port=port, interface="lo", identity=f"node-{i}", config=FAST) for i in range(4)
    ]
    for node in nodes:
        await node.start()
    for node in nodes[1:]:
        await node.ping_addrs([str(nodes[0].self_addr)])
    await wait_for(lambda: all(len(n.peers()) == 4 for n in nodes))
    await wait_for(lambda: len({n.fingerprint() for n in nodes}) == 1)
    yield nodes
    for node in nodes:
        await node.stop()


async def test_nodes_joined_through_a_seed_agree_on_members_and_fingerprint(
    mesh: list[Kaboodle],
) -> None:
    first = mesh[0]
    assert first.peers() == {n.self_addr: n.identity for n in mesh}  # self included
    assert first.self_addr in first.peers()
    await wait_for(lambda: first.peer_states()[mesh[1].self_addr].latency is not None)
    info = first.peer_states()[mesh[1].self_addr]
    assert info.state == MemberState.ALIVE and info.identity == b"node-1"
    assert info.latency is not None and 0 < info.latency < 1
    assert info.last_heard is not None


async def test_graceful_stop_is_seen_as_left_at_once(mesh: list[Kaboodle]) -> None:
    events = mesh[0].events()
    leaver = mesh[3]
    addr = leaver.self_addr
    await leaver.stop()
    async with asyncio.timeout(1.0):
        async for event in events:
            if isinstance(event, PeerLeft) and event.addr == addr:
                break
    assert addr not in mesh[0].peers()
    await wait_for(lambda: len({n.fingerprint() for n in mesh[:3]}) == 1)


async def test_a_stop_without_leave_is_seen_as_a_failure(mesh: list[Kaboodle]) -> None:
    events = mesh[0].events()
    victim = mesh[3]
    addr = victim.self_addr
    await victim.stop(leave=False)
    async with asyncio.timeout(10.0):
        async for event in events:
            assert not (isinstance(event, PeerLeft) and event.addr == addr), "it said goodbye"
            if isinstance(event, PeerFailed) and event.addr == addr:
                break
    await wait_for(lambda: all(addr not in n.peers() for n in mesh[:3]), 5.0)


async def test_a_paused_node_is_suspected_and_refutes_when_resumed(mesh: list[Kaboodle]) -> None:
    sleeper, watcher = mesh[3], mesh[0]
    addr = sleeper.self_addr
    fingerprint = sleeper.fingerprint()
    incarnation = watcher.peer_states()[addr].incarnation
    events = watcher.events()
    sleeper.pause()
    assert sleeper.paused
    async with asyncio.timeout(5.0):
        async for event in events:
            if isinstance(event, PeerSuspected) and event.addr == addr:
                break
    assert sleeper.fingerprint() == fingerprint  # frozen: it noticed nothing meanwhile
    sleeper.resume()
    assert not sleeper.paused
    # Its refutation clears the suspicion everywhere before anyone declares it dead.
    await wait_for(lambda: all(n.peer_states()[addr].state == MemberState.ALIVE for n in mesh), 5.0)
    assert all(addr in n.peers() for n in mesh)
    assert watcher.peer_states()[addr].incarnation > incarnation  # refuted, not forgiven


async def test_identity_change_spreads_while_running(mesh: list[Kaboodle]) -> None:
    events = mesh[1].events()
    mesh[0].set_identity("renamed")
    async with asyncio.timeout(3.0):
        async for event in events:
            if isinstance(event, PeerUpdated) and event.identity == b"renamed":
                break
    await wait_for(lambda: len({n.fingerprint() for n in mesh}) == 1)
    assert mesh[2].peers()[mesh[0].self_addr] == b"renamed"


async def test_hostile_datagrams_are_counted_by_reason_and_the_node_carries_on(
    mesh: list[Kaboodle],
) -> None:
    # A node of its own on a port of its own: the mesh's nodes share their group port, and the
    # kernel would hand our unicast garbage for that port to any one of them.
    target = Kaboodle(port=free_port(), interface="lo", identity="target", config=FAST)
    await target.start()
    garbage = [
        os.urandom(200),
        codec.encode(Ping(seq=1))[:-1],  # truncated
        b"KB\x09" + codec.encode(Ping(seq=1))[3:],  # a version we do not speak
        b"KB\x01" + bytes(65517),  # 64 KiB: over the largest IPv4 datagram, never sent by us
        b"",
    ]
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
        for port in (target.self_addr.port, target.port):  # the unicast and the group socket
            for data in garbage:
                sock.sendto(data, ("::1", port))
    reasons = ["magic", "malformed", "version", "oversize", "short"]

    def counted() -> bool:
        stats = target.stats
        return all(stats[f"dropped:{reason}"] == 2 for reason in reasons)

    await wait_for(counted, describe=lambda: f"counted: {target.stats}")
    assert target.stats["received-unicast"] == target.stats["received-group"] == 5
    # It still works: it joins the mesh and everyone agrees.
    await target.ping_addrs([mesh[0].self_addr])
    everyone = [*mesh, target]
    await wait_for(lambda: len({n.fingerprint() for n in everyone}) == 1)
    assert len(target.peers()) == 5
    await target.stop()


async def test_every_subscriber_sees_every_event_and_a_slow_one_loses_the_oldest(
    mesh: list[Kaboodle],
) -> None:
    fast, slow = mesh[0].events(), mesh[0].events(maxsize=1)
    newcomer = Kaboodle(port=mesh[0].port, interface="lo", identity="late", config=FAST)
    await newcomer.start()
    await newcomer.ping_addrs([mesh[0].self_addr])
    async with asyncio.timeout(3.0):
        async for event in fast:
            if isinstance(event, PeerJoined) and event.identity == b"late":
                break
    await wait_for(lambda: len(mesh[0].peers()) == 5)
    await newcomer.stop()
    await wait_for(lambda: slow.dropped > 0)


async def test_discover_next_peer_returns_the_newcomer(mesh: list[Kaboodle]) -> None:
    newcomer = Kaboodle(port=mesh[0].port, interface="lo", identity="next", config=FAST)
    waiting = asyncio.create_task(mesh[0].discover_next_peer(timeout=3.0))
    await asyncio.sleep(0)
    await newcomer.start()
    await newcomer.ping_addrs([mesh[0].self_addr])
    addr, identity = await waiting
    assert (addr, identity) == (newcomer.self_addr, b"next")
    await newcomer.stop()
    with pytest.raises(TimeoutError):
        await mesh[0].discover_next_peer(timeout=0.1)


async def test_no_matching_interface_says_which_exist() -> None:
    with pytest.raises(KaboodleError, match=r"no interface matches 'nosuch0'.*lo"):
        await Kaboodle(port=free_port(), interface="nosuch0").start()


def test_bad_arguments_are_value_errors() -> None:
    with pytest.raises(ValueError, match="port"):
        Kaboodle(port=70000)
    with pytest.raises(ValueError, match="seed"):
        Kaboodle(seeds=["no-port-here"])
    with pytest.raises(ValueError, match="identity"):
        Kaboodle(identity=b"x" * 5000)


def test_the_blocking_face_runs_a_node_from_plain_code() -> None:
    port = free_port()
    with (
        BlockingKaboodle(port=port, interface="lo", identity="a", config=FAST) as a,
        BlockingKaboodle(port=port, interface="lo", identity="b", config=FAST) as b,
    ):
        b.ping_addrs([a.self_addr])
        deadline = time.monotonic() + 5.0
        while not (a.fingerprint() == b.fingerprint() and len(a.peers()) == 2):
            assert time.monotonic() < deadline, "the two nodes never agreed"
            time.sleep(0.02)
        assert a.peers() == b.peers() == {a.self_addr: b"a", b.self_addr: b"b"}
        assert a.stats["received"] > 0 and a.uptime > 0 and a.running
        assert (a.port, a.wire, a.identity, a.interface.name) == (port, "kaboodle", b"a", "lo")
        a.install_key(b"k" * 32)
        assert a.keys() and a.verify_incoming
        a.verify_outgoing = False
        assert not a.verify_outgoing


# What only asyncio can offer: an async iterator of events, and the control socket's server,
# which runs on the node's loop (kaboodle join serves it).
ASYNC_ONLY = {"events", "control_server"}


def test_the_blocking_face_is_the_whole_face_that_makes_sense_without_asyncio() -> None:
    public = {name for name in dir(Kaboodle) if not name.startswith("_")}
    blocking = {name for name in dir(BlockingKaboodle) if not name.startswith("_")}
    assert blocking == public - ASYNC_ONLY


async def test_a_cancelled_timer_is_dropped_and_never_handed_back(mesh: list[Kaboodle]) -> None:
    runner = mesh[0]._runner
    assert runner is not None
    stale = PingResend(seq=12345, attempt=2)
    runner.perform(Effects(timers=[SetTimer(at=runner.now + 0.05, timer=stale)]))
    handle = runner._handles[stale]
    runner.perform(Effects(cancels=[stale, PingResend(seq=1, attempt=2)]))  # one never set
    assert handle.cancelled() and stale not in runner._handles


async def test_a_timer_that_may_come_early_is_handed_back_once_on_the_next_datagram(
    mesh: list[Kaboodle], monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = mesh[0]._runner
    assert runner is not None
    handed: list[tuple[PingResend, float]] = []
    handle_timer = runner.node.handle_timer

    def recording(now: float, timer: Timer) -> Effects:
        if isinstance(timer, PingResend) and timer.seq >= 10**6:
            handed.append((timer, now))
        return handle_timer(now, timer)

    monkeypatch.setattr(runner.node, "handle_timer", recording)
    now = runner.now
    soon = PingResend(seq=10**6, attempt=2)  # may come from now on
    later = PingResend(seq=10**6 + 1, attempt=2)  # not before a minute from now
    runner.perform(
        Effects(
            timers=[
                SetTimer(at=now + 30.0, timer=soon, early=30.0),
                SetTimer(at=now + 90.0, timer=later, early=30.0),
            ]
        )
    )
    soon_handle = runner._handles[soon]
    await wait_for(lambda: handed)  # the mesh's next datagram to this node
    [(timer, at)] = handed
    assert timer == soon and at < now + 1.0
    assert runner.stats["timers-early"] >= 1  # the node's own probe ticks count too
    assert soon_handle.cancelled() and soon not in runner._handles  # never handed back again
    # The other is still waiting for its own window, whatever came meanwhile.
    received = runner.stats["received-unicast"]
    await wait_for(lambda: runner.stats["received-unicast"] >= received + 3)
    assert handed == [(soon, at)] and later in runner._handles
    runner.perform(Effects(cancels=[later]))
    assert later not in runner._early and later not in runner._handles
