#!/bin/bash
# Run HAProxy in the foreground (a background job of this script) against fake nodes, then
# stop it by its pid. With --short-client-timeout, runs a copy of the config whose
# `timeout client` is 2s, to show that an idle WebSocket lives on under `timeout tunnel`.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cfg=$here/../haproxy/haproxy.cfg
log=${LOG:-/tmp/haproxy-run.log}
if [ "${1:-}" = "--short-client-timeout" ]; then
  sed 's/^\(    timeout client \).*/\12s/' "$cfg" > /tmp/haproxy-short.cfg
  cfg=/tmp/haproxy-short.cfg
fi
haproxy -c -q -f "$cfg" || { echo "config check failed"; exit 2; }
haproxy -db -f "$cfg" >"$log" 2>&1 &
hpid=$!
sleep 0.5
timeout 120 python3 "$here/haproxy_check.py" /tmp/ringside-haproxy.sock "$@"
rc=$?
kill "$hpid"; wait "$hpid" 2>/dev/null
exit $rc
