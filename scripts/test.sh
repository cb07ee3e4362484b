#!/usr/bin/env bash
# The whole test suite from a fresh checkout: virtual environment, dependencies, linters, types, tests.
# Usage: scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
# The multi-host tests build network namespaces with iproute2's `ip`.
if ! command -v ip >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2
fi
scripts/venv.sh

echo "== ruff check"
.venv/bin/ruff check .
echo "== ruff format --check"
.venv/bin/ruff format --check .
echo "== mypy --strict kaboodle cli"
.venv/bin/mypy --strict kaboodle cli
echo "== pytest"
.venv/bin/pytest "$@"
