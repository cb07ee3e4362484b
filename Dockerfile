# Kaboodle node image: `docker run IMAGE` runs `kaboodle join --port 7475`.
#
# BASE_IMAGE: any Debian-like image with python3 (>= 3.11) and its venv module: the official
# python:3.12-slim (default, pulled where a registry is reachable), or the local
# kaboodle-base:bookworm that scripts/base-image.sh builds with no registry at all.
#
# Offline builds: when the build context has wheels/ filled by scripts/wheelhouse.sh, pip
# installs from it alone (--no-index) and the build needs no network; without wheels/, pip
# fetches from the package index as usual.
ARG BASE_IMAGE=python:3.12-slim

FROM ${BASE_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY . /src
RUN python3 -m venv /opt/kaboodle \
 && if ls /src/wheels/*.whl >/dev/null 2>&1; then \
        /opt/kaboodle/bin/pip install --no-index --find-links /src/wheels '/src[metrics]'; \
    else \
        /opt/kaboodle/bin/pip install '/src[metrics]'; \
    fi \
 && /opt/kaboodle/bin/kaboodle --help >/dev/null \
 && /opt/kaboodle/bin/python3 -m pip uninstall --quiet --yes pip setuptools

FROM ${BASE_IMAGE}
# iptables/ip6tables (for tests that partition nodes from inside their containers) and
# iproute2: already in kaboodle-base; installed from the Debian archive on other bases.
RUN if ! command -v ip6tables >/dev/null || ! command -v ip >/dev/null; then \
        apt-get update \
     && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iptables iproute2 \
     && rm -rf /var/lib/apt/lists/*; \
    fi \
 && groupadd --system --gid 999 kaboodle \
 && useradd --system --uid 999 --gid 999 --create-home --home-dir /home/kaboodle \
        --shell /usr/sbin/nologin kaboodle \
 && install -d -o kaboodle -g kaboodle -m 0700 /run/kaboodle
COPY --from=build /opt/kaboodle /opt/kaboodle
# KABOODLE_RUNTIME_DIR: one place for the control socket, whoever asks: `docker exec C kaboodle
# peers` (as the image's user) and `docker exec -u 0 C kaboodle peers` (as root) both find it.
ENV PATH=/opt/kaboodle/bin:$PATH PYTHONUNBUFFERED=1 KABOODLE_RUNTIME_DIR=/run/kaboodle
# By number, so that Kubernetes' runAsNonRoot can check it (deploy/k8s assumes 999).
USER 999:999
WORKDIR /home/kaboodle
# 9475: the metrics port the deployments give --metrics-port (KABOODLE_METRICS_PORT).
EXPOSE 7475/udp 9475/tcp
# Healthy while the node answers on its control socket (the CLI exits 1 when no node runs on
# that port). Each check is a short Python process (about 0.04 s of CPU: docs/benchmarks.md).
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["kaboodle", "fingerprint", "--port", "7475"]
ENTRYPOINT ["kaboodle"]
CMD ["join", "--port", "7475"]
