"""Push-pull state exchange: splitting a full state into datagrams, and deciding when to sync.

Gossip is fast but lossy; a full-state exchange repairs whatever it missed. A node syncs when it
hears a newcomer announce itself (a few members push, a number independent of N), when an ack
reports a fingerprint that differs from its own, and now and then with a random member.
"""

from __future__ import annotations

from collections.abc import Sequence

from . import codec
from .addr import Addr
from .messages import Sync, Update

__all__ = ["initiates_repair", "split_state"]

# An empty Sync's encoding, plus the two bytes by which its members array header may grow.
_SYNC_OVERHEAD = (
    len(codec.encode(Sync(exchange=0, index=0, count=0, reply=False, fingerprint=0, members=())))
    + 2
)
_SYNC_FIELDS_MAX = 9 + 3 + 3  # widest exchange, index and count encodings beyond the empty ones


def split_state(
    members: Sequence[Update], *, exchange: int, reply: bool, fingerprint: int, budget: int
) -> list[Sync]:
    """Split ``members`` into Sync parts whose encodings each fit ``budget`` bytes."""
    room = budget - _SYNC_OVERHEAD - _SYNC_FIELDS_MAX
    chunks: list[list[Update]] = [[]]
    used = 0
    for update in members:
        size = codec.update_size(update)
        if chunks[-1] and used + size > room:
            chunks.append([])
            used = 0
        chunks[-1].append(update)
        used += size
    count = len(chunks)
    return [
        Sync(
            exchange=exchange,
            index=index,
            count=count,
            reply=reply,
            fingerprint=fingerprint,
            members=tuple(chunk),
        )
        for index, chunk in enumerate(chunks)
    ]


def initiates_repair(
    ours: tuple[int, int], theirs: tuple[int, int], self_addr: Addr, peer: Addr
) -> bool:
    """Whether we, not the peer, start the sync when our (fingerprint, count) views differ.

    The side that sees fewer members pulls; on a tie the lower address does. Exactly one side
    initiates, so two nodes never answer each other's sync with another sync.
    """
    (our_fp, our_count), (their_fp, their_count) = ours, theirs
    if our_fp == their_fp:
        return False
    if our_count != their_count:
        return our_count < their_count
    return self_addr.sort_key < peer.sort_key
