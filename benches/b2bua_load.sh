#!/usr/bin/env bash
# B2BUA call-rate benchmark: sipp UAC (trusted trunk, 127.0.0.2) -> Ringside -> sipp UAS
# (registered extension), SDP but no RTP. Steps up the offered rate and prints the highest
# rate whose calls all succeeded, as `b2bua_cps: X` on the last line.
#
#   bash benches/b2bua_load.sh            # rates 250 ... 2500, 10 s each
#   RATES="1000" SECONDS_PER_STEP=20 bash benches/b2bua_load.sh
#   SIPP_EXTRA=-trace_err KEEP_WORK=1 ...    # keep sipp's error log (unexpected messages)
#   MODE=digest bash benches/b2bua_load.sh   # every call from extension 1001, challenged (407)
#                                            # and answered as phones do; last line b2bua_digest_cps
#
# Only the processes this script started are stopped (by their PIDs, never by name).
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${RATES:-"250 500 1000 1500 2000 2500"}
STEP_SECS=${SECONDS_PER_STEP:-10}
# RINGSIDE_BIN runs a given build instead (e.g. to compare two commits).
if [ -z "${RINGSIDE_BIN:-}" ]; then
  cargo build --release -p ringside >/dev/null 2>&1
fi
BIN=${RINGSIDE_BIN:-target/release/ringside}
WORK=$(mktemp -d)
MODE=${MODE:-trunk}
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
export RINGSIDE_DATA_DIR=$WORK/data RINGSIDE_HTTP_ADDR=127.0.0.1:18080 \
  RINGSIDE_SIP_ADDR=127.0.0.1:15060 RINGSIDE_RTP_PORTS=40000-59999 RINGSIDE_LOG=warn \
  RINGSIDE_SIP_DIGEST_ALGORITHMS=MD5
mkdir -p "$RINGSIDE_DATA_DIR"
TOKEN=$($BIN token create --email bench@example.com --scopes sip:read,sip:write)
${SERVE_WRAPPER:-} $BIN serve 2>"$WORK/server.log" &
SERVER=$!
for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.2; done
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
api -d '{"username":"1002","password":"bench-secret-1002"}' http://127.0.0.1:18080/api/v1/sip/extensions >/dev/null
api -d '{"name":"load","inboundCidrs":["127.0.0.2/32"]}' http://127.0.0.1:18080/api/v1/sip/trunks >/dev/null
api -d '{"username":"1001","password":"bench-secret-1001"}' http://127.0.0.1:18080/api/v1/sip/extensions >/dev/null
cp benches/uac_auth.xml "$WORK/uac_auth.xml"
sed -e 's/{{EXPIRES}}/3600/' -e 's/{{FINAL}}/200/' tests/sipp/register.xml > "$WORK/reg.xml"
(cd "$WORK" && sipp 127.0.0.1:15060 -sf reg.xml -m 1 -i 127.0.0.1 -p 16060 -s 1002 -au 1002 -ap bench-secret-1002 -nostdin -timeout 10s -timeout_error >/dev/null 2>&1)
(cd "$WORK" && exec sipp -sn uas -i 127.0.0.1 -p 16060 -buff_size 4194304 -nostdin >/dev/null 2>&1) &
UAS=$!
echo "server RSS before load: $(awk '/VmRSS/ {print $2}' /proc/$SERVER/status) kB"
# Live transactions, sampled every second (what the memory figure is made of).
(while sleep 1; do
   curl -s http://127.0.0.1:18080/metrics | awk '/^ringside_sip_(server|client)_transactions /{s+=$2}
     /^ringside_media_relays_active /{r=$2} END{print s+0, r+0}'
 done > "$WORK/tx_samples") &
best=0
for rate in $RATES; do
  n=$((rate * STEP_SECS))
  start=$(date +%s.%N)
  if [ "$MODE" = digest ]; then
    caller=(-sf uac_auth.xml -i 127.0.0.1 -au 1001 -ap bench-secret-1001 -auth_uri 1002@127.0.0.1:15060)
  else
    caller=(-sn uac -i 127.0.0.2)
  fi
  if (cd "$WORK" && sipp 127.0.0.1:15060 "${caller[@]}" -s 1002 -p 17060 -r "$rate" -m "$n" \
        -l $((rate * 4)) -d 0 -nostdin -timeout $((STEP_SECS * 4))s -timeout_error \
        -trace_stat -stf "stat_$rate.csv" -buff_size 4194304 ${SIPP_EXTRA:-} >/dev/null 2>&1); then
    end=$(date +%s.%N)
    cps=$(python3 -c "print(round($n/($end-$start)))")
    rss=$(awk '/VmHWM/ {print $2}' /proc/$SERVER/status)
    echo "offered ${rate}/s: $n calls ok, ${cps} calls/s achieved, server peak RSS ${rss} kB"
    # Count a step only if sipp kept up with the offered rate.
    if [ "$cps" -ge $((rate * 9 / 10)) ]; then best=$cps; else break; fi
  else
    echo "offered ${rate}/s: failures (see sipp stats); stopping"
    break
  fi
done
kill "$UAS" 2>/dev/null || true
fails=$(grep -c "call record lost" "$WORK/server.log" || true)
echo "live SIP transactions at most: $(sort -n "$WORK/tx_samples" | tail -n1 | cut -d' ' -f1)," \
  "relays at most: $(sort -n -k2 "$WORK/tx_samples" | tail -n1 | cut -d' ' -f2)"
[ -n "${SAMPLES_OUT:-}" ] && cp "$WORK/tx_samples" "$SAMPLES_OUT"
echo "server peak RSS $(awk '/VmHWM/ {print $2}' /proc/$SERVER/status) kB; call records lost: $fails"
if [ "$MODE" = digest ]; then echo "b2bua_digest_cps: $best"; else echo "b2bua_cps: $best"; fi
