"""The member table: who this node knows, in which state, and the summaries of that view.

A member's record is an :class:`Update`: immutable, replaced on every change. Nodes that hear
the same news hold the same object (the codec reuses decoded updates, the simulator decodes a
multicast once), which is what lets ten thousand simulated nodes' views fit in memory.

The table keeps tombstones of dead and left members (so stale gossip cannot revive them), the
counted set's order-independent digest in O(1) per change, and the exact fingerprint, computed
lazily and cached until the counted set changes (from a list kept nearly in the fingerprint's
order, so that computing it is a merge and one pass in C).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache

from .addr import Addr
from .fingerprint import fingerprint_chunk
from .messages import MemberState, Update

__all__ = ["MemberTable", "digest_of"]

_MASK64 = (1 << 64) - 1


_Entry = tuple[bytes, bytes, int]  # (sort key, fingerprint chunk, digest hash) of one member


@lru_cache(maxsize=1 << 16)
def _entry(addr: Addr, identity: bytes) -> _Entry:
    # Entries sort in the fingerprint's order without a key function (no two in one table
    # share an address), and the cache makes the nodes of a simulator share them.
    chunk = fingerprint_chunk(addr, identity)
    return addr.sort_key, chunk, (zlib.crc32(chunk) << 32) | zlib.adler32(chunk)


def digest_of(members: Iterable[tuple[Addr, bytes]]) -> tuple[int, int]:
    """(count, order-independent 64-bit hash) of ``(address, identity)`` pairs.

    Equal to :meth:`MemberTable.digest` when the table's counted set is exactly these pairs, so a
    simulator can compare thousands of views cheaply before confirming with the exact fingerprint.
    """
    count, total = 0, 0
    for addr, identity in members:
        count += 1
        total = (total + _entry(addr, identity)[2]) & _MASK64
    return count, total


class MemberTable:
    """All members this node knows, self included, keyed by address."""

    def __init__(self) -> None:
        self._members: dict[Addr, Update] = {}
        self._count = 0
        self._hash = 0
        self._fingerprint: int | None = None
        # The counted members' entries, sorted when the fingerprint was last computed, with
        # newcomers appended since: sorting that again is a merge of runs, in C.
        self._ordered: list[_Entry] = []
        # Dead and left members, with when they became so: reaping and re-probing look here
        # instead of scanning the whole table.
        self.tombstones: dict[Addr, float] = {}

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, addr: object) -> bool:
        return addr in self._members

    def __iter__(self) -> Iterator[Update]:
        return iter(self._members.values())

    def get(self, addr: Addr) -> Update | None:
        """The member at ``addr``, or None."""
        return self._members.get(addr)

    def counts(self, addr: Addr) -> bool:
        """Whether the member at ``addr`` is alive or suspect."""
        member = self._members.get(addr)
        return member is not None and member.counted

    def state_of(self, addr: Addr) -> MemberState | None:
        """The state of the member at ``addr``, or None if it is not in the table."""
        member = self._members.get(addr)
        return None if member is None else member.state

    @property
    def counted(self) -> int:
        """How many members are alive or suspect, self included."""
        return self._count

    def digest(self) -> tuple[int, int]:
        """(count, order-independent hash) of the counted members; see :func:`digest_of`."""
        return self._count, self._hash

    def fingerprint(self) -> int:
        """The exact CRC-32 fingerprint of the counted members (cached until they change)."""
        if self._fingerprint is None:
            self._ordered.sort()
            self._fingerprint = zlib.crc32(b"".join([chunk for _, chunk, _ in self._ordered]))
        return self._fingerprint

    def add(self, member: Update, now: float) -> None:
        """Insert a member not yet in the table."""
        self._members[member.addr] = member
        if member.counted:
            self._count_in(member)
        else:
            self.tombstones[member.addr] = now

    def remove(self, addr: Addr) -> None:
        """Forget a member entirely (a reaped tombstone)."""
        member = self._members.pop(addr)
        self.tombstones.pop(addr, None)
        if member.counted:
            self._count_out(member)

    def reap(self, now: float, ttl: float, keep: Addr) -> list[Addr]:
        """Forget the tombstones older than ``ttl`` seconds (never ``keep``, our own); returns
        the addresses forgotten."""
        expired = [a for a, since in self.tombstones.items() if since + ttl <= now and a != keep]
        for addr in expired:
            self.remove(addr)
        return expired

    def trim_tombstones(self, limit: int, keep: Addr) -> list[Addr]:
        """Forget the oldest tombstones (never ``keep``, our own) beyond ``limit``; returns
        the addresses forgotten."""
        if len(self.tombstones) <= limit:
            return []
        excess = len(self.tombstones) - limit
        oldest = [a for a in self.tombstones if a != keep][:excess]
        for addr in oldest:
            self.remove(addr)
        return oldest

    def put(self, member: Update, now: float) -> Update:
        """Replace the record of a member already in the table with ``member``, keeping the
        counted digest, fingerprint cache and tombstones in step; returns ``member``."""
        old = self._members[member.addr]
        self._members[member.addr] = member
        if old.state != member.state:
            if member.counted:
                self.tombstones.pop(member.addr, None)
            else:
                self.tombstones[member.addr] = now
        if old.counted == member.counted and old.identity == member.identity:
            return member  # alive <-> suspect, or between uncounted states: same view
        if old.counted:
            self._count_out(old)
        if member.counted:
            self._count_in(member)
        return member

    def _count_in(self, member: Update) -> None:
        entry = _entry(member.addr, member.identity)
        self._ordered.append(entry)
        self._count += 1
        self._hash = (self._hash + entry[2]) & _MASK64
        self._fingerprint = None

    def _count_out(self, member: Update) -> None:
        entry = _entry(member.addr, member.identity)
        self._ordered.remove(entry)
        self._count -= 1
        self._hash = (self._hash - entry[2]) & _MASK64
        self._fingerprint = None
