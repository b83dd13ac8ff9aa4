#!/bin/sh
# Writes the node list from RINGSIDE_NODES (space-separated SIP addresses, ip:port) and runs
# Kamailio in the foreground on EDGE_IP:EDGE_PORT with the shipped edge configuration.
set -eu
: "${EDGE_IP:?the address the edge listens and sends from}"
: "${RINGSIDE_NODES:?the nodes SIP addresses, e.g. 10.0.0.21:5060 10.0.0.22:5060}"
list=/tmp/dispatcher.list
: > "$list"
i=0
for n in $RINGSIDE_NODES; do
  i=$((i + 1))
  echo "1 sip:$n;transport=udp 9 0 duid=node-$i" >> "$list"
done
exec kamailio -DD -E -m "${SHM_MB:-256}" -f /etc/kamailio/ringside-edge.cfg \
  -A "EDGE_IP=$EDGE_IP" -A "EDGE_PORT=${EDGE_PORT:-5060}" \
  -A "DS_LIST_FILE=\"$list\"" -A "CTL_SOCKET=\"unix:/tmp/ringside-edge-ctl.sock\"" \
  -Y /tmp -w /tmp
