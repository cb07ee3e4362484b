#!/usr/bin/env bash
# Run a mesh of Kaboodle containers from a fresh checkout: NODES (default 8) nodes on one IPv6
# bridge, in the foreground. Ctrl-C stops it and removes its containers and network (KEEP=1
# leaves them, for `scripts/compose.sh down` later). Extra arguments go to `compose up`.
#   scripts/mesh.sh                  # 8 nodes; in another shell (or a script: -T, no TTY):
#   scripts/compose.sh exec -T --index 1 node kaboodle peers
# Where the official python image cannot be had (no registry), a local Debian base is built
# first (scripts/base-image.sh); the wheelhouse lets the image build without network access.
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_IMAGE=${BASE_IMAGE:-python:3.12-slim}
if ! docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 && ! docker pull "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "mesh.sh: $BASE_IMAGE cannot be pulled here; building a local base image" >&2
    BASE_IMAGE=$(scripts/base-image.sh | tail -n 1)
fi
export BASE_IMAGE
scripts/wheelhouse.sh >/dev/null
if [ "${KEEP:-0}" != 1 ]; then
    trap 'scripts/compose.sh down --remove-orphans -t 2 >/dev/null 2>&1 || true' EXIT
fi
scripts/compose.sh up --build --scale node="${NODES:-8}" "$@"
