#!/usr/bin/env bash
# The kernel fast path's way out through an interface, under load: Ringside's relay
# (relay_server on 0.0.0.0) between two networks, each leg's peer in its own network namespace
# behind a veth pair (10.232.1.0/24 and 10.232.2.0/24), driven by rtp_load --netns. A forwarded
# packet comes in on one veth, is rewritten by the program at its TC ingress and sent out of the
# other with bpf_redirect_neigh (the route's interface, the neighbour's address), as through a
# NIC; the host does not forward IP. benches/relay_load.sh measures the loopback (a peer on this
# host) and compares with rtpengine; this measures the other delivery.
#
# For each N: the fast path, then the same relay in userspace. Printed per run: offered and
# achieved packets/s, loss, latency, the relay process' CPU per packet, and for the fast path the
# program's run time per forwarded packet (bpftool run_time_ns, kernel.bpf_stats_enabled=1).
# Checksum offload is left as veth has it: the peers' packets leave their checksums to the
# device, and the program updates the pseudo-header part (media/tests/fastpath_netns.rs tests
# both kinds for validity).
#
#   bash benches/relay_netns_load.sh            # N = 1000 2000 3000, 3 s warm-up, 10 s window
#   CALLS="500" DURATION=5 bash benches/relay_netns_load.sh
#
# Needs root (namespaces, CAP_BPF, CAP_NET_ADMIN), iproute2 and bpftool, and a build with the
# program. Last line: `relay_netns_max_calls_zero_loss_fastpath: N` (the largest N the fast path
# held: zero loss, >= 97% of the offered rate, every call in the kernel).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-"1000 2000 3000"}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-3}
WORKERS=${WORKERS:-2}
GEN_THREADS=${GEN_THREADS:-2}
CLK=$(getconf CLK_TCK)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release -p ringside-benches --bin relay_server --bin rtp_load >/dev/null 2>&1 ||
  cargo build --release -p ringside-benches --bin relay_server --bin rtp_load
GEN=target/release/rtp_load
BPFTOOL=$(command -v bpftool || echo /usr/sbin/bpftool)
BPF_STATS=$(sysctl -n kernel.bpf_stats_enabled 2>/dev/null || echo)
WORK=$(mktemp -d)
NETS=("rsnl-a rsnla 1" "rsnl-b rsnlb 2")
down() {
  for net in "${NETS[@]}"; do
    read -r ns dev _ <<<"$net"
    ip link del "$dev" 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
}
cleanup() {
  down
  if [ -n "$BPF_STATS" ]; then sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
down
for net in "${NETS[@]}"; do
  read -r ns dev i <<<"$net"
  ip netns add "$ns"
  ip link add "$dev" type veth peer name eth0 netns "$ns"
  ip addr add "10.232.$i.1/24" dev "$dev"
  ip link set "$dev" up
  ip -n "$ns" addr add "10.232.$i.2/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done
NETNS=rsnl-a:10.232.1.2:10.232.1.1,rsnl-b:10.232.2.2:10.232.2.1

echo "# $(date -u +%F' '%T) UTC, $(nproc) CPUs, load: $(uptime | sed 's/.*load average: //')"
echo "# warm-up ${WARMUP}s, window ${DURATION}s, ${WORKERS} relay threads, ${GEN_THREADS} generator threads;" \
  "legs in namespaces behind veth pairs, relay on 0.0.0.0; ip_forward=$(sysctl -n net.ipv4.ip_forward)"

# get, prog_stats, held.
. benches/relay_common.sh
gen() { $GEN --calls "$1" --threads "$GEN_THREADS" --warmup "$WARMUP" --duration "$DURATION" --clk-tck "$CLK" \
  --netns "$NETNS" --mode ours --workers "$WORKERS" --relay-bin target/release/relay_server "${@:2}" \
  2>>"$WORK/gen.log" | grep '^RESULT'; tail -1 "$WORK/gen.log" >&2; }

printf '\n%-17s %5s %8s %8s %6s %6s %8s %8s %10s %s\n' relay calls offered achieved us/pkt lost \
  "p50 us" "p99 us" "prog ns" ""
best=0
for n in $CALLS; do
  sysctl -qw kernel.bpf_stats_enabled=1 2>/dev/null || true
  (sleep "$WARMUP"; prog_stats >"$WORK/bpf.start"; sleep "$DURATION"; prog_stats >"$WORK/bpf.end") &
  sampler=$!
  fast=$(gen "$n" --fastpath)
  wait "$sampler" || true
  if [ -n "$BPF_STATS" ]; then sysctl -qw kernel.bpf_stats_enabled="$BPF_STATS" 2>/dev/null || true; fi
  prog=$(python3 -c "
a = open('$WORK/bpf.start').read().split(); b = open('$WORK/bpf.end').read().split()
print(round((int(b[0]) - int(a[0])) / max(1, $(get received "$fast"))))" 2>/dev/null || echo n/a)
  ours=$(gen "$n")
  for who in fast ours; do
    l=${!who}
    printf '%-17s %5s %8s %8s %6s %6s %8s %8s %10s %s\n' \
      "$([ $who = fast ] && echo ringside+fastpath || echo ringside)" "$n" \
      "$(get offered_pps "$l")" "$(get achieved_pps "$l")" "$(get cpu_us_per_pkt "$l")" \
      "$(get lost "$l")" "$(get p50_us "$l")" "$(get p99_us "$l")" \
      "$([ $who = fast ] && echo "$prog" || echo -)" \
      "$(held "$l" && echo held || echo NOT-held)$([ $who = fast ] && echo " offloaded=$(get offloaded "$l")")"
  done
  if held "$fast" && [ "$(get offloaded "$fast")" = "$n" ]; then best=$n; fi
done
echo
echo "prog ns: the program's run time in the window per packet forwarded (bpftool run_time_ns)"
echo "relay_netns_max_calls_zero_loss_fastpath: $best"
