#!/usr/bin/env bash
# SIP over TLS against UDP, in the same run on the same server: registrations per second and
# calls per second, stepping up the offered rate and keeping the highest rate whose attempts
# all succeeded (as benches/b2bua_load.sh does).
#
# sipp here is Debian's, built without TLS, so its TLS side is stunnel (Debian `stunnel4`, a
# client on loopback that wraps each of sipp's TCP connections in TLS to Ringside's TLS port).
# stunnel's own work runs on the same two cores, so the TLS figures are a floor of what
# Ringside does.
#   - registrations, with the digest challenge (REGISTER, 401, REGISTER, 200): over TLS with
#     sipp -t tn, one connection per registration, so each one is a full TLS handshake (a
#     phone that connects, registers and goes), and with -t t1, all on one kept connection
#     (phones re-registering on the connection they keep);
#   - calls: a trusted trunk (127.0.0.2) placing calls to a registered sipp UAS (over UDP), its
#     calls over one TLS connection (-t t1; the way a PBX keeps its trunk connection).
#
#   bash benches/sip_tls_load.sh
#   REG_RATES="250 500" CALL_RATES="500 1000" SECONDS_PER_STEP=5 bash benches/sip_tls_load.sh
#
# Prints udp_registrations_per_s, tls_registrations_per_s (a handshake each),
# tls_kept_registrations_per_s, udp_cps and, last, tls_cps. The per-address connection cap is
# raised: every TLS connection comes from stunnel's one address.
# Only the processes this script started are stopped (by their PIDs, never by name).
set -euo pipefail
cd "$(dirname "$0")/.."
REG_RATES=${REG_RATES:-"250 500 1000 1500 2000"}
CALL_RATES=${CALL_RATES:-"500 1000 1500 2000"}
STEP_SECS=${SECONDS_PER_STEP:-10}
command -v stunnel >/dev/null || { apt-get update -qq && apt-get install -y -qq stunnel4 >/dev/null; }
if [ -z "${RINGSIDE_BIN:-}" ]; then
  cargo build --release -p ringside >/dev/null 2>&1
fi
BIN=${RINGSIDE_BIN:-target/release/ringside}
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP_WORK:-}" ] && echo "kept $WORK" || rm -rf "$WORK"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" >/dev/null 2>&1
export RINGSIDE_DATA_DIR=$WORK/data RINGSIDE_HTTP_ADDR=127.0.0.1:18081 \
  RINGSIDE_SIP_ADDR=127.0.0.1:15070 RINGSIDE_SIP_TLS_ADDR=127.0.0.1:15071 \
  RINGSIDE_TLS_CERT=$WORK/cert.pem RINGSIDE_TLS_KEY=$WORK/key.pem \
  RINGSIDE_RTP_PORTS=40000-59999 RINGSIDE_LOG=warn RINGSIDE_SIP_DIGEST_ALGORITHMS=MD5 \
  RINGSIDE_SIP_TCP_MAX_CONNECTIONS_PER_IP=4096
mkdir -p "$RINGSIDE_DATA_DIR"
TOKEN=$($BIN token create --email bench@example.com --scopes sip:read,sip:write)
$BIN serve 2>"$WORK/server.log" &
for _ in $(seq 50); do curl -sf http://127.0.0.1:18081/healthz >/dev/null && break; sleep 0.2; done
api() { curl -sf -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' "$@"; }
# 1002 answers the calls; 1003-1005 are registered over and over (their bindings must not
# become 1002's forks).
for u in 1002 1003 1004 1005; do
  api -d "{\"username\":\"$u\",\"password\":\"bench-secret-$u\"}" http://127.0.0.1:18081/api/v1/sip/extensions >/dev/null
done
api -d '{"name":"load","inboundCidrs":["127.0.0.2/32"]}' http://127.0.0.1:18081/api/v1/sip/trunks >/dev/null

# stunnel: sipp's TCP on 127.0.0.1:16071 becomes TLS to Ringside, verified against the
# certificate above; from 127.0.0.2, so that the trunk trusts what comes through it.
cat > "$WORK/stunnel.conf" <<EOF
foreground = yes
pid =
[sip]
client = yes
accept = 127.0.0.1:16071
connect = 127.0.0.1:15071
local = 127.0.0.2
CAfile = $WORK/cert.pem
verifyChain = yes
checkHost = localhost
EOF
stunnel "$WORK/stunnel.conf" 2>"$WORK/stunnel.log" &
sleep 1

sed -e 's/{{EXPIRES}}/3600/' -e 's/{{FINAL}}/200/' tests/sipp/register.xml > "$WORK/reg.xml"
(cd "$WORK" && sipp 127.0.0.1:15070 -sf reg.xml -m 1 -i 127.0.0.1 -p 16060 -s 1002 -au 1002 -ap bench-secret-1002 -nostdin -timeout 10s -timeout_error >/dev/null 2>&1)
(cd "$WORK" && exec sipp -sn uas -i 127.0.0.1 -p 16060 -buff_size 4194304 -nostdin >/dev/null 2>&1) &

# step NAME RATES -- sipp arguments: runs each rate for STEP_SECS, prints what was achieved,
# and sets $best to the highest rate achieved with every attempt successful.
step() {
  local name=$1 rates=$2
  shift 3
  best=0
  for rate in $rates; do
    local n=$((rate * STEP_SECS)) start end achieved
    start=$(date +%s.%N)
    if (cd "$WORK" && sipp "$@" -r "$rate" -m "$n" -l $((rate * 4)) -nostdin \
          -timeout $((STEP_SECS * 4))s -timeout_error -buff_size 4194304 >/dev/null 2>&1); then
      end=$(date +%s.%N)
      achieved=$(python3 -c "print(round($n/($end-$start)))")
      echo "$name: offered ${rate}/s, $n ok, ${achieved}/s achieved"
      if [ "$achieved" -ge $((rate * 9 / 10)) ]; then best=$achieved; else break; fi
    else
      echo "$name: offered ${rate}/s: failures; stopping"
      break
    fi
  done
}

reg=(-sf reg.xml -s 1003 -au 1003 -ap bench-secret-1003)
step udp_registrations "$REG_RATES" -- 127.0.0.1:15070 "${reg[@]}" -i 127.0.0.1 -p 17060
udp_reg=$best
reg=(-sf reg.xml -s 1004 -au 1004 -ap bench-secret-1004)
step tls_registrations "$REG_RATES" -- 127.0.0.1:16071 "${reg[@]}" -t tn -max_socket 4096 -i 127.0.0.1 -p 17061
tls_reg=$best
reg=(-sf reg.xml -s 1005 -au 1005 -ap bench-secret-1005)
step tls_kept_registrations "$REG_RATES" -- 127.0.0.1:16071 "${reg[@]}" -t t1 -i 127.0.0.1 -p 17064
tls_kept_reg=$best
step udp_calls "$CALL_RATES" -- 127.0.0.1:15070 -sn uac -s 1002 -d 0 -i 127.0.0.2 -p 17062
udp_cps=$best
step tls_calls "$CALL_RATES" -- 127.0.0.1:16071 -sn uac -s 1002 -d 0 -t t1 -i 127.0.0.1 -p 17063
tls_cps=$best
echo "TLS handshakes refused by Ringside: $(curl -s http://127.0.0.1:18081/metrics | awk '/^ringside_sip_tls_failures_total\{direction="in"\}/ {print $2}')"
echo "udp_registrations_per_s: $udp_reg"
echo "tls_registrations_per_s: $tls_reg"
echo "tls_kept_registrations_per_s: $tls_kept_reg"
echo "udp_cps: $udp_cps"
echo "tls_cps: $tls_cps"
