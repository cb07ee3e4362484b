"""The protocol node's parts wired by hand, for tests that drive one part without a node."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from kaboodle.protocol import codec
from kaboodle.protocol.addr import Addr
from kaboodle.protocol.announcer import Announcer
from kaboodle.protocol.awareness import Awareness
from kaboodle.protocol.config import Config
from kaboodle.protocol.detector import FailureDetector
from kaboodle.protocol.effects import Effects, Multicast, Send
from kaboodle.protocol.local import LocalMember
from kaboodle.protocol.members import MemberTable
from kaboodle.protocol.merge import LastCall, Merger
from kaboodle.protocol.messages import MemberState, Message, Update
from kaboodle.protocol.outbox import Outbox
from kaboodle.protocol.probe_order import ProbeOrder
from kaboodle.protocol.sync import StateSync
from kaboodle.protocol.view_watch import ViewWatch

A = Addr.parse("[fd00::1]:7000")
B = Addr.parse("[fd00::2]:7000")
C = Addr.parse("[fd00::3]:7000")
D = Addr.parse("[fd00::4]:7000")
STRANGER = Addr.parse("[fd00::99]:4000")


@dataclass
class Parts:
    """What a node is built from, for node ``A`` with incarnation 10 and identity ``b"a"``."""

    config: Config
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    stats: Counter[str] = field(default_factory=Counter)
    members: MemberTable = field(default_factory=MemberTable)

    def __post_init__(self) -> None:
        self.awareness = Awareness(self.config.awareness_max)
        self.local = LocalMember(
            A,
            b"a",
            (),
            incarnation=10,
            members=self.members,
            config=self.config,
            awareness=self.awareness,
            stats=self.stats,
        )
        self.order = ProbeOrder(self.rng)
        self.outbox = Outbox(self.config, self.local, self.members, self.order, self.stats)
        self.view = ViewWatch(self.config, self.members)

    def detector(self) -> FailureDetector:
        return FailureDetector(
            config=self.config,
            local=self.local,
            members=self.members,
            order=self.order,
            awareness=self.awareness,
            outbox=self.outbox,
            stats=self.stats,
            rng=self.rng,
        )

    def merger(self, last_call: LastCall) -> Merger:
        return Merger(
            config=self.config,
            local=self.local,
            members=self.members,
            order=self.order,
            awareness=self.awareness,
            outbox=self.outbox,
            stats=self.stats,
            last_call=last_call,
        )

    def state_sync(self) -> StateSync:
        """A StateSync of a node that started at time 0."""
        sync = StateSync(
            config=self.config,
            local=self.local,
            members=self.members,
            order=self.order,
            view=self.view,
            rng=self.rng,
            stats=self.stats,
        )
        return sync

    def announcer(self) -> Announcer:
        return Announcer(
            config=self.config,
            local=self.local,
            members=self.members,
            outbox=self.outbox,
            rng=self.rng,
            stats=self.stats,
        )

    def add(self, *updates: Update) -> None:
        """Put members in the table, as the merge rules would, and in the probe order."""
        for update in updates:
            self.members.add(update, 0.0)
            if update.counted:
                self.order.add(update.addr)


def make_parts(*peers: Addr, **config: object) -> Parts:
    """Parts of node A that counts ``peers`` alive."""
    parts = Parts(Config(**config))  # type: ignore[arg-type]
    parts.add(*(alive(p) for p in peers))
    return parts


def alive(addr: Addr, incarnation: int = 1, identity: bytes = b"x") -> Update:
    return Update(addr=addr, state=MemberState.ALIVE, incarnation=incarnation, identity=identity)


def update(addr: Addr, state: MemberState, incarnation: int = 1, **fields: object) -> Update:
    return Update(addr=addr, state=state, incarnation=incarnation, identity=b"x", **fields)  # type: ignore[arg-type]


def sent(fx: Effects) -> list[tuple[Addr | None, Message]]:
    """Every datagram in ``fx``, decoded, with its destination (None: the group)."""
    return [
        (s.to if isinstance(s, Send) else None, codec.decode(s.data))
        for s in fx.sends
        if isinstance(s, Send | Multicast)
    ]
