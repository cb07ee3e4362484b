#!/usr/bin/env bash
# Create .venv (if missing) and install Kaboodle with its extras into it (EXTRAS, by default
# test,dev).
# Run by the other scripts; safe to run again.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[${EXTRAS:-test,dev}]"
