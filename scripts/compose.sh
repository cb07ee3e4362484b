#!/usr/bin/env bash
# Docker Compose, whichever this machine has: v2 (`docker compose`) or v1 (`docker-compose`).
# Runs from the repository root, so the default docker-compose.yml is this project's (and
# relative -f paths are relative to the root). Usage: scripts/compose.sh up -d --scale node=8
# `scripts/compose.sh --which` prints the command it would run.
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    compose=(docker-compose)
else
    echo "compose.sh: neither 'docker compose' (v2) nor 'docker-compose' (v1) is installed" >&2
    exit 127
fi
if [ "${1:-}" = --which ]; then
    echo "${compose[*]}"
    exit 0
fi
exec "${compose[@]}" "$@"
