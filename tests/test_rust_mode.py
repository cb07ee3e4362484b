"""The rust-0.1 mode at the API: what it refuses at once, and two Python nodes on loopback
that speak the crate's protocol to each other."""

from __future__ import annotations

import pytest
from waiting import free_port, wait_for

from kaboodle import Config, Kaboodle
from kaboodle.protocol.fingerprint import fingerprint


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tags": {"role": "web"}}, "carries no tags"),
        ({"keys": [b"k" * 32]}, "carries no encryption keys"),
        ({"label": "blue"}, "carries no mesh label"),
        ({"config": Config.lan()}, "carries no network coordinates"),
    ],
)
def test_what_the_crate_cannot_carry_is_refused_at_once(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Kaboodle(port=7475, wire="rust-0.1", **options)  # type: ignore[arg-type]


def test_an_unknown_wire_and_later_tags_or_keys_are_refused_too() -> None:
    with pytest.raises(ValueError, match=r"wire 'rust-0\.2' is not one of kaboodle, rust-0\.1"):
        Kaboodle(port=7475, wire="rust-0.2")
    kb = Kaboodle(port=7475, wire="rust-0.1")
    assert kb.wire == "rust-0.1"
    with pytest.raises(ValueError, match="carries no tags"):
        kb.set_tags({"role": "db"})
    with pytest.raises(ValueError, match="carries no encryption keys"):
        kb.install_key(b"k" * 32)


async def test_two_python_nodes_speak_the_crates_protocol_on_loopback() -> None:
    port = free_port()
    nodes = [
        Kaboodle(port=port, interface="lo", identity=f"r{i}", wire="rust-0.1") for i in range(2)
    ]
    for node in nodes:
        await node.start()
    try:
        await nodes[1].ping_addrs([nodes[0].self_addr])
        await wait_for(lambda: all(len(n.peers()) == 2 for n in nodes), 15.0)
        want = fingerprint((n.self_addr, n.identity) for n in nodes)
        await wait_for(lambda: {n.fingerprint() for n in nodes} == {want}, 15.0)
        assert nodes[0].coordinate() is None and nodes[0].tags == {}
        states = nodes[0].peer_states()
        assert states[nodes[1].self_addr].incarnation == 0  # the crate has none
    finally:
        for node in nodes:
            await node.stop()
