#!/usr/bin/env bash
# Calls through the cluster's SIP edge: sipp (a PBX on 127.0.0.5, a trusted trunk) -> Kamailio
# (deploy/kamailio/kamailio.cfg on 127.0.0.10, flood limits off) -> three Ringside nodes
# (release build, 127.0.0.2-4, one PostgreSQL schema, NATS on 127.0.0.1:4222, the bus on) ->
# back through Kamailio -> sipp answering as extension 1002 (registered through the edge).
# SDP, no RTP.
#
# 1. Steps up the offered call rate (RATES, STEP_SECS each); a step counts when every call
#    succeeded and the achieved rate is within 10 % of the offered one. CPU of the nodes and of
#    Kamailio per call (utime+stime over the step / calls).
# 2. Holds HOLD_CALLS calls up at once (HOLD_SECS each) and reports the nodes' memory per call
#    (their summed RSS at the peak minus before, over the calls).
# Last line: `cluster_edge_cps: X`.
#
#   bash benches/cluster_edge_load.sh
#   RATES="100 200" HOLD_CALLS=600 RINGSIDE_BIN=target/release/ringside bash benches/cluster_edge_load.sh
#
# Needs PostgreSQL (PG_URL, default postgres://postgres@127.0.0.1:5432/test), NATS on
# 127.0.0.1:4222, kamailio, sipp, psql and curl. Only the processes this script started are
# stopped (by their PIDs).
set -euo pipefail
cd "$(dirname "$0")/.."
RATES=${RATES:-"100 200 400 600"}
STEP_SECS=${STEP_SECS:-10}
HOLD_CALLS=${HOLD_CALLS:-600}
HOLD_SECS=${HOLD_SECS:-20}
PG_URL=${PG_URL:-postgres://postgres@127.0.0.1:5432/test}
if [ -z "${RINGSIDE_BIN:-}" ]; then
  cargo build --release -p ringside >/dev/null 2>&1
fi
BIN=${RINGSIDE_BIN:-target/release/ringside}
WORK=$(mktemp -d)
SCHEMA=bench_edge_$$
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ -n "${KAM:-}" ] && kill -9 -- "-$KAM" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
psql -q "$PG_URL" -c "CREATE SCHEMA $SCHEMA" >/dev/null
case "$PG_URL" in *\?*) sep='&' ;; *) sep='?' ;; esac
DB="${PG_URL}${sep}options=-c%20search_path%3D${SCHEMA}"
EDGE=127.0.0.10:15070
KEY=$(printf '%064x' 7)

node_env() { # index 1..3
  local i=$1 ip="127.0.0.$(( $1 + 1 ))"
  echo RINGSIDE_DATA_DIR="$WORK/node$i" RINGSIDE_HTTP_ADDR=127.0.0.1:$((18080 + i)) \
    RINGSIDE_SIP_ADDR=$ip:15060 RINGSIDE_WEBRTC_ADDR=$ip:17882 \
    RINGSIDE_RTP_PORTS=$((30000 + i * 6000))-$((35999 + i * 6000)) RINGSIDE_LOG=warn \
    RINGSIDE_DATABASE_URL="$DB" RINGSIDE_NATS_URL=nats://127.0.0.1:4222 \
    RINGSIDE_NODE_ID=bench-$i RINGSIDE_SECRET_KEY=$KEY RINGSIDE_SIP_TRUSTED_PROXIES=127.0.0.10 \
    RINGSIDE_SIP_DIGEST_ALGORITHMS=MD5
}
NODES=()
for i in 1 2 3; do
  mkdir -p "$WORK/node$i"
  env $(node_env $i) "$BIN" serve 2>"$WORK/node$i.log" &
  NODES+=($!); PIDS+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((18080 + i))/healthz" >/dev/null && break; sleep 0.2; done
done
TOKEN=$(env $(node_env 1) "$BIN" token create --email bench@example.com --scopes sip:read,sip:write)
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
api -d '{"username":"1002","password":"bench-secret-1002"}' http://127.0.0.1:18081/api/v1/sip/extensions >/dev/null
api -d '{"name":"pbx","inboundCidrs":["127.0.0.5/32"]}' http://127.0.0.1:18081/api/v1/sip/trunks >/dev/null

printf '1 sip:127.0.0.%d:15060;transport=udp 9 0 duid=bench-%d\n' 2 1 3 2 4 3 > "$WORK/dispatcher.list"
setsid kamailio -DD -E -m "${KAMAILIO_SHM_MB:-256}" -f deploy/kamailio/kamailio.cfg -A NO_ANTIFLOOD -A EDGE_IP=127.0.0.10 \
  -A EDGE_PORT=15070 -A "DS_LIST_FILE=\"$WORK/dispatcher.list\"" \
  -A "CTL_SOCKET=\"unix:$WORK/ctl.sock\"" -Y "$WORK" -w "$WORK" 2>"$WORK/kamailio.log" &
KAM=$!
for _ in $(seq 100); do
  [ "$(grep -c 'Ringside node UP' "$WORK/kamailio.log" || true)" -ge 3 ] && break; sleep 0.1
done
sleep 1
sed -e 's/{{EXPIRES}}/3600/' -e 's/{{FINAL}}/200/' tests/sipp/register.xml > "$WORK/reg.xml"
cp benches/uac_routed.xml "$WORK/uac.xml"
(cd "$WORK" && sipp $EDGE -sf reg.xml -m 1 -i 127.0.0.1 -p 16060 -s 1002 -au 1002 \
   -ap bench-secret-1002 -nostdin -timeout 10s -timeout_error >/dev/null 2>&1)
sleep 1
(cd "$WORK" && exec sipp -sn uas -i 127.0.0.1 -p 16060 -buff_size 4194304 -nostdin >/dev/null 2>&1) &
PIDS+=($!)

ticks() { # summed utime+stime of the given pids, in clock ticks
  local t=0 p
  for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo $t
}
# Kamailio's processes: its process group.
kam_pids() { pgrep -g "$KAM" | tr '\n' ' '; }
rss_sum() { local s=0 p; for p in "${NODES[@]}"; do s=$((s + $(awk '/VmRSS/ {print $2}' /proc/$p/status))); done; echo $s; }
HZ=$(getconf CLK_TCK)

best=0
for rate in $RATES; do
  n=$((rate * STEP_SECS))
  n0=$(ticks "${NODES[@]}"); k0=$(ticks $(kam_pids)); start=$(date +%s.%N)
  if (cd "$WORK" && sipp $EDGE -sf uac.xml -i 127.0.0.5 -s 1002 -p 17060 -r "$rate" -m "$n" \
        -l $((rate * 4)) -d 0 -nostdin -timeout $((STEP_SECS * 4))s -timeout_error \
        -buff_size 4194304 ${SIPP_EXTRA:-} >/dev/null 2>&1); then
    end=$(date +%s.%N)
    n1=$(ticks "${NODES[@]}"); k1=$(ticks $(kam_pids))
    cps=$(python3 -c "print(round($n/($end-$start)))")
    per_node=$(python3 -c "print(round(($n1-$n0)/$HZ*1e6/$n))")
    per_kam=$(python3 -c "print(round(($k1-$k0)/$HZ*1e6/$n))")
    echo "offered ${rate}/s: $n calls ok, ${cps} calls/s achieved; CPU per call: nodes ${per_node} us, kamailio ${per_kam} us"
    if [ "$cps" -ge $((rate * 9 / 10)) ]; then best=$cps; else break; fi
  else
    echo "offered ${rate}/s: failures; stopping"
    break
  fi
done

# Calls held up at once: memory per call, the bus on. First the steps' transactions lapse
# (RFC 3261 keeps them up to 32 s after their calls), so they do not count.
sleep "${SETTLE_SECS:-35}"
before=$(rss_sum)
rate=$(( HOLD_CALLS / 5 )); [ $rate -lt 1 ] && rate=1
(cd "$WORK" && sipp $EDGE -sf uac.xml -i 127.0.0.5 -s 1002 -p 17061 -r "$rate" -m "$HOLD_CALLS" \
   -l "$HOLD_CALLS" -d $((HOLD_SECS * 1000)) -nostdin -timeout $((HOLD_SECS * 4))s \
   -timeout_error -buff_size 4194304 >/dev/null 2>&1) &
HOLDER=$!
peak=$before; active=0
for _ in $(seq $((HOLD_SECS * 2))); do
  sleep 0.5
  a=0
  for i in 1 2 3; do
    v=$(curl -s "http://127.0.0.1:$((18080 + i))/metrics" | awk '/^ringside_calls_active /{print $2}')
    a=$((a + ${v%.*}))
  done
  r=$(rss_sum)
  if [ "$a" -ge "$active" ]; then active=$a; peak=$r; fi
done
wait $HOLDER && held=ok || held=failures
echo "held: $active calls up at once across the nodes ($held); nodes' RSS $before -> $peak kB:" \
  "$(python3 -c "print(round(($peak-$before)/max($active,1), 1))") KB per call"
for i in 1 2 3; do
  echo "node bench-$i: calls $(curl -s "http://127.0.0.1:$((18080 + i))/metrics" | awk '/^ringside_calls_total /{print $2}')," \
    "bus events sent $(curl -s "http://127.0.0.1:$((18080 + i))/metrics" | awk '/^ringside_cluster_events_sent_total /{print $2}')"
done
echo "cluster_edge_cps: $best"
