"""Tags that change while a node runs: ``Kaboodle.set_tags``, the ``tags`` request of the control
socket, how a change spreads (PeerUpdated with the old and new tags, no fingerprint change) in
the simulator and over loopback, and the cap at every entry point."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_control import Served
from test_encryption import meshed, started, stop
from waiting import free_port, wait_for

from kaboodle import BlockingKaboodle, Config, Kaboodle, PeerUpdated
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.codec import MAX_TAGS, encode
from kaboodle.protocol.messages import Gossip, MemberState, Tags, Update
from kaboodle.protocol.node import Node
from kaboodle.runtime.control import ControlError, request
from kaboodle.sim.cluster import Cluster

A = Addr.parse("[fd00::1]:7000")
B = Addr.parse("[fd00::2]:7000")
OVER_CAP = {"k": "v" * 600}  # 601 bytes against the default cap of 512


# ------------------------------------------------------------------------------- simulator


def test_a_tag_change_reaches_all_of_100_simulated_nodes_within_2_virtual_seconds() -> None:
    cluster = Cluster(100, seed=10, tags=lambda host: (("role", "web"),))
    assert cluster.run_until_converged(10.0) is not None
    fingerprints = cluster.fingerprints()
    events = cluster.record_events()
    host = 17
    node, addr = cluster.node(host), cluster.addr(host)
    new: Tags = (("role", "db"), ("zone", "a"))
    cluster.network.apply(host, node.set_identity(cluster.now, node.identity, new))
    changed_at = cluster.now

    def everyone_knows() -> bool:
        return all(n.members.get(addr).tags == new for n in cluster.live_nodes())  # type: ignore[union-attr]

    at = cluster.run_until_condition(everyone_knows, changed_at + 2.0, step=0.01)
    assert at is not None and at - changed_at <= 2.0
    told = {h: e for _, h, e in events if isinstance(e, PeerUpdated) and e.addr == addr}
    assert set(told) == set(cluster.live_hosts()) - {host}
    assert {(e.tags, e.old_tags) for e in told.values()} == {(new, (("role", "web"),))}
    # Tags are not in the fingerprint: nobody's changed.
    assert cluster.fingerprints() == fingerprints


# -------------------------------------------------------------------------- protocol caps


def node_a(**config: object) -> Node:
    return Node(A, b"a", config=Config(**config), rng=random.Random(1), incarnation=10)  # type: ignore[arg-type]


def gossip_of_b(incarnation: int, tags: Tags) -> bytes:
    update = Update(
        addr=B, state=MemberState.ALIVE, incarnation=incarnation, identity=b"b", tags=tags
    )
    return encode(Gossip(updates=(update,)))


@pytest.mark.parametrize(
    "value",
    ["v" * 512, "é" * 256 + "v"],  # 513 bytes: in ASCII, and as 257 characters of UTF-8
)
def test_an_update_with_tags_over_the_cap_is_dropped_and_counted(value: str) -> None:
    node = node_a()
    node.handle_datagram(0.0, B, gossip_of_b(1, (("role", "web"),)))
    assert node.members.get(B).tags == (("role", "web"),)  # type: ignore[union-attr]
    fx = node.handle_datagram(0.1, B, gossip_of_b(2, (("k", value),)))  # 1 + 513 bytes
    assert node.stats["dropped:update-too-large"] == 1
    assert node.members.get(B).tags == (("role", "web"),)  # type: ignore[union-attr]
    assert not any(isinstance(e, PeerUpdated) for e in fx.events)


def test_an_update_with_tags_at_the_cap_is_taken() -> None:
    node = node_a()
    node.handle_datagram(0.0, B, gossip_of_b(1, ()))
    at_cap = (("k", "é" * 255 + "v"),)  # 1 + 511 bytes
    fx = node.handle_datagram(0.1, B, gossip_of_b(2, at_cap))
    assert node.members.get(B).tags == at_cap  # type: ignore[union-attr]
    assert [e.old_tags for e in fx.events if isinstance(e, PeerUpdated)] == [()]


def test_a_node_refuses_more_tags_than_a_receiver_decodes_even_within_the_byte_cap() -> None:
    many = tuple((f"k{i:02}", "") for i in range(MAX_TAGS + 1))  # 195 bytes
    with pytest.raises(ValueError, match=f"{MAX_TAGS + 1} tags; at most {MAX_TAGS}"):
        Node(A, b"a", config=Config(), rng=random.Random(1), incarnation=1, tags=many)
    node = node_a()
    with pytest.raises(ValueError, match=f"{MAX_TAGS + 1} tags; at most {MAX_TAGS}"):
        node.set_identity(0.0, b"a", many)
    assert node.tags == () and node.members.get(A).incarnation == 10  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------ API


def test_set_tags_before_start_are_the_tags_it_starts_with_and_are_checked() -> None:
    kb = Kaboodle(port=free_port(), interface="lo", tags={"role": "web"})
    assert kb.tags == {"role": "web"}
    kb.set_tags({"zone": "a", "role": "db"})
    assert kb.tags == {"role": "db", "zone": "a"}
    with pytest.raises(ValueError, match="tags take 601 bytes; at most 512 are allowed"):
        kb.set_tags(OVER_CAP)
    with pytest.raises(ValueError, match="must be strings"):
        kb.set_tags({"n": 1})  # type: ignore[dict-item]
    assert kb.tags == {"role": "db", "zone": "a"}


def test_the_constructor_checks_the_tags_and_the_cap_comes_from_the_config() -> None:
    with pytest.raises(ValueError, match="tags take 601 bytes; at most 512 are allowed"):
        Kaboodle(port=free_port(), tags=OVER_CAP)
    with pytest.raises(ValueError, match="tags take 5 bytes; at most 4 are allowed"):
        Kaboodle(port=free_port(), config=Config(max_tags=4), tags={"k": "long"})


def test_the_blocking_face_sets_tags_too() -> None:
    with BlockingKaboodle(port=free_port(), interface="lo", config=Config.local()) as kb:
        kb.set_tags({"role": "db"})
        assert kb.tags == {"role": "db"}
        assert kb.peer_states()[kb.self_addr].tags == {"role": "db"}
        with pytest.raises(ValueError, match="tags take 601 bytes; at most 512"):
            kb.set_tags(OVER_CAP)
        assert kb.tags == {"role": "db"}


async def test_set_tags_reaches_another_node_as_an_update_with_old_and_new_tags() -> None:
    nodes = await started(2, free_port(), tags={"role": "web"})
    a, b = nodes
    try:
        await meshed(nodes)
        fingerprints = [n.fingerprint() for n in nodes]
        incarnation = b.peer_states()[a.self_addr].incarnation
        updates: list[PeerUpdated] = []
        subscription = b.events()

        async def collect() -> None:
            async for event in subscription:
                if isinstance(event, PeerUpdated) and event.addr == a.self_addr:
                    updates.append(event)

        collector = asyncio.create_task(collect())
        try:
            a.set_tags({"role": "db", "zone": "a"})
            assert a.tags == {"role": "db", "zone": "a"}
            await wait_for(lambda: updates, 10.0)
        finally:
            subscription.close()
            await collector
        [updated] = updates
        assert updated.incarnation > incarnation
        assert updated.tags == (("role", "db"), ("zone", "a"))
        assert updated.old_tags == (("role", "web"),)
        assert b.peer_states()[a.self_addr].tags == {"role": "db", "zone": "a"}
        assert [n.fingerprint() for n in nodes] == fingerprints

        with pytest.raises(ValueError, match="tags take 601 bytes; at most 512"):
            a.set_tags(OVER_CAP)
        assert a.tags == {"role": "db", "zone": "a"}
        assert a.peer_states()[a.self_addr].incarnation == updated.incarnation
    finally:
        await stop(nodes)


# ----------------------------------------------------------------- the control socket


@pytest.fixture
async def served(rundir: Path) -> AsyncIterator[Served]:
    node = await Served(rundir / "n.sock", tags={"role": "web", "zone": "a"}).start()
    yield node
    await node.stop()


async def test_the_tags_request_shows_sets_and_deletes(served: Served) -> None:
    assert await asyncio.to_thread(request, served.path, "tags") == {
        "tags": {"role": "web", "zone": "a"}
    }
    answer = await asyncio.to_thread(
        request,
        served.path,
        "tags",
        fields={"set": {"role": "db", "rack": "7"}, "delete": ["zone", "x"]},
    )
    assert answer == {"tags": {"rack": "7", "role": "db"}}
    assert served.kb.tags == {"rack": "7", "role": "db"}


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"set": ["role"]}, '"set" must be an object'),
        ({"set": {"role": 1}}, "tag keys and values must be strings, not 'role': 1"),
        ({"delete": "zone"}, '"delete" must be a list of keys'),
        ({"delete": [1]}, '"delete" must be a list of keys'),
        ({"set": {"zone": "b"}, "delete": ["zone"]}, "tag 'zone' is both set and deleted"),
        ({"set": OVER_CAP}, "tags take 613 bytes; at most 512 are allowed"),
    ],
)
async def test_the_tags_request_refuses_bad_fields_and_tags_over_the_cap(
    served: Served, fields: dict[str, object], error: str
) -> None:
    with pytest.raises(ControlError, match=f"refused 'tags': {error}"):
        await asyncio.to_thread(request, served.path, "tags", fields=fields)
    assert served.kb.tags == {"role": "web", "zone": "a"}
