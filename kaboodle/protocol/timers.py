"""Timers as data: a node asks its driver to hand one back at a given time.

When a timer comes back, the node checks the token, sequence number or incarnation it carries
against its state, and a stale one is ignored (foca's way), so drivers need nothing but a
priority queue. Dropping the timers a node cancels (``Effects.cancels``) and handing some back
early (``SetTimer.early``) only save wake-ups.
"""

from __future__ import annotations

from dataclasses import dataclass

from .addr import Addr

__all__ = [
    "AnnounceTick",
    "DepartureCheck",
    "FingerprintCheck",
    "GossipTick",
    "PingResend",
    "ProbeDeadline",
    "ProbeTick",
    "ProbeTimeout",
    "PushPullTick",
    "ReapTick",
    "RelayTimeout",
    "ReprobeTick",
    "RustTick",
    "SuspicionTimeout",
    "Timer",
    "WelcomeDue",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeTick:
    """Start the next probe. ``token`` changes when the schedule is replaced."""

    token: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PingResend:
    """Ping ``seq`` (ours, or one we relay) is still unanswered: send it for the ``attempt``-th
    time (the first is 2)."""

    seq: int
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeTimeout:
    """The direct ack of probe ``seq`` is overdue: ask others to ping-req the target."""

    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeDeadline:
    """Probe ``seq`` got no ack by the end of its period: suspect the target."""

    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class RelayTimeout:
    """As an intermediary, the target of our ping ``seq`` did not answer: send a nack."""

    seq: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SuspicionTimeout:
    """A suspicion about ``addr`` at ``incarnation`` may have run out; ``token`` names which."""

    addr: Addr
    incarnation: int
    token: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DepartureCheck:
    """Second-hand news that ``addr`` left at ``incarnation`` was not refuted in time."""

    addr: Addr
    incarnation: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GossipTick:
    """Send queued updates to a few random members."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PushPullTick:
    """Exchange full state with one random member."""


@dataclass(frozen=True, slots=True, kw_only=True)
class WelcomeDue:
    """Push our state to ``newcomer``, whose announce we heard when ``share`` of the mesh
    was to push (the decision is thinned to the share of the mesh as it is now)."""

    newcomer: Addr
    share: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceTick:
    """Multicast an announce; ``token`` changes when the schedule is reset, and ``repeat``
    marks the repeat of a start's announce."""

    token: int
    repeat: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ReapTick:
    """Forget tombstones older than the tombstone time-to-live."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReprobeTick:
    """Ping one dead member, in case it was only cut off by a partition."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RustTick:
    """The protocol period of a rust-0.1 node (:mod:`.rust.node`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class FingerprintCheck:
    """Report a fingerprint change, coalescing the changes of a short window into one event."""


Timer = (
    ProbeTick
    | PingResend
    | ProbeTimeout
    | ProbeDeadline
    | RelayTimeout
    | SuspicionTimeout
    | DepartureCheck
    | GossipTick
    | PushPullTick
    | WelcomeDue
    | AnnounceTick
    | ReapTick
    | ReprobeTick
    | FingerprintCheck
    | RustTick
)
"""Every timer a node can set."""
