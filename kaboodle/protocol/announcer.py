"""The discovery group's traffic: our announces, others' announces, and probes by non-members.

A starting node multicasts its alive record, and again ``announce_repeat`` seconds later
whatever it heard meanwhile (mDNS announces twice, a second apart): every node that started
listening in between hears the repeat, so the members that start together push each other no
state larger than a datagram. A node that knows nobody goes on announcing, the interval doubling
up to ``announce_max``. Once in a mesh it announces only so that the halves of a healed
partition find each other, for which a few announces per ``announce_idle`` from the whole mesh
are plenty: each of N members stretches its interval by N/8 (jittered), so receiving announces
costs the same at 10 and at 10,000 members.

An announce heard must come from the address it names. A probe from a non-member is answered
to its UDP source only, by about ``sync_pushers`` members of the mesh.
"""

from __future__ import annotations

import random
from collections import Counter

from . import codec
from .addr import Addr
from .config import Config
from .effects import Effects, Multicast, Send, SetTimer
from .local import LocalMember
from .members import MemberTable
from .messages import Announce, Gossip, MemberState, Probe, ProbeReply, Update
from .outbox import Outbox
from .timers import AnnounceTick

__all__ = ["Announcer"]

_MESH_ANNOUNCES = 8  # announces per announce_idle from a whole mesh, whatever its size


class Announcer:
    """When this node multicasts its announce, and what it makes of the group's traffic.

    Args:
        config: protocol settings (the announce intervals, how many answer a probe).
        local: this node: what is announced, and whether it is leaving.
        members: the member table (alone, or in a mesh of how many).
        outbox: where a buried member that announces itself is told so.
        rng: the node's randomness (jitter, and who answers a probe).
        stats: the node's counters.
    """

    __slots__ = (
        "_alone_interval",
        "_config",
        "_last",
        "_local",
        "_members",
        "_outbox",
        "_refilled",
        "_repeat_at",
        "_rng",
        "_stats",
        "_token",
        "_tokens",
    )

    def __init__(
        self,
        *,
        config: Config,
        local: LocalMember,
        members: MemberTable,
        outbox: Outbox,
        rng: random.Random,
        stats: Counter[str],
    ) -> None:
        self._config = config
        self._local = local
        self._members = members
        self._outbox = outbox
        self._rng = rng
        self._stats = stats
        self._token = 0
        self._alone_interval = config.announce_min
        self._last = float("-inf")
        self._repeat_at: float | None = None
        self._tokens = float(config.announce_burst)
        self._refilled = 0.0

    def start(self, now: float, fx: Effects) -> None:
        """Announce now and again ``announce_repeat`` from now, then as the mesh we find asks
        (the node starts, or its network came back)."""
        self._alone_interval = self._config.announce_min
        self._repeat_at = now + self._config.announce_repeat
        self._announce(now, fx)

    def repeat_pending(self, now: float) -> bool:
        """Whether the repeat of our start's announce is still to come, so that a node that
        listens to the group from ``now`` on will hear it."""
        return self._repeat_at is not None and now < self._repeat_at

    def tick(self, now: float, timer: AnnounceTick, fx: Effects) -> None:
        """An announce timer came due: announce, unless it is stale or we found the mesh (the
        repeat of a start's announce is sent whatever we found)."""
        if timer.token != self._token or self._local.leaving:
            return
        if timer.repeat:
            self._repeat_at = None
        elif self._members.counted > 1 and now - self._last < self._config.announce_idle:
            # Found the mesh since the fast schedule was set: wait out the idle interval.
            self._schedule(now, self._last + self._idle_interval(), fx)
            return
        self._announce(now, fx)

    def heard(self, now: float, src: Addr, msg: Announce, fx: Effects) -> Update | None:
        """An announce from ``src``: the record to merge, or None when there is nothing to.

        Announces from senders we do not know are rate-limited (``announce_rate``, in bursts
        of ``announce_burst``): a flood of forged newcomers costs us at most that much.
        """
        update = msg.member
        if update.addr != src or update.state != MemberState.ALIVE:
            self._stats["dropped:announce-source"] += 1
            return None
        known = self._members.get(src)
        if known is None and not self._admit(now):
            self._stats["dropped:announce-rate"] += 1
            return None
        if known is not None and not known.counted and known.incarnation >= update.incarnation:
            # It does not know we buried it (a healed partition): tell it, so it can refute.
            belief = known.changed(origin=self._local.addr)
            self._outbox.send(src, Gossip(updates=(belief,)), fx)
            return None
        return update

    def answer_probe(self, src: Addr, msg: Probe, fx: Effects) -> None:
        """A non-member looks for one member: answer it, with the chance that makes about
        ``sync_pushers`` of the mesh answer, unless the answer would be larger than the probe
        (counted as ``dropped:probe-size``)."""
        if self._local.leaving:
            return
        members = self._members
        if self._rng.random() < self._config.sync_pushers / max(1, members.counted):
            reply = ProbeReply(
                nonce=msg.nonce,
                identity=self._local.record.identity,
                fingerprint=members.fingerprint(),
                members=members.counted,
            )
            data = codec.encode(reply)
            if len(data) > len(codec.encode(msg)):
                # Larger than the probe: a forged one would make us an amplifier.
                self._stats["dropped:probe-size"] += 1
                return
            fx.sends.append(Send(to=src, data=data))

    def _announce(self, now: float, fx: Effects) -> None:
        # Multicast our announce now, and set the timer for the next one.
        fx.sends.append(Multicast(data=codec.encode(Announce(member=self._local.record))))
        self._last = now
        if self._members.counted > 1:
            interval = self._idle_interval()
            self._alone_interval = self._config.announce_min
        else:
            interval = self._alone_interval
            self._alone_interval = min(interval * 2, self._config.announce_max)
        self._schedule(now, now + interval, fx)

    def _schedule(self, now: float, at: float, fx: Effects) -> None:
        # The next announce, at ``at`` or at the start's repeat if that comes first.
        repeat = False
        if self._repeat_at is not None and self._repeat_at <= at:
            at, repeat = max(now, self._repeat_at), True
        self._token += 1
        fx.timers.append(SetTimer(at=at, timer=AnnounceTick(token=self._token, repeat=repeat)))

    def _admit(self, now: float) -> bool:
        # A token bucket, refilled at announce_rate per second up to announce_burst.
        cfg = self._config
        self._tokens = min(
            cfg.announce_burst, self._tokens + (now - self._refilled) * cfg.announce_rate
        )
        self._refilled = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True

    def _idle_interval(self) -> float:
        share = max(1.0, self._members.counted / _MESH_ANNOUNCES)
        return self._config.announce_idle * share * self._rng.uniform(0.5, 1.5)
