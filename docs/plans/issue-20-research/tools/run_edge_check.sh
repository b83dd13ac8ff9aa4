#!/bin/bash
# Start the edge proxy in the foreground (background job of this script), run the checks,
# stop it by its own pid. Refuses to run if another kamailio is already up: two kamailio
# processes can both bind 127.0.0.1:5070 (SO_REUSEADDR on UDP) and split the traffic.
set -u
here=$(cd "$(dirname "$0")" && pwd)
cfg=$here/../kamailio/kamailio.cfg
log=${1:-/tmp/edge-run.log}
if pgrep -x kamailio >/dev/null; then echo "a kamailio is already running"; exit 2; fi
kamailio -c -f "$cfg" >/dev/null 2>&1 || { echo "config check failed"; exit 2; }
kamailio -DD -E -f "$cfg" -A PHONE_KA_S=2 >"$log" 2>&1 &
kpid=$!
sleep 1.5
timeout 120 python3 "$here/edge_check.py"
rc=$?
kill "$kpid"; wait "$kpid" 2>/dev/null
exit $rc
