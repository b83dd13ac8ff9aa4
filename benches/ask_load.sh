#!/usr/bin/env bash
# POST /widget/ask over HTTP at a fixed rate (issue 18's target: p50 under 20 ms and p99 under
# 100 ms at 200 questions/s on the extractive path): a release `ringside serve` on its default
# embedded SQLite, a widget whose knowledge holds about 10,000 passages (40 text sources added
# through the API), and an open-loop Python client on the same 2 cores (benches/ask_load.py).
# Every question is also stored as the visitor's message, as in production. The abuse limits
# are switched off for the run (one client IP sends everything).
#
#   bash benches/ask_load.sh                       # 200 q/s for 30 s
#   RS_RATE=400 RS_DURATION=60 bash benches/ask_load.sh
#   BIN=target/debug/ringside RS_SOURCES=4 RS_DURATION=5 bash benches/ask_load.sh   # a quick try
#
# Last line: `ask_http_p99_ms: N` (p50 in the line before it).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN:-}" ]; then
  cargo build --release -p ringside >/dev/null 2>&1 || cargo build --release -p ringside
  BIN=target/release/ringside
fi
DATA=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(port)
SIP_PORT=$(port)
export RINGSIDE_DATA_DIR=$DATA RINGSIDE_HTTP_ADDR=127.0.0.1:$HTTP_PORT RINGSIDE_SIP_ADDR=127.0.0.1:$SIP_PORT \
  RINGSIDE_RTP_PORTS=46100-46199 RINGSIDE_LOG=${RINGSIDE_LOG:-warn} \
  RINGSIDE_RATE_LIMIT_CHAT_PER_IP_RATE=0 RINGSIDE_RATE_LIMIT_PER_WIDGET_RATE=0
$BIN serve 2>"$DATA/server.log" &
PID=$!
# RS_SERVER_LOG=path keeps the server's log (with RINGSIDE_LOG=warn,sqlx=debug: every statement
# and its time).
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; [ -n "${RS_SERVER_LOG:-}" ] && cp "$DATA/server.log" "$RS_SERVER_LOG"; rm -rf "$DATA"' EXIT
export RS_BASE=http://127.0.0.1:$HTTP_PORT
for _ in $(seq 100); do curl -sf "$RS_BASE/healthz" >/dev/null && break; sleep 0.1; done
export RS_TOKEN=$($BIN token create --email bench@ask.example --scopes widgets:read,widgets:write)
W=$(curl -sf -X POST "$RS_BASE/api/v1/widgets" -H "Authorization: Bearer $RS_TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"Bench","allowedDomains":["www.example.com"]}')
export RS_WIDGET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$W")
export RS_KEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["publicKey"])' <<<"$W")
export RS_DOMAIN=www.example.com
cpu() { awk '{print $14+$15}' "/proc/$PID/stat"; }
rss() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }
echo "# $(date -u +%F' '%T) UTC, $(nproc) CPUs, load: $(uptime | sed 's/.*load average: //')"
c0=$(cpu)
python3 benches/ask_load.py | tee "$DATA/out"
c1=$(cpu)
echo "# server CPU over fill and load: $(( (c1 - c0) / $(getconf CLK_TCK) )) s; RSS $(( $(rss) / 1024 )) MB" >&2
# The headline stays the last line of stdout.
