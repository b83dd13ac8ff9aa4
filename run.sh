#!/usr/bin/env bash
# Run Ringside on a fresh machine: installs the one system library the build needs when it is
# missing (libopus, found through pkg-config; without it the Opus crate falls back to a CMake
# build of bundled sources, and a fresh machine has no CMake), then builds and starts
# `ringside serve` with any arguments given (e.g. `bash run.sh --config ringside.toml`).
set -euo pipefail
cd "$(dirname "$0")"
need=()
dpkg -s libopus-dev >/dev/null 2>&1 || need+=(libopus-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
if [ ${#need[@]} -gt 0 ]; then
  echo "run.sh: installing ${need[*]}" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ "${1:-}" = "--build-only" ]; then
  exec cargo build --release -p ringside
fi
exec cargo run --release -p ringside -- serve "$@"
