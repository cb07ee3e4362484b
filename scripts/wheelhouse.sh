#!/usr/bin/env bash
# Fill wheels/ (in the Docker build context) with every wheel the image build needs, so that
# `docker build` installs Kaboodle with no network access inside the build: the run-time
# dependencies as binary wheels for the base image's Python, plus the build backend
# (setuptools) that turns the project's source into a wheel inside the image.
# Kaboodle itself is not put here: the image always builds it from the build context's source.
#
# Usage: scripts/wheelhouse.sh
# Env:   BASE_IMAGE (default python:3.12-slim): its Python version is read when the image is
#        local (never pulled); PYTHON_VERSIONS overrides that ("3.11 3.12"); when neither
#        tells, wheels for 3.11, 3.12 and 3.13 are fetched. WHEELS (default: wheels).
# Needs a Python with pip on the host and access to PyPI; safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
base=${BASE_IMAGE:-python:3.12-slim}
dest=${WHEELS:-wheels}

versions=${PYTHON_VERSIONS:-}
if [ -z "$versions" ] && docker image inspect "$base" >/dev/null 2>&1; then
    versions=$(docker run --rm --pull=never --network=none --entrypoint python3 "$base" \
        -c 'import sys; print("%d.%d" % sys.version_info[:2])')
fi
versions=${versions:-3.11 3.12 3.13}

# A pip to download with: the host's, or a throwaway virtual environment's where there is none.
pip=(python3 -m pip)
if ! "${pip[@]}" --version >/dev/null 2>&1; then
    tmpvenv=$(mktemp -d)
    trap 'rm -rf "$tmpvenv"' EXIT
    python3 -m venv "$tmpvenv"
    pip=("$tmpvenv/bin/python" -m pip)
fi
export PIP_DISABLE_PIP_VERSION_CHECK=1

# Requirements straight from pyproject.toml: [project].dependencies and [build-system].requires.
mapfile -t reqs < <(python3 - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    p = tomllib.load(f)
# The image installs the metrics extra too (kaboodle join --metrics-port).
extras = p["project"].get("optional-dependencies", {}).get("metrics", [])
for r in p["project"].get("dependencies", []) + extras + p["build-system"].get("requires", []):
    print(r)
EOF
)

mkdir -p "$dest"
arch=$(uname -m)
for v in $versions; do
    abi=cp${v/./}
    echo "wheelhouse.sh: Python $v ($arch): ${reqs[*]}" >&2
    "${pip[@]}" download --quiet --dest "$dest" --only-binary=:all: \
        --python-version "$v" --implementation cp --abi "$abi" --abi abi3 --abi none \
        --platform "manylinux2014_$arch" --platform "manylinux_2_28_$arch" \
        --platform "manylinux_2_34_$arch" --platform "linux_$arch" --platform any \
        "${reqs[@]}"
done
echo "wheelhouse.sh: $(find "$dest" -name '*.whl' | wc -l) wheels in $dest/ for Python $versions" >&2
