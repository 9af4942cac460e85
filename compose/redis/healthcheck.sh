#!/bin/sh
# Healthy: the server answers PING with PONG once authenticated.
set -eu
[ "$(REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli -h 127.0.0.1 -p 6379 ping)" = PONG ]
