#!/bin/sh
# Configure the host from its seed (/srv/staging-seed, mounted read-only by the harness),
# then hand over to systemd (app role) or run the databases in the foreground (db role).
set -eu
python3 /usr/local/lib/staging/setup.py /srv/staging-seed
role=$(python3 -c 'import json; print(json.load(open("/srv/staging-seed/settings.json"))["role"])')
if [ "$role" = db ]; then
    exec python3 /usr/local/lib/staging/setup.py --serve-databases /srv/staging-seed
fi
# systemd as PID 1 on cgroup v1 without --privileged: the container has a cgroup namespace of
# its own (--cgroupns=private), so remounting its cgroup folders writable exposes only its
# own subtree.
for folder in /sys/fs/cgroup /sys/fs/cgroup/*; do
    mount -o remount,rw "$folder" 2>/dev/null || true
done
exec /sbin/init
