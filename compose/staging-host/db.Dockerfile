# The "remote" database host: PostgreSQL 17 and Redis, Debian 13's own packages, each speaking
# TLS with a certificate of the run's CA — what a managed database would be for the app host.
# Debian 12 has no PostgreSQL 17 (and the PyPI server wheels have no TLS), so this image moves
# the local base to Debian 13 (trixie) for those two packages.
ARG BASE=stackproof/base:bookworm
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN echo "deb http://deb.debian.org/debian trixie main" > /etc/apt/sources.list \
 && apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends postgresql-17 redis-server openssl python3 \
      procps iproute2 \
 && rm -rf /var/lib/apt/lists/*
COPY files/entry.sh files/setup.py /usr/local/lib/staging/
ENTRYPOINT ["/bin/sh", "/usr/local/lib/staging/entry.sh"]
