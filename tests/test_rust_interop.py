"""One mesh with the Rust crate: kaboodle 0.1.5's own demo binary (built from crates.io by
scripts/rust-crate.sh) beside Python nodes in rust-0.1 mode, between network namespaces.

Every node, Rust and Python, must report the fingerprint of exactly the live nodes (the
crate's CRC-32 over their addresses and identities), after a start, after kill -9 of a Rust
node and of a Python node, and after both come back at new addresses."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import pytest
from cli_helpers import KABOODLE
from netns_lab import Lab, require_lab
from nodes import NodeProcess, converged, describe_all
from rust_nodes import RustProcess, rust_binary
from waiting import wait_until

pytestmark = pytest.mark.netns

DEADLINE = 60.0  # the crate pings every second and gives a silent peer 2 s + 2 s


@pytest.fixture
def lab9() -> Iterator[Lab]:
    require_lab()
    rust_binary()  # fail (CI) or skip before building a lab for nothing
    with Lab(9) as lab:
        yield lab


def python_node(lab: Lab, host: int) -> NodeProcess:
    return NodeProcess(lab, host, f"py-{host}", "--wire", "rust-0.1", "--profile", "lan")


def rust_node(lab: Lab, host: int) -> RustProcess:
    return RustProcess(lab, host, f"rust-{host}")


def agree(nodes: list[Any], what: str) -> None:
    wait_until(lambda: converged(nodes), DEADLINE, lambda: f"{what}:\n{describe_all(nodes)}")
    for n in nodes:
        assert len(n.view["peers"]) == len(nodes), describe_all(nodes)


def kill(node: Any) -> None:
    node.proc.send_signal(signal.SIGKILL)
    node.proc.wait(timeout=10)


@pytest.mark.parametrize("half", [2, 4])
def test_rust_and_python_nodes_agree_through_kills_and_restarts(lab9: Lab, half: int) -> None:
    pythons = [python_node(lab9, h) for h in range(half)]
    rusts = [rust_node(lab9, h) for h in range(half, 2 * half)]
    agree(pythons + rusts, f"{half}+{half} after the start")

    dead_rust = rusts.pop(0)
    kill(dead_rust)
    agree(pythons + rusts, "after kill -9 of a Rust node")
    dead_python = pythons.pop(0)
    kill(dead_python)
    agree(pythons + rusts, "after kill -9 of a Python node")

    rusts.append(rust_node(lab9, dead_rust.host))
    pythons.append(python_node(lab9, dead_python.host))
    agree(pythons + rusts, "after both came back")
    assert {n.addr for n in pythons + rusts}.isdisjoint({dead_rust.addr, dead_python.addr})


def test_probes_find_the_other_sides_meshes(lab9: Lab) -> None:
    rusts = [rust_node(lab9, h) for h in (1, 2)]
    agree(rusts, "the Rust-only mesh")

    def probed() -> Any:
        done = lab9.exec(8, [*KABOODLE, "probe", "--wire", "rust-0.1", "--json"], timeout=30)
        return json.loads(done.stdout) if done.returncode == 0 else None

    found = wait_until(probed, DEADLINE)
    assert found["addr"] in {r.addr for r in rusts}
    assert found["identity"] in {"rust-1", "rust-2"}
    assert found["fingerprint"] is None and found["members"] is None  # not in the answer

    pythons = [python_node(lab9, h) for h in (4, 5)]
    for r in rusts:
        kill(r)
    agree(pythons, "the Python-only mesh")

    def rust_probe() -> str | None:
        done = lab9.exec(8, [str(rust_binary()), "--probe"], timeout=30)
        return done.stdout if done.returncode == 0 and "Discovered" in done.stdout else None

    answer = wait_until(rust_probe, DEADLINE)
    assert any(f"{p.addr} ({p.identity})" in answer for p in pythons), answer
