"""This node as a member of its own view: its record, identity limits and freeze detection."""

from __future__ import annotations

import pytest
from parts import A, B, C, make_parts, update

from kaboodle.protocol.effects import Effects
from kaboodle.protocol.messages import MemberState
from kaboodle.protocol.timers import ProbeTick


def test_our_record_is_in_the_table_alive_at_the_starting_incarnation() -> None:
    parts = make_parts()
    assert parts.members.get(A) == parts.local.record
    assert (parts.local.record.state, parts.local.record.incarnation) == (MemberState.ALIVE, 10)


def test_a_change_replaces_our_record_in_the_table_too() -> None:
    parts = make_parts(B)
    record = parts.local.change(1.0, state=MemberState.LEFT)
    assert parts.members.get(A) == record == parts.local.record
    assert parts.local.leaving
    assert parts.members.counted == 1


def test_rename_raises_the_incarnation() -> None:
    parts = make_parts()
    record = parts.local.rename(1.0, b"new", (("role", "web"),))
    assert (record.identity, record.tags, record.incarnation) == (b"new", (("role", "web"),), 11)


@pytest.mark.parametrize(
    ("identity", "tags", "message"),
    [
        (b"x" * 257, (), "identity is 257 bytes"),
        (b"x", (("k", "v" * 600),), "tags take 601 bytes"),
        (b"x", (("b", "1"), ("a", "2")), "sorted by key"),
        (b"x", (("a", "1"), ("a", "2")), "each key once"),
    ],
)
def test_an_identity_or_tags_beyond_the_limits_are_refused(
    identity: bytes, tags: tuple[tuple[str, str], ...], message: str
) -> None:
    parts = make_parts()
    with pytest.raises(ValueError, match=message):
        parts.local.rename(1.0, identity, tags)
    assert parts.local.record.incarnation == 10


def test_peers_are_counted_members_other_than_ourselves() -> None:
    parts = make_parts(B)
    parts.add(update(C, MemberState.DEAD))
    assert parts.local.is_peer(B)
    assert not parts.local.is_peer(A)
    assert not parts.local.is_peer(C)


def test_regular_calls_are_no_freeze() -> None:
    parts = make_parts()
    for step in range(100):
        parts.local.notice(step * parts.config.gossip_interval)
    assert not parts.local.frozen(20.0)
    assert parts.stats["frozen"] == 0


def test_a_long_silence_opens_one_probe_interval_without_verdicts() -> None:
    parts = make_parts()
    parts.local.notice(0.0)
    parts.local.notice(5.0)
    assert parts.stats["frozen"] == 1
    assert parts.local.frozen(5.0 + parts.config.probe_interval / 2)
    assert not parts.local.frozen(5.0 + parts.config.probe_interval)


def test_a_slow_node_waits_longer_before_it_calls_a_silence_a_freeze() -> None:
    parts = make_parts()
    parts.awareness.apply(3)
    fd = parts.detector()
    fd.tick(0.0, ProbeTick(token=0), Effects())  # its next tick: 4 probe intervals away
    assert parts.local.tick_period == 4 * parts.config.probe_interval
    parts.local.notice(0.0)
    parts.local.notice(4 * parts.config.probe_interval)
    assert parts.stats["frozen"] == 0
    parts.local.notice(4 * parts.config.probe_interval + 3.0)
    assert parts.stats["frozen"] == 1


def test_the_first_call_is_no_freeze() -> None:
    parts = make_parts()
    parts.local.notice(1000.0)
    assert parts.stats["frozen"] == 0
    assert not parts.local.frozen(1000.0)
