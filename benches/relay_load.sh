#!/usr/bin/env bash
# RTP relay load benchmark: Ringside's relay (ringside-media MediaEngine, run by the relay_server
# bench binary) versus rtpengine (userspace forwarding, --table=-1), both driven by the rtp_load
# generator: N two-leg calls, each leg its own UDP socket sending 50 pps of 172-byte PCMU RTP,
# i.e. 100 forwarded packets/s per call. For each N the relay's CPU (utime+stime over the measured
# window, /proc/PID/stat) is divided by the packets it delivered in the window.
#
#   bash benches/relay_load.sh                        # N = 200 500 1000 2000, 3 s warm-up, 10 s each
#   CALLS="100 200" DURATION=5 bash benches/relay_load.sh
#   WORKERS=2 (media worker threads for ours, --num-threads for rtpengine)   AT=1000 (ratio at this N)
#
# The generator runs on the same machine and competes with the relay for the CPUs.
# Last lines: `relay_max_calls_zero_loss: N`, then `relay_cost_ratio_vs_rtpengine: X`
# (ours CPU/packet ÷ rtpengine CPU/packet at the largest N both held -- zero loss and >= 97% of
# the offered rate achieved -- or at $AT).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-"200 500 1000 2000"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
WORKERS=${WORKERS:-2}
AT=${AT:-}
NG_PORT=${NG_PORT:-22222}
CLK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release -p ringside-benches --bin relay_server --bin rtp_load >/dev/null 2>&1 ||
  cargo build --release -p ringside-benches --bin relay_server --bin rtp_load
GEN=target/release/rtp_load
RTPENGINE=$(command -v rtpengine || echo /usr/bin/rtpengine)
WORK=$(mktemp -d)
RTPE_PID=
cleanup() {
  if [ -n "$RTPE_PID" ]; then kill "$RTPE_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "# $(date -u +%F' '%T) UTC, $(nproc) CPUs, load: $(uptime | sed 's/.*load average: //')"
echo "# warm-up ${WARMUP}s, window ${DURATION}s, ${WORKERS} relay threads; generator on the same machine"

get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

declare -A RES
for n in $CALLS; do
  # Ours: rtp_load spawns relay_server and drives it over stdin/stdout.
  line=$($GEN --mode ours --calls "$n" --warmup "$WARMUP" --duration "$DURATION" \
    --workers "$WORKERS" --relay-bin target/release/relay_server --clk-tck "$CLK" \
    2>>"$WORK/gen.log" | grep '^RESULT')
  RES[ours_$n]=$line
  tail -1 "$WORK/gen.log" >&2

  # rtpengine, a fresh daemon per step (clean RSS baseline).
  "$RTPENGINE" --config-file=none --table=-1 --foreground --log-stderr --log-level=3 \
    --interface=127.0.0.1 --listen-ng=127.0.0.1:$NG_PORT --port-min=10000 --port-max=19999 \
    --num-threads="$WORKERS" --no-redis-required 2>"$WORK/rtpengine.log" &
  RTPE_PID=$!
  for _ in $(seq 50); do
    ss -ulnH "sport = :$NG_PORT" | grep -q . && break
    sleep 0.1
  done
  sleep 0.5
  line=$($GEN --mode rtpengine --calls "$n" --warmup "$WARMUP" --duration "$DURATION" \
    --ng 127.0.0.1:$NG_PORT --pid "$RTPE_PID" --clk-tck "$CLK" 2>>"$WORK/gen.log" | grep '^RESULT')
  RES[rtpe_$n]=$line
  tail -1 "$WORK/gen.log" >&2
  kill "$RTPE_PID" && wait "$RTPE_PID" 2>/dev/null || true
  RTPE_PID=
done

# A step is "held" when no packet sent in the window was lost and the generator achieved at least
# 97% of the offered rate (on a saturated machine it cannot, and the relay is not really loaded).
held() {
  local l=$1
  [ "$(get lost "$l")" = 0 ] &&
    python3 -c "import sys; sys.exit(0 if $(get achieved_pps "$l") >= 0.97 * $(get offered_pps "$l") else 1)"
}
printf '\n%-9s %5s %8s %8s %6s %6s %6s %8s %8s %8s %5s %8s\n' relay calls offered achieved \
  "CPU%" "us/pkt" lost "p50 us" "p99 us" "p99.9us" "gen%" "RSS/call"
best_both=
best_ours=0
for n in $CALLS; do
  for who in ours rtpe; do
    l=${RES[${who}_$n]}
    printf '%-9s %5s %8s %8s %6s %6s %6s %8s %8s %8s %5s %5s KB %s\n' \
      "$([ $who = ours ] && echo ringside || echo rtpengine)" "$n" "$(get offered_pps "$l")" \
      "$(get achieved_pps "$l")" "$(get relay_cpu_pct "$l")" "$(get cpu_us_per_pkt "$l")" \
      "$(get lost "$l")" "$(get p50_us "$l")" "$(get p99_us "$l")" "$(get p999_us "$l")" \
      "$(get gen_cpu_pct "$l")" "$(get rss_per_call_kb "$l")" "$(held "$l" && echo held || echo NOT-held)"
  done
  if held "${RES[ours_$n]}"; then
    best_ours=$n
    if held "${RES[rtpe_$n]}"; then best_both=$n; fi
  fi
done
ref=${AT:-$best_both}
if [ -z "$ref" ]; then ref=$(awk '{print $1}' <<<"$CALLS"); fi
o=$(get cpu_us_per_pkt "${RES[ours_$ref]}")
r=$(get cpu_us_per_pkt "${RES[rtpe_$ref]}")
echo
echo "memory per call at N=$ref (RSS delta / N): ringside $(get rss_per_call_kb "${RES[ours_$ref]}") KB," \
  "rtpengine $(get rss_per_call_kb "${RES[rtpe_$ref]}") KB"
echo "ratio taken at N=$ref: ringside $o us/pkt, rtpengine $r us/pkt"
echo "relay_max_calls_zero_loss: $best_ours"
echo "relay_cost_ratio_vs_rtpengine: $(python3 -c "print(round($o/$r, 2))")"
