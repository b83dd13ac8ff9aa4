#!/usr/bin/env bash
# Transcoded relay load over real UDP sockets: Ringside's relay (ringside-media MediaEngine, run by
# the relay_server bench binary) with every call transcoding PCMU (leg A, PT 0) <-> Opus (leg B,
# PT 111), driven by `rtp_load --transcode`: N two-leg calls, each leg its own UDP socket sending
# 50 pps of pre-encoded 20 ms speech-like frames (PCMU 160-byte payloads, Opus at 8 kHz with the
# default encoder options), i.e. 100 transcoded frames/s per call. For each N: the relay's CPU
# (utime+stime over the measured window, /proc/PID/stat, as % of one core and per call), loss
# (relay's RFC 3550 loss on the legs -> relay hop + sequence gaps in the relay's output stream per
# receiving leg + packets never delivered), delivered/offered, an estimated one-way latency
# (j-th packet received paired with the j-th sent the other way; only meaningful without loss) and
# the generator's own CPU.
#
#   bash benches/transcode_relay_load.sh                 # N = 100 200 250 300 400, 3 s warm-up, 10 s each
#   CALLS="250 300" DURATION=20 bash benches/transcode_relay_load.sh
#   WORKERS=2 (media worker threads)   REPS=1 (runs per N; a step is held only if every rep held)
#   MAX_P99_MS=50 (a step with a higher estimated p99 latency is not held: the relay fell behind,
#   packets queue in its socket buffers and arrive late even though none is lost)
#
# The generator runs on the same machine and competes with the relay for the CPUs.
# Last lines: `transcoded_calls_max_zero_loss: N` (largest N held, with every smaller N also held)
# and `relay_cpu_pct_per_transcoded_call: X` (% of one core per call at that N).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-"100 200 250 300 400"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
WORKERS=${WORKERS:-2}
REPS=${REPS:-1}
MAX_P99_MS=${MAX_P99_MS:-50}
CLK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release -p ringside-benches --bin relay_server --bin rtp_load >/dev/null 2>&1 ||
  cargo build --release -p ringside-benches --bin relay_server --bin rtp_load
GEN=target/release/rtp_load
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "# $(date -u +%F' '%T) UTC, $(nproc) CPUs, load: $(uptime | sed 's/.*load average: //')"
echo "# PCMU <-> Opus transcoding on every call; warm-up ${WARMUP}s, window ${DURATION}s," \
  "${WORKERS} relay threads, ${REPS} rep(s) per N; generator on the same machine"

get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }
# Held: nothing lost on either hop, nothing undelivered, >= 97% of the offered rate achieved, and
# the estimated p99 one-way latency through the relay under MAX_P99_MS.
held() {
  local l=$1
  [ "$(get p99_us "$l")" -le $((MAX_P99_MS * 1000)) ] && [ "$(get lost "$l")" = 0 ] && [ "$(get seq_gaps "$l")" = 0 ] &&
    [ "$(get undelivered "$l")" = 0 ] && [ "$(get relay_in_lost "$l")" = 0 ] &&
    python3 -c "import sys; sys.exit(0 if $(get achieved_pps "$l") >= 0.97 * $(get offered_pps "$l") else 1)"
}

printf '%5s %3s %8s %8s %7s %6s %6s %6s %6s %8s %6s %6s %7s %9s %9s %6s %s\n' calls rep \
  offered achieved "CPU%" "%/call" "thr%" "gen%" "host%" "deliv%" inlost gaps undeliv "p50 us*" "p99 us*" rcvbuf ""
best=0
best_cpu=
all_held=1
for n in $CALLS; do
  step_held=1
  for r in $(seq "$REPS"); do
    l=$($GEN --mode ours --transcode --calls "$n" --warmup "$WARMUP" --duration "$DURATION" \
      --workers "$WORKERS" --relay-bin target/release/relay_server --clk-tck "$CLK" \
      2>>"$WORK/gen.log" | grep '^RESULT')
    tail -2 "$WORK/gen.log" >&2
    h=NOT-held
    if held "$l"; then h=held; else step_held=0; fi
    printf '%5s %3s %8s %8s %7s %6s %6s %6s %6s %8s %6s %6s %7s %9s %9s %6s %s\n' "$n" \
      "$r" "$(get offered_pps "$l")" "$(get achieved_pps "$l")" "$(get relay_cpu_pct "$l")" \
      "$(get relay_cpu_pct_per_call "$l")" "$(get relay_thread_max_pct "$l")" "$(get gen_cpu_pct "$l")" "$(get host_busy_pct "$l")" \
      "$(get delivered_pct "$l")" "$(get relay_in_lost "$l")" "$(get seq_gaps "$l")" \
      "$(get undelivered "$l")" "$(get p50_us "$l")" "$(get p99_us "$l")" \
      "$(get udp_rcvbuf_errors "$l")" "$h"
    if [ "$h" = held ]; then last_cpu=$(get relay_cpu_pct_per_call "$l"); fi
  done
  if [ "$step_held" = 1 ] && [ "$all_held" = 1 ]; then
    best=$n
    best_cpu=$last_cpu
  else
    all_held=0
  fi
done
echo "# CPU% = relay process (all threads), % of one core; %/call = CPU% / N; thr% = busiest relay thread;"
echo "# gen% = generator;"
echo "# host% = whole machine busy ($(nproc) CPUs = $(($(nproc) * 100))%), so host% - CPU% - gen% = everything else; inlost = relay's RFC 3550"
echo "# loss on the legs -> relay hop; gaps = sequence gaps in the relay's output seen by the legs;"
echo "# undeliv = sent by one leg, never received by the other; * latency estimated by pairing the"
echo "# j-th packet received with the j-th sent the other way; rcvbuf = host UDP RcvbufErrors in the run"
echo "transcoded_calls_max_zero_loss: $best"
echo "relay_cpu_pct_per_transcoded_call: ${best_cpu:-n/a}"
