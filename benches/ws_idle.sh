#!/usr/bin/env bash
# Idle realtime sockets: memory per open, authenticated dashboard WebSocket
# (/api/ws/tenant) of a release `ringside serve`, with N (default 10000) held open by the
# ws_idle client on the same machine. Server RSS is read before the first and after the last
# socket opened (plus a hold); every socket must still answer a ping afterwards.
#
#   bash benches/ws_idle.sh              # 10000 sockets
#   CONNS=2000 bash benches/ws_idle.sh
#
# Last line: `ws_idle_kb_per_conn: X`.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p ringside -p ringside-benches --bin ringside --bin ws_idle >/dev/null 2>&1 ||
  cargo build --release -p ringside -p ringside-benches --bin ringside --bin ws_idle
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
BIN=target/release/ringside
CONNS=${CONNS:-10000}
HOLD=${HOLD:-10}
DATA=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(port)
SIP_PORT=$(port)
export RINGSIDE_DATA_DIR=$DATA RINGSIDE_HTTP_ADDR=127.0.0.1:$HTTP_PORT RINGSIDE_SIP_ADDR=127.0.0.1:$SIP_PORT \
  RINGSIDE_RTP_PORTS=46100-46199 RINGSIDE_LOG=warn
$BIN serve 2>"$DATA/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$($BIN token create --email bench@ws.example --scopes messages:read,analytics:read)
echo "# $(date -u +%F' '%T) UTC, $(nproc) CPUs, load: $(uptime | sed 's/.*load average: //'); $CONNS sockets, hold ${HOLD}s"
LINE=$(target/release/ws_idle --url "ws://127.0.0.1:$HTTP_PORT/api/ws/tenant" --token "$TOKEN" \
  --pid "$PID" --conns "$CONNS" --hold "$HOLD" | grep '^RESULT')
echo "$LINE"
python3 - "$LINE" <<'PY'
import sys
kv = dict(x.split("=") for x in sys.argv[1].split()[1:])
print(f"open {kv['open']} of {kv['conns']}, answering after the hold {kv['alive']}; server RSS {int(kv['rss_before_kb'])/1024:.1f} -> {int(kv['rss_after_kb'])/1024:.1f} MB")
print(f"ws_idle_kb_per_conn: {kv['kb_per_conn']}")
PY
