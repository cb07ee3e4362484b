#!/usr/bin/env bash
# Build a minimal local Debian base image for the Kaboodle Dockerfile, for machines that cannot
# pull python:3.12-slim (no container registry). mmdebstrap builds the root file system from
# the Debian archive this machine's apt already uses, and `docker import` turns it into an image.
#
# Usage: scripts/base-image.sh            # builds kaboodle-base:<suite> unless it exists
#        FORCE=1 scripts/base-image.sh    # rebuild even if it exists
# Env:   SUITE (default: this machine's VERSION_CODENAME), TAG (default: kaboodle-base:$SUITE),
#        PACKAGES (extra packages, comma-separated)
# Prints the image tag on its last line, so `BASE_IMAGE=$(scripts/base-image.sh | tail -n1)`.
#
# The image has Debian's python3 with python3-venv, plus iptables (ip6tables) and iproute2 for
# tests that partition nodes from inside their containers. The mirror is read from
# /etc/apt/sources.list and /etc/apt/sources.list.d/ at run time; none is written here.
set -euo pipefail

suite=${SUITE:-}
if [ -z "$suite" ] && [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091
    suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
fi
if [ -z "$suite" ]; then
    echo "base-image.sh: cannot tell the Debian suite; set SUITE (e.g. SUITE=bookworm)" >&2
    exit 2
fi
tag=${TAG:-kaboodle-base:$suite}

if [ -z "${FORCE:-}" ] && docker image inspect "$tag" >/dev/null 2>&1; then
    echo "base-image.sh: $tag exists (FORCE=1 rebuilds it)" >&2
    echo "$tag"
    exit 0
fi

# The apt sources of this machine, as one-line entries "URI SUITE" for the suite itself and its
# -updates and -security companions (third-party repositories have other suite names).
apt_entries() {
    local f
    # One-line format: deb [options] URI SUITE COMPONENTS...
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 3 { print $2, $3 }'
    done
    # deb822 format: stanzas of Types / URIs / Suites (Enabled: no skips a stanza).
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk '
            function flush(   i, j, nu, ns, u, s) {
                if (types ~ /(^| )deb( |$)/ && enabled != "no") {
                    nu = split(uris, u, " "); ns = split(suites, s, " ")
                    for (i = 1; i <= nu; i++) for (j = 1; j <= ns; j++) print u[i], s[j]
                }
                types = uris = suites = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            {
                key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
                if (key == "types") types = $0
                else if (key == "uris") uris = $0
                else if (key == "suites") suites = $0
                else if (key == "enabled") enabled = tolower($0)
            }
            END { flush() }
        ' "$f"
    done
}

mirrors=()
have_main=
while read -r uri s; do
    case "$s" in
        "$suite") have_main=1 ;;
        "$suite-updates" | "$suite-security" | "$suite/updates") ;;
        *) continue ;;
    esac
    line="deb $uri $s main"
    for m in "${mirrors[@]}"; do [ "$m" = "$line" ] && continue 2; done
    mirrors+=("$line")
done < <(apt_entries)
if [ -z "$have_main" ]; then
    echo "base-image.sh: no apt source for suite '$suite' in /etc/apt/sources.list{,.d/}" >&2
    exit 2
fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "base-image.sh: mmdebstrap is missing; install it (apt-get install mmdebstrap)" >&2
        exit 2
    fi
    echo "base-image.sh: installing mmdebstrap" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap >/dev/null
fi

packages=python3,python3-venv,iptables,iproute2${PACKAGES:+,$PACKAGES}
echo "base-image.sh: building $tag from suite $suite (${#mirrors[@]} apt sources): $packages" >&2
start=$(date +%s)
# --variant=minbase: Essential and Priority: required packages (bash, coreutils, passwd for
# useradd, apt) and nothing else. Documentation and locales are left out to keep it small.
# The customize hook runs in mmdebstrap's shell, with the root directory as $1.
# shellcheck disable=SC2016
mmdebstrap --quiet --variant=minbase --include="$packages" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/lintian/*' \
    --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/* "$1"/var/log/*.log' \
    "$suite" - "${mirrors[@]}" |
    docker import \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' \
        --change 'CMD ["/bin/bash"]' \
        --message "mmdebstrap --variant=minbase $suite + $packages" \
        - "$tag" >/dev/null
echo "base-image.sh: built $tag in $(($(date +%s) - start)) s," \
    "$(docker image inspect -f '{{.Size}}' "$tag" | awk '{ printf "%.0f MB", $1 / 1e6 }')" >&2
echo "$tag"
