#!/usr/bin/env bash
# The whole test suite from a fresh checkout: virtual environment, dependencies, linters, types, tests.
# Usage: scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh

echo "== ruff check"
.venv/bin/ruff check .
echo "== ruff format --check"
.venv/bin/ruff format --check .
echo "== mypy --strict kaboodle cli"
.venv/bin/mypy --strict kaboodle cli
echo "== pytest"
.venv/bin/pytest "$@"
