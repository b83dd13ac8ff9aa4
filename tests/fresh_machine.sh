#!/usr/bin/env bash
# Checks the README's run command on a clean Debian system (issue 12, defect 10): builds a
# minimal Debian root with debootstrap, copies the repository in (without target/), bind-mounts
# the machine's Rust toolchain read-only, and runs `bash run.sh --build-only` inside as root.
# It passes only if run.sh installs everything the build needs by itself.
#
#   bash tests/fresh_machine.sh          # needs root, debootstrap and the Debian mirror
#
# It takes a while (a Debian base install plus a release build), so it is not part of
# tests/run.sh; the last line is `fresh_machine_build: ok` on success.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
ROOT=$(mktemp -d /tmp/ringside-fresh.XXXXXX)
cleanup() {
  for m in proc sys dev/pts dev root/.cargo root/.rustup; do umount -l "$ROOT/$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT
suite=$(. /etc/os-release && echo "$VERSION_CODENAME")
debootstrap --variant=minbase --include=ca-certificates,gcc,libc6-dev,sudo "$suite" "$ROOT" >/dev/null
mkdir -p "$ROOT/src" "$ROOT/root/.cargo" "$ROOT/root/.rustup"
tar --exclude=./target -cf - . | tar -C "$ROOT/src" -xf -
mount --bind "$HOME/.cargo" "$ROOT/root/.cargo"
mount --bind "$HOME/.rustup" "$ROOT/root/.rustup"
mount -o remount,ro,bind "$ROOT/root/.rustup"
mount -t proc proc "$ROOT/proc"
mount --rbind /sys "$ROOT/sys"
mount --rbind /dev "$ROOT/dev"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
chroot "$ROOT" /usr/bin/env -i HOME=/root PATH=/root/.cargo/bin:/usr/bin:/bin:/usr/sbin:/sbin \
  CARGO_TARGET_DIR=/src/target bash -c 'cd /src && bash run.sh --build-only'
test -x "$ROOT/src/target/release/ringside"
echo "fresh_machine_build: ok"
