"""The simulated network itself, driven by a tiny echo node: delivery, latency, loss, multicast,
partitions, pauses, lifecycle, accounting and determinism."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from kaboodle.protocol.addr import Addr
from kaboodle.protocol.effects import Effects, Multicast, Send, SetTimer
from kaboodle.protocol.events import Event, PeerJoined
from kaboodle.protocol.messages import Message, Probe
from kaboodle.protocol.timers import GossipTick, ProbeTick, Timer
from kaboodle.sim.addresses import FIRST_PORT, sim_address
from kaboodle.sim.network import SimNetwork
from kaboodle.sim.process import Process, Spawn


@dataclass
class EchoNode:
    """Records everything it gets; answers b"ping..." with b"pong..." to the datagram's source."""

    addr: Addr
    started_at: float = -1.0
    datagrams: list[tuple[float, Addr, bytes]] = field(default_factory=list)
    messages: list[tuple[float, Addr, Message]] = field(default_factory=list)
    timers: list[tuple[float, Timer]] = field(default_factory=list)
    left_at: float | None = None
    start_effects: Effects = field(default_factory=Effects)

    def start(self, now: float) -> Effects:
        self.started_at = now
        return self.start_effects

    def handle_datagram(self, now: float, src: Addr, data: bytes) -> Effects:
        self.datagrams.append((now, src, data))
        if data.startswith(b"ping"):
            return Effects(sends=[Send(to=src, data=b"pong" + data[4:])])
        return Effects()

    def handle_message(self, now: float, src: Addr, msg: Message) -> Effects:
        self.messages.append((now, src, msg))
        return Effects()

    def handle_timer(self, now: float, timer: Timer) -> Effects:
        self.timers.append((now, timer))
        return Effects()

    def leave(self, now: float) -> Effects:
        self.left_at = now
        return Effects(sends=[Multicast(data=b"probe:99")])


def echo_factory(spawn: Spawn) -> EchoNode:
    return EchoNode(spawn.addr)


decoded: list[bytes] = []


def toy_decode(data: bytes) -> Message | None:
    """b"probe:N" is a Probe with nonce N; anything else does not decode."""
    decoded.append(data)
    head, sep, tail = data.partition(b":")
    if head != b"probe" or not sep or not tail.isdigit():
        return None
    return Probe(nonce=int(tail))


def make(n: int, **kwargs: object) -> SimNetwork[EchoNode]:
    net: SimNetwork[EchoNode] = SimNetwork(echo_factory, decode=toy_decode, **kwargs)  # type: ignore[arg-type]
    net.add_hosts(n)
    return net


def send(net: SimNetwork[EchoNode], src: int, dst: int, data: bytes, count: int = 1) -> None:
    net.apply(src, Effects(sends=[Send(to=net.node(dst).addr, data=data)] * count))


def test_addresses_are_unique_per_host_and_life() -> None:
    assert str(sim_address(0, 0)) == f"[fd00::1]:{FIRST_PORT}"
    assert str(sim_address(256, 3)) == f"[fd00::101]:{FIRST_PORT + 3}"
    assert str(sim_address(0, 0, ipv6=False)) == f"10.0.0.1:{FIRST_PORT}"
    assert str(sim_address(70000, 0, ipv6=False)) == f"10.1.17.113:{FIRST_PORT}"
    with pytest.raises(ValueError):
        sim_address(-1, 0)
    with pytest.raises(ValueError):
        sim_address(0, 70000)


def test_nodes_start_at_creation_time_with_their_own_address() -> None:
    net = make(3)
    assert [n.started_at for n in net.nodes] == [0.0, 0.0, 0.0]
    assert len({n.addr for n in net.nodes}) == 3
    assert net.live_hosts() == [0, 1, 2]
    assert net.process_at(net.node(2).addr) is net.process(2)


def test_unicast_arrives_once_within_the_latency_range() -> None:
    net = make(2, seed=1, latency=(0.010, 0.020))
    send(net, 0, 1, b"hello", count=2000)
    net.run_until(1.0)
    got = net.node(1).datagrams
    assert len(got) == 2000
    times = [t for t, _, _ in got]
    assert all(0.010 <= t <= 0.020 for t in times)
    assert times == sorted(times)
    assert min(times) < 0.0105 and max(times) > 0.0195  # uniform: both ends are reached
    assert 0.0145 < sum(times) / len(times) < 0.0155
    assert {src for _, src, _ in got} == {net.node(0).addr}
    assert net.stats.unicasts == 2000 and net.stats.delivered == 2000


def test_a_ping_gets_its_pong_after_a_round_trip() -> None:
    net = make(2)
    send(net, 0, 1, b"ping7")
    net.run_until(1.0)
    [(t, src, data)] = net.node(0).datagrams
    assert data == b"pong7" and src == net.node(1).addr
    assert 0.002 <= t <= 0.010
    assert net.now == 1.0


def test_loss_rate_drops_that_share_of_datagrams() -> None:
    net = make(2, seed=2, loss=0.3)
    send(net, 0, 1, b"x", count=20_000)
    net.run_until(1.0)
    received = len(net.node(1).datagrams)
    assert 0.68 < received / 20_000 < 0.72
    assert net.stats.lost == 20_000 - received
    assert net.stats.unicasts == 20_000  # sent counts what left the sender


def test_multicast_is_decoded_once_and_reaches_every_other_node() -> None:
    net = make(5)
    decoded.clear()
    net.apply(2, Effects(sends=[Multicast(data=b"probe:5")]))
    net.run_until(1.0)
    assert decoded == [b"probe:5"]
    for host, node in enumerate(net.nodes):
        expected = [] if host == 2 else [Probe(nonce=5)]
        assert [m for _, _, m in node.messages] == expected
        assert all(src == net.node(2).addr for _, src, _ in node.messages)
    times = {t for node in net.nodes for t, _, _ in node.messages}
    assert len(times) == 1  # one latency draw per send
    assert net.stats.multicasts == 1 and net.stats.messages == 1 and net.stats.delivered == 4


def test_undecodable_multicast_is_counted_and_skipped() -> None:
    net = make(3)
    net.apply(0, Effects(sends=[Multicast(data=b"garbage")]))
    net.run_until(1.0)
    assert net.stats.undecodable == 1
    assert all(not node.messages for node in net.nodes)


def test_multicast_loss_is_independent_per_receiver() -> None:
    net = make(201, seed=3, loss=0.5)
    net.apply(0, Effects(sends=[Multicast(data=b"probe:1")] * 20))
    net.run_until(1.0)
    per_node = [len(node.messages) for node in net.nodes[1:]]
    assert 0.46 < sum(per_node) / (200 * 20) < 0.54
    assert len(set(per_node)) > 3  # receivers do not share one coin


def test_partition_blocks_at_delivery_time_and_heal_restores() -> None:
    net = make(4, latency=(0.010, 0.010))
    send(net, 0, 1, b"before")
    net.run_until(0.005)
    net.partition([[0, 2], [1, 3]])  # the datagram is in flight: it is now cut
    net.run_until(0.1)
    assert net.node(1).datagrams == []
    assert net.stats.cut == 1
    send(net, 0, 2, b"same side")
    net.apply(0, Effects(sends=[Multicast(data=b"probe:1")]))
    net.run_until(0.2)
    assert [d for _, _, d in net.node(2).datagrams] == [b"same side"]
    assert [len(n.messages) for n in net.nodes] == [0, 0, 1, 0]
    net.heal()
    send(net, 0, 1, b"after")
    net.run_until(0.3)
    assert [d for _, _, d in net.node(1).datagrams] == [b"after"]


def test_hosts_left_out_of_a_partition_share_one_group() -> None:
    net = make(4)
    net.partition([[0]])
    assert [net.group_of(h) for h in range(4)] == [1, 0, 0, 0]
    net.apply(1, Effects(sends=[Multicast(data=b"probe:1")]))
    net.run_until(0.1)
    assert [len(n.messages) for n in net.nodes] == [0, 0, 1, 1]


def test_pause_buffers_datagrams_and_timers_and_hands_them_over_in_order() -> None:
    net = make(2, latency=(0.001, 0.001))
    net.apply(
        1,
        Effects(
            timers=[
                SetTimer(at=0.5, timer=GossipTick()),
                SetTimer(at=0.7, timer=ProbeTick(token=1)),
            ]
        ),
    )
    net.run_until(0.1)
    net.pause(1)
    assert not net.process(1).live and net.process(1).paused
    send(net, 0, 1, b"a")
    net.run_until(0.6)
    send(net, 0, 1, b"b")
    net.apply(0, Effects(sends=[Multicast(data=b"probe:3")]))
    net.run_until(2.0)
    node = net.node(1)
    assert node.datagrams == [] and node.timers == [] and node.messages == []
    net.resume(1)
    net.run_until(2.0)
    assert [(t, d) for t, _, d in node.datagrams] == [(2.0, b"a"), (2.0, b"b")]
    assert node.timers == [(2.0, GossipTick()), (2.0, ProbeTick(token=1))]
    assert node.messages == [(2.0, net.node(0).addr, Probe(nonce=3))]


def test_a_paused_process_buffers_at_most_its_hold_limit() -> None:
    net = make(2)
    net.pause(1)
    send(net, 0, 1, b"x", count=300)
    net.run_until(1.0)
    net.resume(1)
    net.run_until(1.0)
    assert len(net.node(1).datagrams) == 256
    assert net.stats.overflow == 44


def test_held_datagrams_are_not_cut_by_a_later_partition() -> None:
    net = make(2)
    net.pause(1)
    send(net, 0, 1, b"queued")
    net.run_until(0.1)
    net.partition([[0], [1]])
    net.resume(1)
    net.run_until(0.2)
    assert [d for _, _, d in net.node(1).datagrams] == [b"queued"]


def test_crash_drops_deliveries_and_timers() -> None:
    net = make(2, latency=(0.01, 0.01))
    net.apply(1, Effects(timers=[SetTimer(at=0.5, timer=GossipTick())]))
    send(net, 0, 1, b"in flight")
    net.crash(1)
    send(net, 0, 1, b"after")
    net.apply(0, Effects(sends=[Multicast(data=b"probe:1")]))
    net.run_until(1.0)
    node = net.node(1)
    assert node.datagrams == [] and node.timers == [] and node.messages == []
    assert net.stats.undeliverable == 2
    assert net.process(1).crashed and net.process(1).crashed_at == 0.0
    assert net.live_hosts() == [0]
    with pytest.raises(ValueError):
        net.pause(1)


def test_stop_leaves_keeps_delivering_for_the_grace_then_crashes() -> None:
    net = make(3)
    net.run_until(1.0)
    net.stop(1, grace=0.5)
    proc = net.process(1)
    assert net.node(1).left_at == 1.0
    assert proc.stopping and not proc.live and proc.running
    net.run_until(1.1)
    assert [len(n.messages) for n in net.nodes] == [1, 0, 1]  # the leave multicast went out
    send(net, 0, 1, b"still here")
    net.run_until(1.2)
    assert len(net.node(1).datagrams) == 1
    net.run_until(1.6)
    assert proc.crashed and proc.crashed_at == 1.5


def test_restart_starts_a_new_life_at_a_new_address() -> None:
    net = make(2)
    old = net.process(1)
    net.run_until(1.0)
    new = net.restart(1)
    assert old.crashed and new is net.process(1) and new.live
    assert new.addr != old.addr and new.addr.ip == old.addr.ip and new.life == 1
    assert net.node(1).started_at == 1.0
    net.apply(0, Effects(sends=[Send(to=old.addr, data=b"old"), Send(to=new.addr, data=b"new")]))
    net.run_until(2.0)
    assert [d for _, _, d in net.node(1).datagrams] == [b"new"]
    assert net.process_at(old.addr) is old


def test_restart_keeps_the_host_in_its_partition_group() -> None:
    net = make(3)
    net.partition([[0, 1], [2]])
    net.restart(1)
    assert net.process(1).group == net.process(0).group != net.process(2).group


def test_timers_fire_at_their_time_and_past_ones_at_once() -> None:
    net = make(1)
    net.run_until(1.0)
    net.apply(
        0,
        Effects(
            timers=[
                SetTimer(at=1.25, timer=ProbeTick(token=2)),
                SetTimer(at=0.5, timer=ProbeTick(token=1)),
            ]
        ),
    )
    net.run_until(2.0)
    assert net.node(0).timers == [(1.0, ProbeTick(token=1)), (1.25, ProbeTick(token=2))]
    assert net.stats.timers == 2


def test_start_effects_are_carried_out() -> None:
    def factory(spawn: Spawn) -> EchoNode:
        node = EchoNode(spawn.addr)
        node.start_effects = Effects(
            sends=[Multicast(data=b"probe:%d" % spawn.host)],
            timers=[SetTimer(at=0.25, timer=GossipTick())],
        )
        return node

    net: SimNetwork[EchoNode] = SimNetwork(factory, decode=toy_decode)
    net.add_hosts(3)
    net.run_until(1.0)
    assert sorted(m.nonce for _, _, m in net.node(0).messages) == [1, 2]  # type: ignore[union-attr]
    assert all(node.timers == [(0.25, GossipTick())] for node in net.nodes)


def test_accounting_counts_datagrams_bytes_and_the_largest() -> None:
    net = make(3)
    net.apply(
        0, Effects(sends=[Send(to=net.node(1).addr, data=b"x" * 100), Multicast(data=b"probe:1")])
    )
    net.apply(1, Effects(sends=[Send(to=net.node(2).addr, data=b"y" * 1200)]))
    net.run_until(1.0)
    stats = net.stats
    assert (stats.unicasts, stats.multicasts, stats.messages) == (2, 1, 3)
    assert stats.bytes_sent == 100 + 7 + 1200
    assert stats.max_datagram == 1200


def test_event_hooks_see_the_process_and_its_events() -> None:
    seen: list[tuple[float, int, Sequence[Event]]] = []
    event = PeerJoined(addr=sim_address(9, 0), identity=b"", incarnation=1)

    def hook(now: float, proc: Process[EchoNode], events: Sequence[Event]) -> None:
        seen.append((now, proc.host, list(events)))

    net = make(2)
    net.add_event_hook(hook)
    net.apply(1, Effects(events=[event]))
    net.apply(0, Effects())  # no events, no call
    assert seen == [(0.0, 1, [event])]


def test_a_host_hook_sees_only_that_host_in_every_life() -> None:
    seen: list[tuple[int, int]] = []
    event = PeerJoined(addr=sim_address(9, 0), identity=b"", incarnation=1)
    net = make(2)
    net.add_event_hook(lambda now, proc, events: seen.append((proc.host, proc.life)), host=1)
    net.apply(0, Effects(events=[event]))
    net.apply(1, Effects(events=[event]))
    net.restart(1)
    net.apply(1, Effects(events=[event]))
    assert seen == [(1, 0), (1, 1)]


def test_each_process_counts_what_it_sent() -> None:
    net = make(2)
    net.apply(
        0, Effects(sends=[Send(to=net.node(1).addr, data=b"abc"), Multicast(data=b"probe:1")])
    )
    assert (net.process(0).sent, net.process(0).sent_bytes) == (2, 10)
    assert (net.process(1).sent, net.process(1).sent_bytes) == (0, 0)


def test_call_at_runs_in_time_order_with_deliveries() -> None:
    net = make(2, latency=(0.01, 0.01))
    order: list[str] = []
    net.call_at(0.02, lambda: order.append("late"))
    net.call_at(0.005, lambda: order.append(f"early {len(net.node(1).datagrams)}"))
    send(net, 0, 1, b"x")
    net.call_at(0.015, lambda: order.append(f"mid {len(net.node(1).datagrams)}"))
    net.run_until(1.0)
    assert order == ["early 0", "mid 1", "late"]


def test_injected_datagrams_bypass_loss_and_partitions() -> None:
    net = make(1, loss=0.99)
    net.partition([[0]])
    outsider = Addr.parse("[2001:db8::1]:9")
    net.inject(0, outsider, b"raw", delay=0.5)
    net.run_until(1.0)
    assert net.node(0).datagrams == [(0.5, outsider, b"raw")]


def traffic_trace(seed: int) -> list[tuple[int, float, bytes]]:
    net = make(6, seed=seed, loss=0.2)
    for src in range(6):
        for dst in range(6):
            send(net, src, dst, b"ping%d" % src, count=5)
        net.apply(src, Effects(sends=[Multicast(data=b"probe:%d" % src)]))
    net.run_until(1.0)
    return [
        (host, t, bytes(data))
        for host, node in enumerate(net.nodes)
        for t, _, data in node.datagrams + [(t, a, b"%d" % m.nonce) for t, a, m in node.messages]  # type: ignore[union-attr]
    ]


def test_same_seed_same_run_other_seed_other_run() -> None:
    assert traffic_trace(7) == traffic_trace(7)
    assert traffic_trace(7) != traffic_trace(8)


def test_node_generators_are_seeded_and_distinct() -> None:
    def draws(seed: int) -> list[float]:
        got: list[float] = []

        def factory(spawn: Spawn) -> EchoNode:
            got.append(spawn.rng.random())
            return EchoNode(spawn.addr)

        SimNetwork(factory, seed=seed).add_hosts(3)
        return got

    assert draws(1) == draws(1) != draws(2)
    assert len(set(draws(1))) == 3


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        SimNetwork(echo_factory, loss=1.0)
    with pytest.raises(ValueError):
        SimNetwork(echo_factory, latency=(0.005, 0.001))


def test_a_factory_must_use_the_address_it_is_given() -> None:
    net: SimNetwork[EchoNode] = SimNetwork(lambda spawn: EchoNode(sim_address(99, 0)))
    with pytest.raises(ValueError):
        net.add_host()


# The command and the scenario runner: flags, validation and the JSON contract, on tiny meshes.


def run_command(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from kaboodle.sim.command import main

    try:
        status = main(args)
    except SystemExit as exit_:
        status = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize(
    "args",
    [
        ["--nodes", "0", "--duration", "1"],
        ["--nodes", "3", "--duration", "-1"],
        ["--nodes", "3", "--duration", "1", "--loss", "1"],
        ["--nodes", "3", "--duration", "1", "--latency-ms", "5:1"],
        ["--nodes", "3", "--duration", "1", "--kill", "4"],
        ["--nodes", "3", "--duration", "1", "--kill", "2", "--pause", "2:5"],
        ["--nodes", "3", "--duration", "1", "--pause", "2"],
        ["--nodes", "3", "--duration", "1", "--profile", "moon"],
        ["--nodes", "3", "--duration", "1", "--partition", "0"],
        ["--nodes", "3", "--duration", "1", "--burst-ms", "0"],
        ["--nodes", "3", "--duration", "1", "--burst-loss", "1.5"],
        ["--nodes", "3", "--duration", "1", "--loss", "0.6", "--burst-ms", "200"],
        ["--nodes", "three", "--duration", "1"],
        ["--duration", "1"],
    ],
)
def test_the_command_refuses_bad_flags_with_a_usage_error(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run_command(args, capsys)
    assert status == 2 and out == ""
    assert "error: " in err.splitlines()[-1]


def test_the_command_prints_one_json_object(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    args = ["--nodes", "6", "--duration", "12", "--seed", "3", "--kill", "1", "--json"]
    status, out, _ = run_command(args, capsys)
    assert status == 0 and len(out.strip().splitlines()) == 1
    result = json.loads(out)
    for key in (
        "nodes",
        "seed",
        "converged_s",
        "detect_s",
        "heal_s",
        "false_failures",
        "msgs_per_node_s",
        "bytes_per_node_s",
        "max_datagram_bytes",
        "wall_s",
    ):
        assert key in result
    assert result["nodes"] == 6 and result["seed"] == 3 and result["heal_s"] is None
    assert isinstance(result["detect_s"], list) and len(result["detect_s"]) == 1


def test_bursty_loss_from_the_command_loses_in_bursts_and_replays(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import json

    args = ["--nodes", "8", "--duration", "30", "--seed", "4", "--loss", "0.2", "--json"]
    runs = []
    for extra in ([], ["--burst-ms", "500", "--burst-loss", "0.9"], ["--burst-ms", "500"]):
        status, out, _ = run_command([*args, *extra], capsys)
        assert status == 0
        result = json.loads(out)
        result.pop("wall_s")
        runs.append(result)
    uniform, bursty, again = runs
    assert uniform["burst_ms"] is None and bursty["burst_ms"] == 500
    assert bursty != uniform
    assert again["burst_ms"] == 500 and again != bursty  # the burst loss rate matters too
    status, out, _ = run_command([*args, "--burst-ms", "500", "--burst-loss", "0.9"], capsys)
    replay = json.loads(out)
    replay.pop("wall_s")
    assert replay == bursty


def test_the_command_prints_a_short_aligned_summary(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_command(["--nodes", "4", "--duration", "3", "--ipv4"], capsys)
    lines = out.strip().splitlines()
    assert status == 0 and 3 <= len(lines) <= 12
    assert lines[0].startswith("nodes") and any(line.startswith("converged") for line in lines)
    columns = {len(line) - len(line.split("  ", 1)[1].lstrip()) for line in lines}
    assert len(columns) == 1  # every value starts in the same column


def test_a_scenario_replays_exactly_from_its_seed() -> None:
    from kaboodle.sim.scenario import ScenarioSpec, run_scenario

    spec = ScenarioSpec(nodes=8, duration=15, seed=5, loss=0.05, kill=1, pause=1, pause_s=2)
    first, second = run_scenario(spec).to_dict(), run_scenario(spec).to_dict()
    first.pop("wall_s")
    second.pop("wall_s")
    assert first == second
    assert first["converged_s"] is not None and first["disturbed_at"] is not None


def test_scenario_specs_validate_their_ranges() -> None:
    from kaboodle.sim.scenario import ScenarioSpec

    with pytest.raises(ValueError):
        ScenarioSpec(nodes=3, duration=1, kill=2, pause=2)
    with pytest.raises(ValueError):
        ScenarioSpec(nodes=3, duration=1, profile="moon")
    with pytest.raises(ValueError):
        ScenarioSpec(nodes=3, duration=0)


def test_cluster_truth_follows_the_lifecycle() -> None:
    from kaboodle.sim import Cluster

    cluster = Cluster(4, seed=1)
    assert cluster.live_hosts() == [0, 1, 2, 3] and len(cluster.true_members()) == 4
    version = cluster.version
    cluster.crash(1)
    cluster.pause(2)
    cluster.stop(3)
    assert cluster.version != version
    assert cluster.live_hosts() == [0]
    assert [addr for addr, _ in cluster.true_members()] == [cluster.addr(0)]
    cluster.resume(2)
    old = cluster.addr(1)
    node = cluster.restart(1)
    assert node.addr == cluster.addr(1) != old
    assert cluster.live_hosts() == [0, 1, 2]
    assert cluster.network.process_at(old) is not None


def test_cluster_records_events_per_host() -> None:
    from kaboodle.sim import Cluster

    cluster = Cluster(3, seed=2)
    everything = cluster.record_events()
    only_two = cluster.record_events(host=2)
    cluster.run_for(1.0)
    assert everything and only_two
    assert {host for _, host, _ in only_two} == {2}
    assert len(only_two) < len(everything)
