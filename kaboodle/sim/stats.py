"""Counters of what the simulated network did."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["NetStats"]


@dataclass(slots=True)
class NetStats:
    """Counters of everything the network did. Bytes count each datagram once, as sent."""

    unicasts: int = 0
    """Unicast datagrams sent."""
    multicasts: int = 0
    """Multicast datagrams sent (once per send, whatever the number of receivers)."""
    bytes_sent: int = 0
    """Bytes of all datagrams sent."""
    max_datagram: int = 0
    """The largest datagram sent, in bytes."""
    delivered: int = 0
    """Datagrams handed to a node (a multicast counts once per receiver)."""
    lost: int = 0
    """Datagrams (or multicast receptions) dropped by the loss rate."""
    cut: int = 0
    """Datagrams dropped because a partition separated sender and receiver."""
    undeliverable: int = 0
    """Datagrams to an unknown or crashed address."""
    overflow: int = 0
    """Datagrams dropped because a paused receiver's buffer was full."""
    undecodable: int = 0
    """Multicasts that did not decode (the network decodes them once for all receivers)."""
    timers: int = 0
    """Timers handed back to nodes."""

    @property
    def messages(self) -> int:
        """Datagrams sent: unicasts plus multicasts."""
        return self.unicasts + self.multicasts
