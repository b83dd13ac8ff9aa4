# Helpers shared by benches/relay_load.sh and benches/relay_netns_load.sh (sourced).

# The value of `key=value` in an rtp_load RESULT line: get KEY LINE.
get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"; }

# "run_time_ns run_cnt" of the loaded fast path program (0 0 without bpftool or the program).
prog_stats() {
  "${BPFTOOL:-bpftool}" -j prog show name ringside_relay 2>/dev/null | python3 -c '
import json, sys
try:
    p = json.load(sys.stdin)
except ValueError:
    p = []
p = p if isinstance(p, list) else [p]
print(sum(x.get("run_time_ns", 0) for x in p), sum(x.get("run_cnt", 0) for x in p))'
}

# A step is "held" when no packet sent in the window was lost and the generator achieved at
# least 97% of the offered rate (on a saturated machine it cannot, and the relay is not really
# loaded).
held() {
  local l=$1
  [ "$(get lost "$l")" = 0 ] &&
    python3 -c "import sys; sys.exit(0 if $(get achieved_pps "$l") >= 0.97 * $(get offered_pps "$l") else 1)"
}
