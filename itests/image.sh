#!/usr/bin/env bash
# Build the node image that the integration tests (itests/) and bench/docker_mesh.py run, on a
# machine with no container registry: the base image, the wheelhouse, then `docker build`
# (never --pull: the base is a local image).
#
# Usage: itests/image.sh            # prints the image tag on its last line
# Env:   KABOODLE_IMAGE (default kaboodle:itest): the tag to build;
#        BASE_IMAGE: the Dockerfile's base; by default python:3.12-slim when that image is on
#        this machine already, else the local Debian image that scripts/base-image.sh builds
#        (kaboodle-base:<suite>; built only when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
image=${KABOODLE_IMAGE:-kaboodle:itest}

if [ -z "${BASE_IMAGE:-}" ]; then
    if docker image inspect python:3.12-slim >/dev/null 2>&1; then
        BASE_IMAGE=python:3.12-slim
    else
        BASE_IMAGE=$(scripts/base-image.sh | tail -n1)
    fi
fi
export BASE_IMAGE
echo "image.sh: building $image on $BASE_IMAGE" >&2

# Inside a build container no package index is reachable (this machine's HTTPS goes through a
# proxy whose certificate only the host trusts), so the image installs from wheels/, which the
# host fills: for the base image's Python, and only what is missing (pip skips files it has).
scripts/wheelhouse.sh

start=$(date +%s)
# The build output goes to stderr, so that stdout's last line is the tag.
# --force-rm: a failed step leaves no stopped container behind.
docker build --force-rm --build-arg BASE_IMAGE="$BASE_IMAGE" --tag "$image" . >&2
echo "image.sh: built $image in $(($(date +%s) - start)) s" >&2
echo "$image"
