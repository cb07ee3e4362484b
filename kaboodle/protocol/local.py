"""This node as a member of its own view: its record, and how far to trust its own judgement.

The node's record lives in the member table like any other; :class:`LocalMember` is the one
place that changes it. It also notices when the node itself was frozen (SIGSTOP, a stalled
event loop, a suspended VM): for a while after that, what ran out meanwhile says more about us
than about the others, so nobody is accused or buried.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from .addr import Addr
from .awareness import Awareness
from .codec import MAX_TAGS
from .config import Config
from .members import MemberTable
from .messages import MemberState, Tags, Update

__all__ = ["LocalMember", "check_identity", "check_tags", "tags_size"]


class LocalMember:
    """The node's own record in ``members``, and its freeze detector.

    Args:
        addr: the node's address.
        identity: its identity (at most ``config.max_identity`` bytes).
        tags: its tags, sorted (key, value) pairs within ``config.max_tags``.
        incarnation: its starting incarnation; the first record, alive, is added to ``members``.
        members: the node's member table.
        config: protocol settings (the tick periods that tell a freeze from a quiet moment).
        awareness: the node's local health, which stretches those periods.
        stats: the node's counters (``frozen`` counts the freezes noticed).

    Raises:
        ValueError: the identity or tags exceed the configured limits.
    """

    __slots__ = (
        "_awareness",
        "_config",
        "_last_seen",
        "_members",
        "_record",
        "_stats",
        "addr",
        "frozen_until",
        "leaving",
        "tick_period",
    )

    def __init__(
        self,
        addr: Addr,
        identity: bytes,
        tags: Tags,
        *,
        incarnation: int,
        members: MemberTable,
        config: Config,
        awareness: Awareness,
        stats: Counter[str],
    ) -> None:
        check_identity(identity, tags, config)
        record = Update(
            addr=addr,
            state=MemberState.ALIVE,
            incarnation=incarnation,
            identity=identity,
            tags=tags,
        )
        self.addr = addr
        self._members = members
        self._stats = stats
        self._config = config
        self._awareness = awareness
        self._record = record
        members.add(record, 0.0)
        self.leaving = False
        """True once our record says we left (kept at hand: it is asked on every tick)."""
        self.frozen_until = float("-inf")
        """Until this time the node accuses and buries nobody: it was frozen just before."""
        self._last_seen = float("inf")  # no gap before the first call
        self.tick_period = config.probe_interval
        """The longest a running node goes without a call: the probe period the failure
        detector last set (stretched by local health). Set by the detector."""

    @property
    def record(self) -> Update:
        """Our own record, as the mesh should hear it."""
        return self._record

    def change(self, now: float, **fields: Any) -> Update:
        """Change our record (state, incarnation, identity, tags) and return the new one."""
        self._record = self._members.put(self._record.changed(**fields), now)
        self.leaving = self._record.state == MemberState.LEFT
        return self._record

    def rename(self, now: float, identity: bytes, tags: Tags) -> Update:
        """Change our identity and tags, at a new incarnation; returns the new record.

        Raises:
            ValueError: the identity or tags exceed the configured limits.
        """
        check_identity(identity, tags, self._config)
        return self.change(
            now, incarnation=self._record.incarnation + 1, identity=identity, tags=tags
        )

    def is_peer(self, addr: Addr) -> bool:
        """Whether ``addr`` is a member we count, other than ourselves."""
        return addr != self.addr and self._members.counts(addr)

    def frozen(self, now: float) -> bool:
        """Whether we were frozen a moment ago, so our own verdicts are not to be trusted."""
        return now < self.frozen_until

    def notice(self, now: float) -> None:
        """Note that the node runs at ``now``; a gap since the last call longer than any of our
        ticks means we were not running, and opens one probe interval without verdicts."""
        gap = now - self._last_seen
        self._last_seen = now
        cfg = self._config
        if gap <= cfg.probe_timeout:
            return  # the common case, decided without the arithmetic below
        if gap > self.tick_period + cfg.probe_timeout:
            self._stats["frozen"] += 1
            self.frozen_until = now + self._awareness.scale(cfg.probe_interval)


def check_identity(identity: bytes, tags: Tags, config: Config) -> None:
    """Raise ValueError unless ``identity`` and ``tags`` are within ``config``'s limits and
    the tags are sorted pairs with unique keys."""
    if len(identity) > config.max_identity:
        raise ValueError(
            f"identity is {len(identity)} bytes; at most {config.max_identity} are allowed"
        )
    check_tags(tags, config)


def check_tags(tags: Tags, config: Config) -> None:
    """Raise ValueError unless ``tags`` are within ``config.max_tags`` bytes (and the codec's
    count of tags) and are sorted pairs with unique keys; the message names size and cap."""
    size = tags_size(tags)
    if size > config.max_tags:
        raise ValueError(f"tags take {size} bytes; at most {config.max_tags} are allowed")
    # Within the byte cap there is room for more tags than a receiver's decoder takes: every
    # datagram carrying such a record would be dropped whole, by everyone.
    if len(tags) > MAX_TAGS:
        raise ValueError(f"{len(tags)} tags; at most {MAX_TAGS} are allowed")
    if list(tags) != sorted(dict(tags).items()):
        raise ValueError("tags must be (key, value) pairs sorted by key, each key once")


def tags_size(tags: Tags) -> int:
    """What ``config.max_tags`` counts: the UTF-8 bytes of the keys and values together."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in tags)
