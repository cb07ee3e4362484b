#!/usr/bin/env bash
# The whole test suite from a fresh checkout: virtual environment, dependencies, linters, types,
# the unit tests (tests/), then the integration tests (itests/: a mesh of Docker containers).
# Usage: scripts/test.sh [extra pytest arguments for tests/]
# Env:   KABOODLE_ITESTS=0 leaves the integration tests out. Without Docker they skip, saying
#        why; with CI=true they fail instead (itests/conftest.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# The multi-host tests build network namespaces with iproute2's `ip`.
if ! command -v ip >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iproute2
fi
# The integration tests' extra: pytest-docker, the docker SDK and its type stubs.
EXTRAS=test,dev,itest scripts/venv.sh

echo "== ruff check"
.venv/bin/ruff check .
echo "== ruff format --check"
.venv/bin/ruff format --check .
echo "== mypy --strict kaboodle cli"
.venv/bin/mypy --strict kaboodle cli
echo "== mypy --strict itests bench/docker_mesh.py"
MYPYPATH=itests .venv/bin/mypy --strict itests bench/docker_mesh.py
# The Rust crate the rust-0.1 interop tests run beside Python nodes: built once, cached
# outside the checkout. Without cargo the build fails here and the tests say why (a failure on
# CI, a skip elsewhere).
echo "== the kaboodle crate 0.1.5 (scripts/rust-crate.sh)"
scripts/rust-crate.sh || echo "== no kaboodle crate binary: the rust-0.1 interop tests cannot run"
echo "== pytest"
.venv/bin/pytest "$@"

if [ "${KABOODLE_ITESTS:-1}" = 0 ]; then
    echo "== integration tests left out (KABOODLE_ITESTS=0)"
    exit 0
fi
# The image the integration tests run: built here, before pytest, from this checkout (base
# image, wheelhouse, docker build; never --pull, no registry needed). Without a Docker daemon
# there is nothing to build, and pytest itests says so: a skip here, a failure on CI.
export KABOODLE_IMAGE=${KABOODLE_IMAGE:-kaboodle:itest}
if docker info >/dev/null 2>&1; then
    echo "== node image $KABOODLE_IMAGE (itests/image.sh)"
    itests/image.sh
else
    echo "== no Docker daemon answers: no image to build"
fi
echo "== pytest itests"
.venv/bin/pytest itests
