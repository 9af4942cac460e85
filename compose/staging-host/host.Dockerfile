# A staging host as the seeds run theirs (001: Vultr, 000: Oracle Cloud): systemd, sshd with a
# deploy user (key only, scoped sudo), an nftables firewall, fail2ban on sshd, Debian's nginx
# in front, and the reference stack's services as systemd units running as `refstack`.
# Built offline from the local base: apt works inside the build; Python wheels come from the
# build context (made on the host) and install with --no-index.
ARG BASE=stackproof/base:bookworm
FROM ${BASE}
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends \
      systemd systemd-sysv dbus openssh-server sudo nftables fail2ban python3-systemd \
      nginx redis-server postgresql-15 python3 python3-venv openssl iproute2 procps \
      ca-certificates docker.io \
 && rm -rf /var/lib/apt/lists/* \
 && systemctl disable postgresql redis-server nginx ssh fail2ban nftables docker >/dev/null 2>&1 || true
# The deploy user logs in with a key only; `refstack` runs the services and cannot log in.
RUN useradd --create-home --shell /bin/bash --groups systemd-journal,docker deploy \
 && useradd --system --home-dir /opt/refstack --shell /usr/sbin/nologin refstack \
 && usermod --password "*" deploy
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/refstack/venv \
 && /opt/refstack/venv/bin/pip install --quiet --no-index --find-links /tmp/wheels /tmp/wheels/*.whl \
 && rm -rf /tmp/wheels
COPY app/ /opt/refstack/app/
COPY lib/ /opt/refstack/lib/
# The fakes the host runs (the AniList unit, the Sentry container) import here, or the build
# fails with the missing module, rather than the host booting into a restart loop.
RUN PYTHONPATH=/opt/refstack/lib /opt/refstack/venv/bin/python -c \
      "import stackproof.fakes.anilist, stackproof.fakes.sentry"
COPY files/units/ /etc/systemd/system/
COPY files/sudoers-deploy /etc/sudoers.d/deploy
COPY files/sshd-staging.conf /etc/ssh/sshd_config.d/staging.conf
COPY files/entry.sh files/setup.py files/containers.py /usr/local/lib/staging/
RUN chmod 0440 /etc/sudoers.d/deploy && visudo -cq \
 && rm -f /etc/ssh/ssh_host_* \
 && systemctl enable ssh nftables fail2ban nginx docker \
      refstack-anilist refstack-auth refstack-bot >/dev/null 2>&1
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/bin/sh", "/usr/local/lib/staging/entry.sh"]
