"""Config validation, profiles and the formulas that scale with the mesh."""

from __future__ import annotations

import math

import pytest

from kaboodle.protocol.config import PROFILES, Config
from kaboodle.protocol.suspicion import suspicion_timeout


@pytest.mark.parametrize(
    "changes",
    [
        {"probe_interval": 0},
        {"probe_interval": -1.0},
        {"probe_timeout": 2.0},  # longer than the probe interval
        {"probe_interval": math.nan},
        {"probe_interval": math.inf},
        {"indirect_checks": -1},
        {"ping_resends": -1},
        {"max_datagram": 100},
        {"max_datagram": 70000},
        {"gossip_nodes": 0},
        {"suspicion_max_mult": 0.5},
        {"announce_min": 10.0, "announce_max": 1.0},
        {"probe_interval": "1"},
        {"max_members": True},
    ],
)
def test_nonsense_values_raise_value_error_naming_the_field(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"Config\.\w+"):
        Config(**changes)  # type: ignore[arg-type]


def test_profiles_exist_and_differ() -> None:
    lan, wan, local = (PROFILES[name]() for name in ("lan", "wan", "local"))
    assert lan == Config()
    assert wan.probe_interval > lan.probe_interval > local.probe_interval
    assert Config.wan(probe_interval=6.0).probe_interval == 6.0


def test_with_changes_validates() -> None:
    with pytest.raises(ValueError, match="probe_timeout"):
        Config().with_changes(probe_timeout=5.0)


def test_suspicion_bounds_scale_with_log10_of_members() -> None:
    cfg = Config(suspicion_mult=4, suspicion_max_mult=6, probe_interval=1.0)
    assert cfg.suspicion_bounds(8) == (4.0, 24.0)
    assert cfg.suspicion_bounds(10_000) == (16.0, 96.0)  # memberlist's numbers


def test_retransmit_limit_grows_with_log10() -> None:
    cfg = Config(retransmit_mult=4)
    assert cfg.retransmit_limit(1) == 4
    assert cfg.retransmit_limit(9) == 4
    assert cfg.retransmit_limit(10) == 8
    assert cfg.retransmit_limit(1000) == 16


def test_push_pull_period_scales_above_32_members() -> None:
    cfg = Config(push_pull_interval=30.0)
    assert cfg.push_pull_period(32) == 30.0
    assert cfg.push_pull_period(64) == 60.0
    assert cfg.push_pull_period(1000) > cfg.push_pull_period(100)


def test_suspicion_timeout_shrinks_from_max_to_min_with_confirmations() -> None:
    timeouts = [suspicion_timeout(2.0, 12.0, c, 3) for c in range(5)]
    assert timeouts[0] == 12.0
    assert timeouts == sorted(timeouts, reverse=True)
    assert timeouts[3] == timeouts[4] == 2.0
    assert suspicion_timeout(2.0, 12.0, 0, 0) == 2.0  # no confirmations expected: the minimum
