"""Every timer, count and limit of the protocol in one frozen dataclass, and the formulas that
scale them with the size of the mesh.

The defaults are memberlist's LAN numbers, tightened where Kaboodle's targets (removal of a dead
member within a few seconds) ask for it; see docs/design.md for the trade-offs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

__all__ = ["MIN_DATAGRAM", "PROFILES", "Config"]

MIN_DATAGRAM = 512
"""The smallest datagram budget (``Config.max_datagram``) the protocol works with."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Protocol settings. Times are in seconds, sizes in bytes; invalid values raise ValueError."""

    probe_interval: float = 0.5
    """Seconds between two probes by this node (scaled by the local health multiplier).
    Shorter finds failures sooner at the cost of more traffic; keep it >= 2 x probe_timeout."""

    probe_timeout: float = 0.25
    """Seconds to wait for a direct ack before asking others (scaled by local health)."""

    ping_resends: int = 3
    """Times an unanswered ping is sent again within probe_timeout, evenly spaced, before the
    ping-reqs (and by a helper within its own wait). Each suspicion a resend avoids under loss
    saves the mesh its gossip and the target's refutation."""

    indirect_checks: int = 4
    """How many members are asked to ping-req a target that missed its direct acks (one more
    than memberlist's 3: with resends they are asked for few probes, so each costs little)."""

    late_ping: bool = True
    """Ping the target directly once more halfway from the ping-reqs to the end of the probe
    period: loss comes in bursts, and one that ate the resends has likely passed by then."""

    suspicion_mult: float = 1.0
    """Minimum suspicion timeout = suspicion_mult * max(1, log10(N)) * probe_interval."""

    suspicion_max_mult: float = 4.0
    """Maximum suspicion timeout = suspicion_max_mult * minimum. A suspicion starts at the
    maximum and shrinks towards the minimum as independent confirmations arrive (Lifeguard)."""

    suspicion_confirmations: int = 3
    """Independent confirmations after which a suspicion runs for the minimum timeout only."""

    retransmit_mult: int = 4
    """Each update is piggybacked about retransmit_mult * ceil(log10(N + 1)) times."""

    gossip_interval: float = 0.2
    """Seconds between gossip rounds, which push queued news outside probes (0 disables); a
    round is set only when news is queued, half an interval after it came."""

    gossip_nodes: int = 3
    """Members sent a gossip datagram in each gossip round."""

    awareness_max: int = 8
    """Saturation of the local health multiplier (Lifeguard's S)."""

    max_datagram: int = 1400
    """Budget of one datagram: piggybacked updates fill what the message leaves of it."""

    push_pull_interval: float = 30.0
    """Seconds between full-state exchanges with one random member (scaled up above 32
    members, as memberlist does; 0 disables)."""

    sync_pushers: int = 3
    """About how many members push their state to a newcomer they hear announce itself;
    independent of N, so a join costs the mesh the same at 10 and at 10,000 members."""

    welcome_delay: float = 0.02
    """Longest random wait before a member pushes its state to a newcomer it heard (mDNS's
    randomised answer delay, at its shortest): the pushes that a storm of newcomers asks of a
    mesh are spread out, and each is decided again when its wait ends."""

    sync_backoff: float = 5.0
    """Minimum seconds between two fingerprint-mismatch syncs this node starts (exchanges with
    a contact do not count)."""

    announce_repeat: float = 1.0
    """Seconds from a start's announce to its repeat, which is sent whatever the node heard
    meanwhile (mDNS's one second): nodes that start within this long of each other learn
    each other from their announces, without pushing state to each other."""

    announce_min: float = 0.5
    """First interval between announces while the node knows no other member; it doubles up
    to announce_max."""

    announce_max: float = 8.0
    """Longest interval between announces while alone."""

    announce_idle: float = 30.0
    """Interval between announces while in a mesh, so healed partitions find each other;
    above 8 members each node stretches it by N/8, so the mesh as a whole announces about
    8 times per interval whatever its size."""

    reprobe_dead_interval: float = 10.0
    """Seconds between pings to one random dead member, to notice a healed partition."""

    tombstone_ttl: float = 60.0
    """Seconds a dead or left member is remembered so that stale gossip cannot revive it."""

    event_delay: float = 0.05
    """Seconds over which fingerprint changes are coalesced into one event."""

    max_members: int = 65536
    """Hard cap on the member table, tombstones included; news of further members is dropped."""

    max_tombstones: int = 16384
    """Most dead and left members remembered; news of the death of a member we never knew is
    dropped beyond it, and burying a known member forgets the oldest tombstone first."""

    max_relays: int = 256
    """Most ping-reqs relayed for others at once; further ones are dropped, unanswered."""

    max_broadcasts: int = 8192
    """Most updates queued for gossip; beyond it the most-sent one leaves the queue."""

    max_sync_replies: int = 10
    """Most full-state replies sent per 5 seconds (a forged request must not make us a
    traffic amplifier)."""

    announce_rate: float = 2048.0
    """Announces from senders we do not know, accepted per second on average..."""

    announce_burst: int = 16384
    """...and at once: a start storm of up to this many nodes is taken whole, a flood of
    forged newcomers is cut to the rate (the rest still join through syncs)."""

    max_identity: int = 256
    """Longest identity accepted, in bytes."""

    max_tags: int = 512
    """Largest tags accepted: the sum of the UTF-8 lengths of keys and values."""

    proximity: bool = True
    """Keep a Vivaldi network coordinate, carried on acks (+24 bytes each), for RTT estimates
    between any two members; off, acks carry none and coordinates of others are ignored."""

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool):
                if not isinstance(value, bool):
                    raise ValueError(f"Config.{f.name} must be True or False, not {value!r}")
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"Config.{f.name} must be a number, not {value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"Config.{f.name} must be a finite number >= 0, not {value!r}")
        positive = (
            "probe_interval",
            "probe_timeout",
            "suspicion_mult",
            "awareness_max",
            "announce_repeat",
            "announce_min",
            "announce_max",
            "announce_idle",
            "tombstone_ttl",
            "max_members",
            "max_tombstones",
            "max_broadcasts",
            "announce_rate",
            "announce_burst",
            "reprobe_dead_interval",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"Config.{name} must be > 0, not {getattr(self, name)!r}")
        if self.probe_timeout >= self.probe_interval:
            raise ValueError(
                f"Config.probe_timeout ({self.probe_timeout}) must be shorter than "
                f"probe_interval ({self.probe_interval}): the indirect probe needs the rest"
            )
        if self.suspicion_max_mult < 1:
            raise ValueError(
                f"Config.suspicion_max_mult must be >= 1, not {self.suspicion_max_mult}"
            )
        if self.announce_max < self.announce_min:
            raise ValueError("Config.announce_max must be >= announce_min")
        if self.max_datagram < MIN_DATAGRAM or self.max_datagram > 65000:
            raise ValueError(
                f"Config.max_datagram must be in {MIN_DATAGRAM}..65000, not {self.max_datagram}"
            )
        if self.retransmit_mult < 1 or self.gossip_nodes < 1 or self.indirect_checks < 0:
            raise ValueError("Config.retransmit_mult and gossip_nodes must be >= 1")

    @classmethod
    def lan(cls, **changes: Any) -> Config:
        """The default profile, for a LAN or a container network."""
        return cls(**changes)

    @classmethod
    def wan(cls, **changes: Any) -> Config:
        """Slower, more tolerant timing for links with high latency (memberlist's WAN numbers)."""
        base: dict[str, Any] = {
            "probe_interval": 5.0,
            "probe_timeout": 3.0,
            "suspicion_mult": 6.0,
            "gossip_interval": 0.5,
            "gossip_nodes": 4,
            "push_pull_interval": 60.0,
            "sync_backoff": 15.0,
        }
        return cls(**(base | changes))

    @classmethod
    def local(cls, **changes: Any) -> Config:
        """Fast timing for nodes on one machine (loopback or network namespaces)."""
        base: dict[str, Any] = {
            "probe_interval": 0.25,
            "probe_timeout": 0.1,
            "suspicion_mult": 2.0,
            "gossip_interval": 0.1,
            "push_pull_interval": 15.0,
            "announce_min": 0.25,
            "announce_repeat": 0.25,
        }
        return cls(**(base | changes))

    def with_changes(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated like a new one)."""
        return replace(self, **changes)

    def suspicion_bounds(self, members: int) -> tuple[float, float]:
        """(minimum, maximum) suspicion timeout for a mesh of ``members`` nodes."""
        minimum = self.suspicion_mult * max(1.0, math.log10(max(members, 1))) * self.probe_interval
        return minimum, minimum * self.suspicion_max_mult

    def retransmit_limit(self, members: int) -> int:
        """How many times one update is sent before it leaves the queue."""
        return self.retransmit_mult * max(1, math.ceil(math.log10(members + 1)))

    def push_pull_period(self, members: int) -> float:
        """The push-pull interval, scaled up above 32 members so its load stays bounded."""
        if members <= 32:
            return self.push_pull_interval
        return self.push_pull_interval * (math.ceil(math.log2(members) - math.log2(32)) + 1)


PROFILES = {"lan": Config.lan, "wan": Config.wan, "local": Config.local}
"""Named profiles, as the CLI's --profile spells them."""
