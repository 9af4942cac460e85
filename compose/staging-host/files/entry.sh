#!/bin/sh
# Configure the host from its seed (/srv/staging-seed, mounted read-only by the harness),
# then hand over to systemd (app role) or run the databases in the foreground (db role).
set -eu
python3 /usr/local/lib/staging/setup.py /srv/staging-seed
role=$(python3 -c 'import json; print(json.load(open("/srv/staging-seed/settings.json"))["role"])')
if [ "$role" = db ]; then
    exec python3 /usr/local/lib/staging/setup.py --serve-databases /srv/staging-seed
fi
# systemd (and the host's own Docker) as on a VM, on cgroup v1 without --privileged: the
# container has a cgroup namespace of its own (--cgroupns=private), and each hierarchy is
# mounted afresh over Docker's read-only one — a fresh mount's root is the namespace's
# root, so what systemd and dockerd create stays inside this container's own cgroup.
cd /sys/fs/cgroup
hierarchies=""
links=""
for entry in *; do
    if [ -L "$entry" ]; then
        links="$links $entry=$(readlink "$entry")"
    elif [ -d "$entry" ]; then
        hierarchies="$hierarchies $entry"
    fi
done
cd /
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
for name in $hierarchies; do
    mkdir -p "/sys/fs/cgroup/$name"
    case "$name" in
        unified) mount -t cgroup2 cgroup2 "/sys/fs/cgroup/$name" ;;
        systemd) mount -t cgroup -o none,name=systemd cgroup "/sys/fs/cgroup/$name" ;;
        *) mount -t cgroup -o "$name" cgroup "/sys/fs/cgroup/$name" ;;
    esac
done
for link in $links; do
    ln -s "${link#*=}" "/sys/fs/cgroup/${link%%=*}"
done
exec /sbin/init
