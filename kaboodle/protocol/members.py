"""The member table: who this node knows, in which state, and the summaries of that view.

The table keeps tombstones of dead and left members (so stale gossip cannot revive them), the
counted set's order-independent digest in O(1) per change, and the exact fingerprint, computed
lazily and cached until the counted set changes.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from functools import lru_cache

from .addr import Addr
from .fingerprint import fingerprint_chunk
from .messages import MemberState, Tags, Update

__all__ = ["Member", "MemberTable", "digest_of"]

_MASK64 = (1 << 64) - 1
COUNTED = (MemberState.ALIVE, MemberState.SUSPECT)


class Member:
    """What this node knows about one member. Mutable, owned by the :class:`MemberTable`."""

    __slots__ = ("addr", "identity", "incarnation", "state", "tags")

    def __init__(
        self,
        addr: Addr,
        identity: bytes,
        incarnation: int,
        state: MemberState,
        tags: Tags = (),
    ) -> None:
        self.addr = addr
        self.identity = identity
        self.incarnation = incarnation
        self.state = state
        self.tags = tags

    @property
    def counted(self) -> bool:
        """Alive and suspect members count towards the fingerprint; dead and left do not."""
        return self.state <= MemberState.SUSPECT

    def as_update(self, origin: Addr | None = None) -> Update:
        """This member's state as a gossip or sync update."""
        return Update(
            addr=self.addr,
            state=self.state,
            incarnation=self.incarnation,
            identity=self.identity,
            tags=self.tags,
            origin=origin,
        )


@lru_cache(maxsize=1 << 16)
def _sort_key(addr: Addr) -> bytes:
    return addr.sort_key


@lru_cache(maxsize=1 << 16)
def _chunk(addr: Addr, identity: bytes) -> bytes:
    return fingerprint_chunk(addr, identity)


def _entry_hash(addr: Addr, identity: bytes) -> int:
    chunk = _chunk(addr, identity)
    return (zlib.crc32(chunk) << 32) | zlib.adler32(chunk)


def digest_of(members: Iterable[tuple[Addr, bytes]]) -> tuple[int, int]:
    """(count, order-independent 64-bit hash) of ``(address, identity)`` pairs.

    Equal to :meth:`MemberTable.digest` when the table's counted set is exactly these pairs, so a
    simulator can compare thousands of views cheaply before confirming with the exact fingerprint.
    """
    count, total = 0, 0
    for addr, identity in members:
        count += 1
        total = (total + _entry_hash(addr, identity)) & _MASK64
    return count, total


class MemberTable:
    """All members this node knows, self included, keyed by address."""

    def __init__(self) -> None:
        self._members: dict[Addr, Member] = {}
        self._count = 0
        self._hash = 0
        self._fingerprint: int | None = None
        # Dead and left members, with when they became so: reaping and re-probing look here
        # instead of scanning the whole table.
        self.tombstones: dict[Addr, float] = {}

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, addr: object) -> bool:
        return addr in self._members

    def __iter__(self) -> Iterator[Member]:
        return iter(self._members.values())

    def get(self, addr: Addr) -> Member | None:
        """The member at ``addr``, or None."""
        return self._members.get(addr)

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
            ordered = sorted(
                (m for m in self._members.values() if m.state <= MemberState.SUSPECT),
                key=lambda m: _sort_key(m.addr),
            )
            self._fingerprint = zlib.crc32(b"".join([_chunk(m.addr, m.identity) for m in ordered]))
        return self._fingerprint

    def add(self, member: Member, now: float) -> None:
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
            self._count_out(member.addr, member.identity)

    def change(
        self,
        member: Member,
        *,
        state: MemberState,
        incarnation: int,
        now: float,
        identity: bytes | None = None,
        tags: Tags | None = None,
    ) -> None:
        """Change a member's state, incarnation and optionally identity and tags, keeping the
        counted digest and fingerprint cache in step."""
        was_counted, old_identity = member.counted, member.identity
        if member.state != state:
            if state <= MemberState.SUSPECT:
                self.tombstones.pop(member.addr, None)
            else:
                self.tombstones[member.addr] = now
        member.state = state
        member.incarnation = incarnation
        if identity is not None:
            member.identity = identity
        if tags is not None:
            member.tags = tags
        if was_counted == member.counted and old_identity == member.identity:
            return  # alive <-> suspect, or between uncounted states: the view is unchanged
        if was_counted:
            self._count_out(member.addr, old_identity)
        if member.counted:
            self._count_in(member)

    def _count_in(self, member: Member) -> None:
        self._count += 1
        self._hash = (self._hash + _entry_hash(member.addr, member.identity)) & _MASK64
        self._fingerprint = None

    def _count_out(self, addr: Addr, identity: bytes) -> None:
        self._count -= 1
        self._hash = (self._hash - _entry_hash(addr, identity)) & _MASK64
        self._fingerprint = None
