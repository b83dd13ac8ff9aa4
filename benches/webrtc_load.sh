#!/usr/bin/env bash
# WebRTC <-> SIP load: browser-like calls (benches/webrtc_load.rs, a Rust WebRTC client) over
# the widget socket and the WebRTC edge to a sipp extension (SIP only; its media goes to
# `webrtc_load echo`, an RTP echo with a 4 MiB socket buffer), Opus<->PCMU transcoded both
# ways. Steps up the number of concurrent calls; for each step prints loss, setup latencies
# (offer -> SDP answer, offer -> INVITE out, answer -> media back) and the server's CPU and
# memory per call. Loss is counted on every hop: the generator's RTP sequence numbers
# (relay -> edge -> client) and the call records' per-leg loss (client -> edge -> relay on the
# browser leg, relay -> echo -> relay on the SIP leg). Last line: `webrtc_sip_calls_zero_loss: N` (the largest
# step held with no packet lost and media flowing within 500 ms of the answer at p99).
#
#   bash benches/webrtc_load.sh                 # steps 50 100 150 200, 10 s measured each
#   CALLS="200" HOLD=20 bash benches/webrtc_load.sh
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-"50 100 150 175 200"}
HOLD=${HOLD:-10}
# RINGSIDE_BIN / WEBRTC_LOAD_BIN run given builds instead (e.g. to compare two commits).
if [ -z "${RINGSIDE_BIN:-}" ]; then
  cargo build --release -p ringside -p ringside-benches --bin ringside --bin webrtc_load >/dev/null 2>&1
fi
BIN=${RINGSIDE_BIN:-target/release/ringside}
GEN=${WEBRTC_LOAD_BIN:-target/release/webrtc_load}
WORK=$(mktemp -d)
# Stops only what this script started (its background jobs: server, echo, sipp), never other
# processes by pattern.
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
export RINGSIDE_DATA_DIR=$WORK/data RINGSIDE_HTTP_ADDR=127.0.0.1:18082 \
  RINGSIDE_SIP_ADDR=127.0.0.1:15062 RINGSIDE_WEBRTC_ADDR=127.0.0.1:17882 \
  RINGSIDE_RTP_PORTS=40000-49999 RINGSIDE_LOG=${RINGSIDE_LOG:-warn} RINGSIDE_SIP_DIGEST_ALGORITHMS=MD5 \
  RINGSIDE_RATE_LIMIT_TRACK_PER_IP_RATE=0 RINGSIDE_RATE_LIMIT_PER_WIDGET_RATE=0
mkdir -p "$RINGSIDE_DATA_DIR"
TOKEN=$($BIN token create --email bench@example.com --scopes sip:read,sip:write,widgets:read,widgets:write,calls:read)
$BIN serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18082/healthz >/dev/null && break; sleep 0.2; done
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
W=$(api -d '{"name":"load","allowedDomains":["localhost:9"]}' http://127.0.0.1:18082/api/v1/widgets)
WID=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["id"])' "$W")
WKEY=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["publicKey"])' "$W")
api -X PUT -d '{"ringTimeoutSecs":60}' "http://127.0.0.1:18082/api/v1/widgets/$WID/call-settings" >/dev/null
api -d "{\"username\":\"1002\",\"password\":\"bench-secret-1002\",\"widgetIds\":[\"$WID\"]}" \
  http://127.0.0.1:18082/api/v1/sip/extensions >/dev/null
sed -e 's/{{EXPIRES}}/3600/' -e 's/{{FINAL}}/200/' tests/sipp/register.xml > "$WORK/reg.xml"
(cd "$WORK" && sipp 127.0.0.1:15062 -sf reg.xml -m 1 -i 127.0.0.1 -p 16062 -s 1002 -au 1002 \
  -ap bench-secret-1002 -nostdin -timeout 10s -timeout_error >/dev/null 2>&1)
$GEN echo 127.0.0.1:16200 &
sed -e 's/{{ECHO_PORT}}/16200/' benches/uas_echo.xml > "$WORK/uas_echo.xml"
(cd "$WORK" && exec sipp -sf uas_echo.xml -i 127.0.0.1 -p 16062 -nostdin >/dev/null 2>&1) &
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' /proc/$SERVER/stat; }
best=0
for n in $CALLS; do
  base_rss=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status)
  c0=$(cpu); t0=$(date +%s.%N)
  line=$(WEBRTC_LOAD_DEBUG=${WEBRTC_LOAD_DEBUG:-} nice -n "${GEN_NICE:-0}" $GEN http://127.0.0.1:18082 "$WID" "$WKEY" http://localhost:9 "$n" "$HOLD" 2>"$WORK/gen.err" &
         gpid=$!; sleep $((n / 40 + 5 + HOLD / 2)); rss=$(awk '/VmRSS/ {print $2}' /proc/$SERVER/status);
         echo "$rss" > "$WORK/rss"; wait $gpid)
  c1=$(cpu); t1=$(date +%s.%N)
  rss=$(cat "$WORK/rss")
  cpu_pct=$(python3 -c "print(round(100*($c1-$c0)/$ticks/($t1-$t0),1))")
  per_call_kb=$(python3 -c "print(round(($rss-$base_rss)/$n,1))")
  # Loss on the legs, from the step's call records (RFC 3550 cumulative loss per leg).
  sleep 2
  read -r legs_lost legs_measured < <(api "http://127.0.0.1:18082/api/v1/calls?limit=$n" | python3 -c '
import json, sys
calls = json.load(sys.stdin)
q = [l["quality"] for c in calls for l in c["legs"] if l.get("quality")]
by_role = {}
for c in calls:
    for l in c["legs"]:
        if l.get("quality"):
            by_role[l["role"]] = by_role.get(l["role"], 0) + max(0, l["quality"].get("packetsLost", 0))
print(sum(max(0, x.get("packetsLost", 0)) for x in q), len(q))
print("legs lost by role:", by_role, file=sys.stderr)')
  echo "$line legs_lost $legs_lost legs_measured $legs_measured server_cpu_pct_avg $cpu_pct server_rss_kb $rss rss_per_call_kb $per_call_kb"
  head -3 "$WORK/gen.err" >&2 || true
  answered=$(echo "$line" | awk '{print $4}')
  loss=$(echo "$line" | awk '{print $8}')
  media_p99=$(echo "$line" | awk '{for (i=1;i<NF;i++) if ($i=="answer_to_media_ms") print $(i+4)}')
  # Held = every call answered, no packet lost on any hop, and media flowing within 500 ms of
  # the answer for 99 % of the calls (a backlog also loses nothing, but is no call).
  if [ "$answered" = "$n" ] && [ "$legs_lost" = "0" ] && [ "$legs_measured" -ge $((2 * n)) ] && python3 -c "import sys; sys.exit(0 if float('$loss') == 0 and float('$media_p99') <= 500 else 1)"; then
    best=$n
  fi
  sleep 3
done
[ -n "${SERVER_LOG:-}" ] && cp "$WORK/server.log" "$SERVER_LOG"
echo "webrtc_sip_calls_zero_loss: $best"
