#!/usr/bin/env bash
# RTP relay load benchmark: three relays side by side, each driven by the rtp_load generator with
# N two-leg calls (each leg its own UDP socket sending 50 pps of 172-byte PCMU RTP, i.e. 100
# forwarded packets/s per call):
#   - ringside+fastpath: Ringside's relay (relay_server) with the kernel fast path: the calls
#     are plain passthroughs, handed to the eBPF program within the warm-up;
#   - ringside: the same relay, userspace only;
#   - rtpengine: userspace forwarding (--table=-1).
# plus a baseline with no relay (each leg sends straight to the other).
#
# CPU accounting, two ways:
# - By component (the headline ratio). The fast path's cost per forwarded packet is the
#   program's run time over the window, from the kernel's BPF statistics (`bpftool prog show`
#   run_time_ns, kernel.bpf_stats_enabled=1 while the fast path runs; it runs in softirq, and
#   all of it is counted, whatever packets it looked at) divided by the packets forwarded, plus
#   the relay process' own CPU per packet (the engine reading the counters). rtpengine's is its
#   process' CPU per packet (/proc/PID/stat): a lower bound, since the softirq delivering into
#   its sockets runs in the senders' context and is left out. The ratio is therefore on the
#   conservative side for the fast path.
# - Whole host. Each run reads the host's busy time (/proc/stat: user, system, irq, softirq...
#   of every CPU) over the window; the cost of relaying a packet is (host busy with the relay -
#   host busy of the no-relay baseline at the same N) / packets delivered. This counts
#   everything, but is the difference of two large, noisy figures (the generator's own CPU
#   varies with how its packets batch), and means little near saturation.
#   bash benches/relay_load.sh                   # N = 500 1000 2000 3000, 3 s warm-up, 10 s each
#   CALLS="100 200" DURATION=5 bash benches/relay_load.sh
#   WORKERS=2 (media worker threads for ours, --num-threads for rtpengine)   AT=1000 (ratio at N)
#   GEN_THREADS=2 (generator threads: the calls split over both cores, so the generator keeps
#   the offered rate while its CPUs also carry the kernel's forwarding)
#
# Needs root for the fast path (CAP_BPF, CAP_NET_ADMIN) and a build with its program (clang,
# libbpf-dev); rtpengine from Debian's package.
# Last lines: `relay_max_calls_zero_loss_fastpath: N`, then
# `relay_fastpath_cost_ratio_vs_rtpengine: X` (CPU per forwarded packet by component, fast
# path / rtpengine, at the largest N both held -- zero loss and >= 97% of the offered rate -- or
# $AT; the whole-host figure when bpftool is missing).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-"500 1000 2000 3000"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
WORKERS=${WORKERS:-2}
GEN_THREADS=${GEN_THREADS:-2}
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
# The program's own run time (bpftool's run_time_ns / run_cnt) needs the kernel's BPF
# statistics on while the fast path runs; put back as found.
BPF_STATS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo)
BPFTOOL=$(command -v bpftool || echo /usr/sbin/bpftool)
cleanup() {
  if [ -n "$RTPE_PID" ]; then kill "$RTPE_PID" 2>/dev/null || true; fi
  if [ -n "$BPF_STATS" ]; then sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "# $(date -u +%F' '%T) UTC, $(nproc) CPUs, load: $(uptime | sed 's/.*load average: //')"
echo "# warm-up ${WARMUP}s, window ${DURATION}s, ${WORKERS} relay threads; generator on the same machine, ${GEN_THREADS} threads"

# get, prog_stats, held.
. benches/relay_common.sh
gen() { $GEN --calls "$1" --threads "$GEN_THREADS" --warmup "$WARMUP" --duration "$DURATION" --clk-tck "$CLK" "${@:2}" \
  2>>"$WORK/gen.log" | grep '^RESULT'; tail -1 "$WORK/gen.log" >&2; }


declare -A RES BPF_NS
for n in $CALLS; do
  RES[direct_$n]=$(gen "$n" --mode direct)
  # The program's run time over the measured window, sampled beside the generator.
  sysctl -qw kernel.bpf_stats_enabled=1 2>/dev/null || true
  (sleep "$WARMUP"; prog_stats >"$WORK/bpf.start"; sleep "$DURATION"; prog_stats >"$WORK/bpf.end") &
  SAMPLER=$!
  RES[fast_$n]=$(gen "$n" --mode ours --fastpath --workers "$WORKERS" --relay-bin target/release/relay_server)
  wait "$SAMPLER" || true
  if [ -n "$BPF_STATS" ]; then sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS" 2>/dev/null || true; fi
  # Program run time over the window (ns) and runs: "time runs".
  BPF_NS[$n]=$(python3 -c "
a = open('$WORK/bpf.start').read().split(); b = open('$WORK/bpf.end').read().split()
print(int(b[0]) - int(a[0]), int(b[1]) - int(a[1]))" 2>/dev/null || echo "0 0")
  RES[ours_$n]=$(gen "$n" --mode ours --workers "$WORKERS" --relay-bin target/release/relay_server)
  # rtpengine, a fresh daemon per step (clean RSS baseline).
  "$RTPENGINE" --config-file=none --table=-1 --foreground --log-stderr --log-level=3 \
    --interface=127.0.0.1 --listen-ng=127.0.0.1:$NG_PORT --port-min=20000 --port-max=59999 \
    --num-threads="$WORKERS" --no-redis-required 2>"$WORK/rtpengine.log" &
  RTPE_PID=$!
  for _ in $(seq 50); do
    ss -ulnH "sport = :$NG_PORT" | grep -q . && break
    sleep 0.1
  done
  sleep 0.5
  RES[rtpe_$n]=$(gen "$n" --mode rtpengine --ng 127.0.0.1:$NG_PORT --pid "$RTPE_PID")
  kill "$RTPE_PID" && wait "$RTPE_PID" 2>/dev/null || true
  RTPE_PID=
done

# Host CPU per delivered packet above the no-relay baseline, microseconds.
host_us() {
  python3 -c "print(round(max(0, $(get host_busy_us "$1") - $(get host_busy_us "$2")) / max(1, $(get received "$1")), 3))"
}
printf '\n%-17s %5s %8s %8s %8s %6s %6s %8s %8s %6s %8s %s\n' relay calls offered achieved \
  "host us" "us/pkt" lost "p50 us" "p99 us" "gen%" "RSS/call" ""
best_fast=0
best_both=
for n in $CALLS; do
  for who in fast ours rtpe; do
    l=${RES[${who}_$n]}
    name=$(case $who in fast) echo ringside+fastpath ;; ours) echo ringside ;; *) echo rtpengine ;; esac)
    printf '%-17s %5s %8s %8s %8s %6s %6s %8s %8s %6s %5s KB %s\n' "$name" "$n" \
      "$(get offered_pps "$l")" "$(get achieved_pps "$l")" "$(host_us "$l" "${RES[direct_$n]}")" \
      "$(get cpu_us_per_pkt "$l")" "$(get lost "$l")" "$(get p50_us "$l")" "$(get p99_us "$l")" \
      "$(get gen_cpu_pct "$l")" "$(get rss_per_call_kb "$l")" \
      "$(held "$l" && echo held || echo NOT-held)$([ $who = fast ] && echo " offloaded=$(get offloaded "$l")")"
  done
  printf '%-17s %5s %8s %8s %8s\n' "(no relay)" "$n" "$(get offered_pps "${RES[direct_$n]}")" \
    "$(get achieved_pps "${RES[direct_$n]}")" "host busy $(get host_busy_us "${RES[direct_$n]}") us"
  if held "${RES[fast_$n]}" && [ "$(get offloaded "${RES[fast_$n]}")" = "$n" ]; then
    best_fast=$n
    if held "${RES[rtpe_$n]}"; then best_both=$n; fi
  fi
done
ref=${AT:-$best_both}
if [ -z "$ref" ]; then ref=$(awk '{print $1}' <<<"$CALLS"); fi
# The fast path's CPU per forwarded packet, counted by component: the program's run time in
# the window (it runs in softirq; all of it, whatever packets it looked at) over the packets
# forwarded, plus the relay process' own CPU per packet (the engine's counter reads).
fast_us() {
  python3 -c "
t, c = map(int, '${BPF_NS[$1]}'.split())
print(round(t / 1000 / max(1, $(get received "${RES[fast_$1]}")) + $(get cpu_us_per_pkt "${RES[fast_$1]}"), 3) if t else 'n/a')"
}
echo
echo "CPU per forwarded packet by component: fast path = program run time (bpftool run_time_ns," \
  "kernel.bpf_stats_enabled=1) / packets + relay process; rtpengine = its process CPU (a lower" \
  "bound: the softirq delivering into its sockets is left out)"
for n in $CALLS; do
  read -r t c <<<"${BPF_NS[$n]}"
  printf '  N=%-5s fast path %s us (program %s ns per run, %s runs), rtpengine %s us, ratio %s\n' "$n" \
    "$(fast_us "$n")" "$(python3 -c "print(round($t / max(1, $c)))")" "$c" \
    "$(get cpu_us_per_pkt "${RES[rtpe_$n]}")" \
    "$(python3 -c "f = '$(fast_us "$n")'; print(round(float(f) / max($(get cpu_us_per_pkt "${RES[rtpe_$n]}"), 0.001), 3) if f != 'n/a' else 'n/a')")"
done
f=$(host_us "${RES[fast_$ref]}" "${RES[direct_$ref]}")
u=$(host_us "${RES[ours_$ref]}" "${RES[direct_$ref]}")
r=$(host_us "${RES[rtpe_$ref]}" "${RES[direct_$ref]}")
echo "host CPU per forwarded packet above the no-relay baseline at N=$ref (noisy near saturation):" \
  "ringside+fastpath $f us, ringside $u us, rtpengine $r us;" \
  "ratio $(python3 -c "print(round($f/max($r, 0.001), 3))")"
echo "memory per call at N=$ref (RSS delta / N): ringside $(get rss_per_call_kb "${RES[ours_$ref]}") KB," \
  "rtpengine $(get rss_per_call_kb "${RES[rtpe_$ref]}") KB"
echo "relay_userspace_cost_ratio_vs_rtpengine: $(python3 -c "print(round($u/max($r, 0.001), 2))")"
echo "relay_max_calls_zero_loss_fastpath: $best_fast"
fc=$(fast_us "$ref")
if [ "$fc" = n/a ]; then
  # No program statistics (no bpftool): the host-busy figure.
  echo "relay_fastpath_cost_ratio_vs_rtpengine: $(python3 -c "print(round($f/max($r, 0.001), 3))")"
else
  echo "relay_fastpath_cost_ratio_vs_rtpengine: $(python3 -c "print(round($fc/max($(get cpu_us_per_pkt "${RES[rtpe_$ref]}"), 0.001), 3))")"
fi
