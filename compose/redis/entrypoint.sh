#!/bin/sh
# redis-server with the password from the environment (with-secrets), given on stdin: never
# on a command line, where `ps` on the host and `docker inspect` would show it.
set -eu
: "${REDIS_PASSWORD:?the password is missing: give the container the redis_password secret}"
case $REDIS_PASSWORD in
    *'"'* | *\\* | *"
"*) echo "redis-entrypoint: the password must not hold quotes, backslashes or newlines" >&2; exit 1 ;;
esac
exec redis-server /etc/redis/stackproof.conf "$@" - <<EOF_CONFIG
requirepass "$REDIS_PASSWORD"
EOF_CONFIG
