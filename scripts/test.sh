#!/usr/bin/env bash
# The whole test suite from a fresh checkout: virtual environment, dependencies, linters, types, tests.
# Usage: scripts/test.sh [extra pytest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,dev]'

echo "== ruff check"
.venv/bin/ruff check .
echo "== ruff format --check"
.venv/bin/ruff format --check .
echo "== mypy --strict kaboodle cli"
.venv/bin/mypy --strict kaboodle cli
echo "== pytest"
.venv/bin/pytest "$@"
