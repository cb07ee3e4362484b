"""Effects: what one call into a node asks its driver to do."""

from __future__ import annotations

from dataclasses import dataclass, field

from .addr import Addr
from .events import Event
from .timers import Timer

__all__ = ["Effects", "Multicast", "Send", "SetTimer"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Send ``data`` to ``to`` from the node's unicast socket."""

    to: Addr
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Multicast:
    """Send ``data`` to the discovery group (multicast, or broadcast on IPv4)."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class SetTimer:
    """Hand ``timer`` back to the node at time ``at`` (the caller's clock, in seconds).

    A driver may hand it back up to ``early`` seconds sooner when it is awake then anyway (it
    just handled a datagram), to save a wake-up of its own; one that ignores ``early`` hands
    it back at ``at``.
    """

    at: float
    timer: Timer
    early: float = 0.0


@dataclass(slots=True, kw_only=True)
class Effects:
    """The accumulated result of one call: datagrams to send, timers to set, events to report,
    and timers set earlier, not yet handed back, that are no longer needed.

    The driver performs them in order after the call returns; a node never keeps a reference to
    an Effects it has returned. Dropping the ``cancels`` is optional (a node ignores a timer
    that comes back stale), but saves the wake-up: an answered ping's next stage is one.
    """

    sends: list[Send | Multicast] = field(default_factory=list)
    timers: list[SetTimer] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    cancels: list[Timer] = field(default_factory=list)
