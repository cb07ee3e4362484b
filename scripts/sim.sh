#!/usr/bin/env bash
# Run a simulated mesh from a fresh checkout: sets up .venv, then python -m kaboodle.sim "$@".
# Example: scripts/sim.sh --nodes 1000 --duration 60 --seed 1 --kill 3
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh
exec .venv/bin/python -m kaboodle.sim "$@"
