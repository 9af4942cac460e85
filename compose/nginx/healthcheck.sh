#!/bin/bash
# Healthy: the plain-HTTP listener answers (a redirect to HTTPS), which only a loaded config
# does. bash's /dev/tcp: the image needs no HTTP client. HEALTHCHECK_PORT: default 8080.
set -euo pipefail
exec 3<>"/dev/tcp/127.0.0.1/${HEALTHCHECK_PORT:-8080}"
printf 'GET / HTTP/1.0\r\n\r\n' >&3
read -r -t 2 status <&3
[[ $status == HTTP/1.[01]\ 3[0-9][0-9]\ * ]]
