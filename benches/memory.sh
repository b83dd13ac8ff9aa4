#!/usr/bin/env bash
# Memory per registered binding and per established call, read from the server's RSS.
#   bash benches/memory.sh                 # 1000 extensions registered, 1000 calls held
#   BINDINGS=2000 CALLS=1500 bash benches/memory.sh
# Calls: sipp UAC (trusted trunk 127.0.0.2) -> Ringside -> sipp UAS, held for HOLD_MS, with
# SDP (so each call has its media relay: four UDP sockets and a task) but no RTP.
# Prints `memory_per_binding_bytes: X` and, last, `memory_per_call_bytes: Y`.
set -euo pipefail
cd "$(dirname "$0")/.."
BINDINGS=${BINDINGS:-1000}
CALLS=${CALLS:-1000}
HOLD_MS=${HOLD_MS:-20000}
cargo build --release -p ringside >/dev/null 2>&1
BIN=$PWD/target/release/ringside
WORK=$(mktemp -d)
# Stops only what this script started: its background jobs (the server, sipp) and their
# subshells' children (`exec` keeps sipp the job itself).
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
export RINGSIDE_DATA_DIR=$WORK/data RINGSIDE_HTTP_ADDR=127.0.0.1:18081 \
  RINGSIDE_SIP_ADDR=127.0.0.1:15061 RINGSIDE_RTP_PORTS=20000-39999 RINGSIDE_LOG=warn \
  RINGSIDE_SIP_DIGEST_ALGORITHMS=MD5
mkdir -p "$RINGSIDE_DATA_DIR"
TOKEN=$($BIN token create --email mem@example.com --scopes sip:read,sip:write)
$BIN serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18081/healthz >/dev/null && break; sleep 0.2; done
rss() { awk '/VmRSS/ {print $2 * 1024}' /proc/$SERVER/status; }
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }

# --- bindings: BINDINGS extensions, each registered once from its own contact.
for i in $(seq 1 "$BINDINGS"); do
  u=$((100000 + i))
  api -d "{\"username\":\"$u\",\"password\":\"pw-$u-secret\"}" http://127.0.0.1:18081/api/v1/sip/extensions >/dev/null
done
sleep 1
before=$(rss)
python3 benches/register_many.py 127.0.0.1:15061 100001 "$BINDINGS" 'pw-{u}-secret' >/dev/null
sleep 2
after=$(rss)
regs=$(curl -s http://127.0.0.1:18081/metrics | awk '/^ringside_sip_registrations / {print $2}')
per_binding=$(( (after - before) / regs ))
echo "bindings: $regs registered, RSS ${before} -> ${after} bytes"

# --- calls: CALLS held at once.
api -d '{"username":"2002","password":"pw-2002-secret"}' http://127.0.0.1:18081/api/v1/sip/extensions >/dev/null
api -d '{"name":"load","inboundCidrs":["127.0.0.2/32"]}' http://127.0.0.1:18081/api/v1/sip/trunks >/dev/null
sed -e 's/{{EXPIRES}}/3600/' -e 's/{{FINAL}}/200/' tests/sipp/register.xml > "$WORK/reg1.xml"
(cd "$WORK" && sipp 127.0.0.1:15061 -sf reg1.xml -m 1 -i 127.0.0.1 -p 16160 -s 2002 -au 2002 -ap pw-2002-secret \
   -nostdin -timeout 10s -timeout_error >/dev/null 2>&1)
(cd "$WORK" && exec sipp -sn uas -i 127.0.0.1 -p 16160 -nostdin >/dev/null 2>&1) &
sleep 1
base=$(rss)
(cd "$WORK" && sipp 127.0.0.1:15061 -sn uac -s 2002 -i 127.0.0.2 -p 16170 -r 200 -m "$CALLS" -l "$CALLS" \
   -d "$HOLD_MS" -nostdin -timeout $(( HOLD_MS / 1000 + 60 ))s >/dev/null 2>&1) &
UAC=$!
peak_calls=0; peak=0
for _ in $(seq 1 $(( HOLD_MS / 500 ))); do
  sleep 0.5
  n=$(curl -s http://127.0.0.1:18081/metrics | awk '/^ringside_calls_active / {print $2}')
  if [ "${n:-0}" -gt "$peak_calls" ]; then peak_calls=$n; peak=$(rss); fi
  [ "$n" -ge "$CALLS" ] && { peak=$(rss); break; }
done
wait $UAC || true
per_call=$(( (peak - base) / (peak_calls > 0 ? peak_calls : 1) ))
echo "calls: $peak_calls held at once, RSS ${base} -> ${peak} bytes"
echo "memory_per_binding_bytes: $per_binding"
echo "memory_per_call_bytes: $per_call"
