# mailbot container image.
#
# Base: debian:bookworm-slim with Debian's own python3 (3.11). Two stages: the
# builder makes a virtualenv in /opt/venv from this source tree; the final
# stage holds only python3 (same /usr/bin/python3 path, so the venv's
# interpreter symlink stays valid), its runtime data and that venv.
#
# Build:  docker build -t mailbot .
#         podman build --format docker -t mailbot .   (docker format keeps the HEALTHCHECK)
# Run:    see docs/deployment.md — config mounted read-only at /etc/mailbot,
#         data (SQLite database, maildir) on the /data volume, secrets as
#         environment variables or files named by the config's *_env / *_file keys.
#
# Only plain Dockerfile instructions (no BuildKit-only features such as
# RUN --mount), so it also builds with `podman build --isolation=chroot`.

FROM debian:bookworm-slim AS builder

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Versions come from the bookworm (+ security) suite the image is built from;
# pinning exact Debian revisions would break the build at every point release.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

# Only what the wheel is built from (see .dockerignore and pyproject.toml).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY mailbot/ mailbot/
COPY templates/ templates/
COPY migrations/ migrations/

# Optional, build time only: a CA bundle for pip behind a TLS-inspecting proxy.
# With podman/buildah: -v /etc/ssl/certs/ca-certificates.crt:/run/host-ca.crt:ro
# --build-arg PIP_CERT=/run/host-ca.crt (see .ci/docker-check.sh). Not kept in the image.
ARG PIP_CERT

# Version ranges live in pyproject.toml; the postgres extra adds psycopg[binary].
# pip and setuptools are removed afterwards: nothing needs them at run time.
# The last line proves templates and migrations were packaged in the wheel
# (-I: not imported from /src).
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install '.[postgres]' \
 && /opt/venv/bin/pip check \
 && /opt/venv/bin/pip uninstall -y pip setuptools \
 && /opt/venv/bin/python -I -c "from mailbot.resources import templates_dir, migrations_dir; print(templates_dir(), migrations_dir())"


FROM debian:bookworm-slim

ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown

LABEL org.opencontainers.image.title="mailbot" \
      org.opencontainers.image.description="Supplier escalation and compliment management, driven entirely by email." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# python3: the interpreter the venv points to (/usr/bin/python3).
# tzdata: zoneinfo for [mailbot].timezone and for TZ= (log timestamps); Debian's
#   python3 has none of its own (the PyPI tzdata that exchangelib pulls in is a fallback).
# ca-certificates: TLS to IMAP/SMTP/EWS/Graph servers via the system trust store.
# hadolint ignore=DL3008
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        python3 tzdata ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/lib/dpkg/*-old \
 && groupadd --gid 10001 mailbot \
 && useradd --uid 10001 --gid 10001 --no-log-init --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin mailbot \
 && mkdir -p /data /etc/mailbot \
 && chown 10001:10001 /data \
 && chmod 0750 /data

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    LANG=C.UTF-8 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MAILBOT_CONFIG=/etc/mailbot/mailbot.toml

# Mount the config (read-only) at /etc/mailbot/mailbot.toml. Relative paths in it
# resolve against /etc/mailbot, so point the data at the volume explicitly:
#   database = "sqlite:////data/mailbot.db"      [mailbox] path = "/data/mailbox"
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001

# Health: for now `mailbot check-config` (exit 0 = config valid and database
# reachable; it does not look at the running daemon itself). When /healthz is
# served (health_port in the config, bound to 127.0.0.1 inside the container),
# switch to:
#   HEALTHCHECK --interval=60s --timeout=10s --start-period=30s --retries=3 \
#     CMD ["/opt/venv/bin/python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8025/healthz', timeout=5)"]
HEALTHCHECK --interval=2m --timeout=30s --start-period=1m --retries=3 \
    CMD ["/opt/venv/bin/mailbot", "check-config", "--no-probe"]

# SIGTERM (docker stop) makes mailbot finish the current message, then exit;
# give it time: `docker run --stop-timeout 60` / compose `stop_grace_period: 60s`.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/opt/venv/bin/mailbot"]
CMD ["run"]
