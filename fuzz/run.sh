#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time on its committed corpus (fuzz/corpus/<target>).
#
#   bash fuzz/run.sh                    # each target FUZZ_SECS (default 10) seconds
#   FUZZ_SECS=600 bash fuzz/run.sh      # the long campaign
#   FUZZ_SECS=60 bash fuzz/run.sh sdp   # one target
#   FUZZ_MERGE=1 bash fuzz/run.sh       # afterwards, minimise the corpora back into
#                                       # fuzz/corpus (commit what it adds)
#   FUZZ_SEED=0 bash fuzz/run.sh        # a random seed per run (the default, 1, makes the
#                                       # suite's short run explore the same inputs each time)
#
# Works on the stable toolchain without cargo-fuzz: the targets are built with libFuzzer's
# coverage instrumentation (what `cargo fuzz build -s none` does), overflow checks and debug
# assertions on. With cargo-fuzz and nightly installed, `cargo +nightly fuzz run <target>`
# runs the same targets under AddressSanitizer. A crash stops the run with a non-zero status
# and leaves the input in fuzz/artifacts/<target>/. The last line is `fuzz_execs_total: N`.
set -euo pipefail
cd "$(dirname "$0")"
SECS=${FUZZ_SECS:-10}
TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^ringside-fuzz$')
fi

# Flags for the fuzzed code only: with an explicit --target, cargo keeps RUSTFLAGS away from
# build scripts and proc-macros.
export RUSTFLAGS="--cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks"
cargo build --release --target "$TRIPLE" --bins

total=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  work=$(mktemp -d)
  log=$(mktemp)
  # New inputs go to a scratch dir; the committed corpus is only read.
  if ! "target/$TRIPLE/release/$t" "$work" "corpus/$t" -max_total_time="$SECS" \
      -seed="${FUZZ_SEED:-1}" -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
      -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $t failed: the input is in fuzz/artifacts/$t/" >&2
    exit 1
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
  echo "$t: ${execs:-0} runs in ${SECS} s, coverage ${cov:-?}, corpus $(ls "corpus/$t" | wc -l) files"
  total=$((total + ${execs:-0}))
  if [ "${FUZZ_MERGE:-0}" = 1 ]; then
    "target/$TRIPLE/release/$t" -merge=1 "corpus/$t" "$work" >/dev/null 2>&1
  fi
  rm -rf "$work" "$log"
done
echo "fuzz_execs_total: $total"
