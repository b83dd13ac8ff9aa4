#!/usr/bin/env bash
# Transcoding load benchmark: N concurrent PCMU <-> Opus calls through ringside-media's CallMedia
# (in-process, simulated time, one thread) versus libopus alone doing the same codec work (see
# the header of benches/transcode_load.rs for exactly what each side includes).
#
#   bash benches/transcode_load.sh                      # 50 calls x 10 s of media, 5 reps
#   CALLS=100 SECONDS_MEDIA=10 REPS=5 bash benches/transcode_load.sh
#   PROFILE=1 bash benches/transcode_load.sh            # also perf-profile our side (needs perf)
#
# Last line: `transcode_overhead_vs_libopus: X` (median over reps of ours CPU / baseline CPU;
# goal < 1.2).
set -euo pipefail
cd "$(dirname "$0")/.."
CALLS=${CALLS:-50}
SECONDS_MEDIA=${SECONDS_MEDIA:-10}
REPS=${REPS:-5}
PROFILE=${PROFILE:-0}

cargo build --release -p ringside-benches --bin transcode_load >/dev/null 2>&1 ||
  cargo build --release -p ringside-benches --bin transcode_load
BIN=target/release/transcode_load

if [ "$PROFILE" = 1 ] && command -v perf >/dev/null; then
  DATA=$(mktemp /tmp/transcode_load.XXXXXX.perf)
  perf record -q -e cpu-clock -o "$DATA" -- \
    "$BIN" --calls "$CALLS" --seconds "$SECONDS_MEDIA" --reps 1 --only ours >/dev/null 2>&1 || true
  echo "--- perf (ours only; whole process, so the input pre-encoding is included): CPU by library ---"
  perf report -i "$DATA" --no-children --stdio --sort dso 2>/dev/null | grep -E '^ +[0-9]' | head -8
  echo "--- top symbols outside libopus ---"
  perf report -i "$DATA" --no-children --stdio --sort dso,symbol 2>/dev/null |
    grep -E '^ +[0-9]' | grep -v libopus | head -15
  rm -f "$DATA"
  echo "---"
fi

"$BIN" --calls "$CALLS" --seconds "$SECONDS_MEDIA" --reps "$REPS"
