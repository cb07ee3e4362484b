#!/usr/bin/env bash
# Build the kaboodle crate 0.1.5's demo binary from crates.io, once, into a cache outside the
# checkout (the rust-0.1 interop tests and bench/mixed_mesh.py run it beside Python nodes).
# Prints the binary's path. Needs cargo; without it, says so and exits 1.
# Env: KABOODLE_RUST_BIN, the binary to use instead (nothing is built then).
set -euo pipefail
VERSION=0.1.5
ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/kaboodle/rust-$VERSION"
BIN="${KABOODLE_RUST_BIN:-$ROOT/bin/kaboodle}"
if [ -x "$BIN" ]; then
    echo "$BIN"
    exit 0
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "rust-crate.sh: cargo is not installed: the kaboodle crate $VERSION cannot be built" >&2
    exit 1
fi
echo "rust-crate.sh: building the kaboodle crate $VERSION into $ROOT" >&2
cargo install --quiet --locked kaboodle --version "$VERSION" --root "$ROOT" >&2
echo "$ROOT/bin/kaboodle"
