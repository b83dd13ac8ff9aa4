#!/usr/bin/env bash
# Soak: calls with media, visitor chat and tracking for SOAK_SECS (default 600), then checks
# that nothing grew once the load stopped: resident memory, open descriptors, RTP port
# pairs, runtime tasks, SIP transactions, media relays.
#
#   bash benches/soak.sh                      # the 10-minute soak on a release build
#   SOAK_SECS=60 BIN=target/debug/ringside bash benches/soak.sh   # the suite's short form
#
# Calls: sipp UAC over a trusted trunk (127.0.0.2) playing a G.711 recording (uac_pcap, about
# 8 s of RTP each) -> Ringside (relaying) -> sipp UAS registered as 1002, echoing the RTP;
# CALL_RATE calls/s (default 2). Web: a Python client posts visitor events (page views,
# heartbeats) and chat messages for VISITORS visitors at WEB_RATE requests/s (default 20).
# Baseline after a warm-up minute of the same load; the after-figures once the load has
# stopped and transactions have drained (at most 60 s). Fails (exit 1) when memory grew by
# more than 10 % or 4 MB (whichever is larger), or descriptors, port pairs or tasks did not
# come back. Last line: `soak_rss_growth_kb: N`.
#
# Only the processes this script started are stopped (by their PIDs, never by name).
set -euo pipefail
cd "$(dirname "$0")/.."
SOAK_SECS=${SOAK_SECS:-600}
WARM_SECS=${WARM_SECS:-30}
CALL_RATE=${CALL_RATE:-2}
WEB_RATE=${WEB_RATE:-20}
VISITORS=${VISITORS:-200}
if [ -z "${BIN:-}" ]; then
  cargo build --release -p ringside >/dev/null 2>&1 || cargo build --release -p ringside
  BIN=target/release/ringside
fi
BIN=$(realpath "$BIN")
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(port)
SIP_PORT=$(port)
export RINGSIDE_DATA_DIR=$WORK/data RINGSIDE_HTTP_ADDR=127.0.0.1:$HTTP_PORT \
  RINGSIDE_SIP_ADDR=127.0.0.1:$SIP_PORT RINGSIDE_WEBRTC_ADDR=127.0.0.1:$(port) \
  RINGSIDE_RTP_PORTS=47000-47999 RINGSIDE_LOG=warn RINGSIDE_SIP_DIGEST_ALGORITHMS=MD5 \
  RINGSIDE_RATE_LIMIT_TRACK_PER_IP_RATE=0 RINGSIDE_RATE_LIMIT_CHAT_PER_IP_RATE=0 \
  RINGSIDE_RATE_LIMIT_PER_WIDGET_RATE=0
mkdir -p "$RINGSIDE_DATA_DIR"
BASE=http://127.0.0.1:$HTTP_PORT
TOKEN=$($BIN token create --email soak@example.com --scopes sip:read,sip:write,widgets:read,widgets:write,calls:read,messages:read)
$BIN serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 100); do curl -sf "$BASE/healthz" >/dev/null && break; sleep 0.1; done
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
api -d '{"username":"1002","password":"soak-secret-1002"}' "$BASE/api/v1/sip/extensions" >/dev/null
api -d '{"name":"soak","inboundCidrs":["127.0.0.2/32"]}' "$BASE/api/v1/sip/trunks" >/dev/null
W=$(api -d '{"name":"Soak","allowedDomains":["www.example.com"]}' "$BASE/api/v1/widgets")
export RS_BASE=$BASE RS_VISITORS=$VISITORS RS_WEB_RATE=$WEB_RATE
export RS_WIDGET=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$W")
export RS_KEY=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["publicKey"])' <<<"$W")

# uac_pcap plays pcap/g711a.pcap and pcap/dtmf_2833_1.pcap from its working directory.
ln -s /usr/share/sip-tester "$WORK/pcap"
sed -e 's/{{EXPIRES}}/3600/' -e 's/{{FINAL}}/200/' tests/sipp/register.xml > "$WORK/reg.xml"
UAS_PORT=$(port)
(cd "$WORK" && sipp 127.0.0.1:"$SIP_PORT" -sf reg.xml -m 1 -i 127.0.0.1 -p "$UAS_PORT" -s 1002 \
  -au 1002 -ap soak-secret-1002 -nostdin -timeout 10s -timeout_error >/dev/null 2>&1)
(cd "$WORK" && exec sipp -sn uas -i 127.0.0.1 -p "$UAS_PORT" -mp 48000 -rtp_echo -nostdin \
  >/dev/null 2>&1) &

metrics() { curl -s "$BASE/metrics"; }
metric() { metrics | awk -v n="$1" '$1 == n {print $2}'; }
rss() { awk '/VmRSS/ {print $2}' /proc/$SERVER/status; }
fds() { ls /proc/$SERVER/fd | wc -l; }

# One load period of $1 seconds: calls and web traffic together; fails on any failed call.
load() {
  local secs=$1 n=$(( $1 * CALL_RATE ))
  python3 - "$secs" > "$WORK/web.out" <<'PY' &
import json, os, random, sys, time, urllib.request
base, widget, key = os.environ["RS_BASE"], os.environ["RS_WIDGET"], os.environ["RS_KEY"]
rate, visitors, secs = float(os.environ["RS_WEB_RATE"]), int(os.environ["RS_VISITORS"]), float(sys.argv[1])
hdr = {"Content-Type": "application/json", "Authorization": "Bearer " + key,
       "Origin": "https://www.example.com", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
ok = bad = 0
end = time.time() + secs
rnd = random.Random(7)
while time.time() < end:
    v = "soak-%04d" % rnd.randrange(visitors)
    if rnd.random() < 0.2:
        path, body = "/chat", {"sessionId": v, "message": "hello %d" % rnd.randrange(10**6)}
    elif rnd.random() < 0.5:
        path, body = "/track", {"visitorId": v, "event": "page_view",
                                "url": "https://www.example.com/p/%d" % rnd.randrange(50), "title": "P"}
    else:
        path, body = "/track", {"visitorId": v, "event": "heartbeat"}
    req = urllib.request.Request(base + "/api/widgets/" + widget + path, json.dumps(body).encode(), hdr)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            ok += r.status < 300
    except Exception:
        bad += 1
    time.sleep(1.0 / rate)
print(ok, bad)
PY
  local web=$!
  (cd "$WORK" && sipp 127.0.0.1:"$SIP_PORT" -sn uac_pcap -i 127.0.0.2 -p "$(port)" -mp 49000 -s 1002 \
    -r "$CALL_RATE" -m "$n" -l $(( CALL_RATE * 20 )) -nostdin -timeout $(( secs + 60 ))s \
    -timeout_error >/dev/null 2>&1) || { echo "calls failed during the soak"; exit 1; }
  wait "$web"
  read -r ok bad < "$WORK/web.out"
  echo "  $n calls ok; web requests: $ok ok, $bad failed"
  [ "$bad" -eq 0 ] || { echo "web requests failed during the soak"; exit 1; }
}

# After load: wait until transactions, relays and calls are gone (at most 60 s).
drained() {
  for _ in $(seq 60); do
    m=$(metrics)
    busy=$(awk '$1 ~ /^ringside_sip_(server|client)_transactions$|^ringside_media_relays_active$|^ringside_calls_active$/ {s+=$2} END {print s+0}' <<<"$m")
    [ "$busy" = 0 ] && return 0
    sleep 1
  done
  echo "transactions, relays or calls did not drain"; return 1
}

echo "warm-up: ${WARM_SECS} s"
load "$WARM_SECS"
drained
sleep 2
rss0=$(rss); fds0=$(fds); ports0=$(metric ringside_rtp_port_pairs_free); tasks0=$(metric ringside_runtime_tasks)
echo "baseline: RSS ${rss0} kB, ${fds0} descriptors, ${ports0} free port pairs, ${tasks0} tasks"
echo "soak: ${SOAK_SECS} s at ${CALL_RATE} calls/s and ${WEB_RATE} web requests/s"
load "$SOAK_SECS"
peak=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)
drained
sleep 2
rss1=$(rss); fds1=$(fds); ports1=$(metric ringside_rtp_port_pairs_free); tasks1=$(metric ringside_runtime_tasks)
echo "after:    RSS ${rss1} kB (peak ${peak} kB), ${fds1} descriptors, ${ports1} free port pairs, ${tasks1} tasks"
growth=$(( rss1 - rss0 ))
allowed=$(( rss0 / 10 > 4096 ? rss0 / 10 : 4096 ))
status=0
[ "$growth" -le "$allowed" ] || { echo "memory grew by ${growth} kB (allowed ${allowed} kB)"; status=1; }
[ "$fds1" -le $(( fds0 + 2 )) ] || { echo "descriptors grew: ${fds0} -> ${fds1}"; status=1; }
[ "$ports1" = "$ports0" ] || { echo "RTP port pairs not returned: ${ports0} -> ${ports1}"; status=1; }
[ "$tasks1" -le $(( tasks0 + 2 )) ] || { echo "runtime tasks grew: ${tasks0} -> ${tasks1}"; status=1; }
if grep -q "panicked" "$WORK/server.log"; then echo "the server panicked"; status=1; fi
echo "soak_rss_growth_kb: $growth"
exit $status
