"""A deterministic simulator that runs many protocol nodes in one process, in virtual time.

- :class:`SimNetwork` carries datagrams between any sans-IO nodes (:mod:`.network`);
- :class:`Cluster` runs real protocol nodes on it and knows the truth to check them against
  (:mod:`.cluster`), with :class:`FailureAudit` judging every removal (:mod:`.audit`);
- :func:`run_scenario` runs a whole start / converge / disturb / recover story
  (:mod:`.scenario`), as ``python -m kaboodle.sim`` does (:mod:`.command`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kaboodle.lazy import lazy_getattr

from .addresses import sim_address
from .audit import FailureAudit, Removal
from .engine import EventHook
from .network import DEFAULT_LATENCY, SimNetwork
from .process import Process, SimNode, Spawn
from .stats import NetStats

if TYPE_CHECKING:
    from .cluster import Cluster
    from .scenario import ScenarioResult, ScenarioSpec, run_scenario

__all__ = [
    "DEFAULT_LATENCY",
    "Cluster",
    "EventHook",
    "FailureAudit",
    "NetStats",
    "Process",
    "Removal",
    "ScenarioResult",
    "ScenarioSpec",
    "SimNetwork",
    "SimNode",
    "Spawn",
    "run_scenario",
    "sim_address",
]

# The network runs any sans-IO node; only these names need the protocol's Node, so they are
# imported on first use and the network stays usable (and testable) on its own.
_LAZY = {
    "Cluster": ".cluster",
    "ScenarioResult": ".scenario",
    "ScenarioSpec": ".scenario",
    "run_scenario": ".scenario",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
