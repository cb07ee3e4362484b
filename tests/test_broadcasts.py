"""The broadcast queue: least-sent first, superseded updates leave, budgets hold."""

from __future__ import annotations

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.broadcasts import BroadcastQueue
from kaboodle.protocol.messages import MemberState, Update


def update(n: int, incarnation: int = 1, state: MemberState = MemberState.ALIVE) -> Update:
    return Update(
        addr=Addr.from_ip(f"fd00::{n:x}", 7000),
        state=state,
        incarnation=incarnation,
        identity=b"id",
    )


def test_newer_update_about_a_member_replaces_the_older() -> None:
    queue = BroadcastQueue(codec.update_size)
    queue.push(update(1, incarnation=1))
    queue.push(update(1, incarnation=2, state=MemberState.SUSPECT))
    assert len(queue) == 1
    assert queue.take(1400, limit=3) == (update(1, incarnation=2, state=MemberState.SUSPECT),)


def test_each_update_is_sent_limit_times_then_leaves() -> None:
    queue = BroadcastQueue(codec.update_size)
    queue.push(update(1))
    sent = [queue.take(1400, limit=3) for _ in range(5)]
    assert [len(s) for s in sent] == [1, 1, 1, 0, 0]
    assert len(queue) == 0


def test_an_update_queued_as_sent_already_goes_after_fresh_ones_and_leaves_sooner() -> None:
    queue = BroadcastQueue(codec.update_size)
    queue.push(update(1), sends=2)
    queue.push(update(2))
    assert queue.fewest_sends() == 0
    assert queue.take(1400, limit=3) == (update(2), update(1))
    assert queue.take(1400, limit=3) == (update(2),)  # update(1) reached the limit
    assert queue.fewest_sends() == 2


def test_least_sent_go_first_and_newest_first_among_equals() -> None:
    queue = BroadcastQueue(codec.update_size)
    queue.push(update(1))
    assert queue.take(1400, limit=10) == (update(1),)
    queue.push(update(2))
    queue.push(update(3))
    assert queue.take(1400, limit=10) == (update(3), update(2), update(1))


def test_taken_updates_fit_the_budget() -> None:
    queue = BroadcastQueue(codec.update_size)
    for n in range(200):
        queue.push(update(n))
    taken = queue.take(300, limit=10)
    assert 0 < len(taken) < 200
    assert sum(codec.update_size(u) for u in taken) <= 300


def test_first_goes_in_front_and_is_not_counted_as_a_queued_send() -> None:
    queue = BroadcastQueue(codec.update_size)
    queue.push(update(1))
    buddy = update(2, state=MemberState.SUSPECT)
    assert queue.take(1400, limit=1, first=buddy) == (buddy, update(1))
    assert len(queue) == 0


def test_queue_is_bounded() -> None:
    queue = BroadcastQueue(codec.update_size, max_entries=10)
    for n in range(50):
        queue.push(update(n))
    assert len(queue) == 10
