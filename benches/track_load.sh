#!/usr/bin/env bash
# Visitor event ingestion: wrk against POST /api/widgets/{id}/track of a release
# `ringside serve` on its default embedded SQLite, on loopback, wrk on the same 2 cores.
# Events are heartbeats (RS_HEARTBEAT_PCT %, default 80) and interactions (page views, clicks,
# scrolls) from RS_VISITORS (default 10000) visitors; presence absorbs them in memory and
# flushes them to SQLite in batches every second. The abuse limits are switched off for the
# run (one client IP sends everything).
#
#   bash benches/track_load.sh                  # 2 wrk threads, 64 connections, 15 s
#   CONN=128 DURATION=30 bash benches/track_load.sh
#
# Last line: `track_requests_per_sec: N` (p99 in the line before it).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -p ringside >/dev/null 2>&1 || cargo build --release -p ringside
BIN=target/release/ringside
CONN=${CONN:-64}
THREADS=${THREADS:-2}
DURATION=${DURATION:-15}
export RS_VISITORS=${RS_VISITORS:-10000}
export RS_HEARTBEAT_PCT=${RS_HEARTBEAT_PCT:-80}
DATA=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(port)
SIP_PORT=$(port)
export RINGSIDE_DATA_DIR=$DATA RINGSIDE_HTTP_ADDR=127.0.0.1:$HTTP_PORT RINGSIDE_SIP_ADDR=127.0.0.1:$SIP_PORT \
  RINGSIDE_RTP_PORTS=46000-46099 RINGSIDE_LOG=warn \
  RINGSIDE_RATE_LIMIT_TRACK_PER_IP_RATE=0 RINGSIDE_RATE_LIMIT_PER_WIDGET_RATE=0
$BIN serve 2>"$DATA/server.log" &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
BASE=http://127.0.0.1:$HTTP_PORT
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$($BIN token create --email bench@track.example --scopes widgets:write,analytics:read)
W=$(curl -sf -X POST "$BASE/api/v1/widgets" -H "Authorization: Bearer $TOKEN" \
  -H 'Content-Type: application/json' -d '{"name":"Bench","allowedDomains":["www.example.com"]}')
export RS_WIDGET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$W")
export RS_KEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["publicKey"])' <<<"$W")
export RS_ORIGIN=https://www.example.com

cpu() { awk '{print $14+$15}' "/proc/$PID/stat"; }
rss() { awk '/VmRSS/{print $2}' "/proc/$PID/status"; }
echo "# $(date -u +%F' '%T) UTC, $(nproc) CPUs, load: $(uptime | sed 's/.*load average: //')"
echo "# wrk -t$THREADS -c$CONN -d${DURATION}s, $RS_VISITORS visitors, $RS_HEARTBEAT_PCT % heartbeats, SQLite"
# Warm-up: every visitor seen once (first events read the database), JIT of nothing, pools.
wrk -t"$THREADS" -c"$CONN" -d5s -s benches/wrk/track.lua "$BASE" >/dev/null
c0=$(cpu)
OUT=$(wrk -t"$THREADS" -c"$CONN" -d"${DURATION}s" --latency -s benches/wrk/track.lua "$BASE")
c1=$(cpu)
echo "$OUT" | sed -n '/Latency Distribution/,/requests in/p'
LINE=$(grep '^RESULT' <<<"$OUT")
echo "$LINE"
curl -sf "$BASE/api/v1/widgets/$RS_WIDGET/analytics?limit=5000" -H "Authorization: Bearer $TOKEN" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print("# stored/live visitors analysed:", d["totals"]["visitors"], file=sys.stderr)'
TCK=$(getconf CLK_TCK)
python3 - "$LINE" "$c0" "$c1" "$TCK" "$DURATION" "$(rss)" <<'PY'
import sys
kv = dict(x.split("=") for x in sys.argv[1].split()[1:])
c0, c1, tck, dur, rss = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
cpu_pct = 100.0 * (c1 - c0) / tck / dur
print(f"server CPU {cpu_pct:.0f} % of a core, {1e6 * (c1 - c0) / tck / float(kv['requests']):.1f} us per request; RSS {rss / 1024:.1f} MB")
print(f"errors {kv['errors']} non-2xx {kv['non2xx']}")
print(f"track_p99_ms: {kv['p99_ms']}")
print(f"track_requests_per_sec: {kv['rps']}")
PY
