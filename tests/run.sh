#!/usr/bin/env bash
# The whole test suite. Installs what it needs when missing, starts PostgreSQL if it is down,
# then runs formatting and lint checks and every test (unit, property, storage on SQLite and
# PostgreSQL, router, and end-to-end against sipp and baresip).
set -euo pipefail
cd "$(dirname "$0")/.."
# Where the time goes (the whole run must stay under 45 minutes): a line per phase.
phase() { echo "== phase $1 done at ${SECONDS} s"; }

need=()
command -v sipp >/dev/null || need+=(sip-tester)
command -v baresip >/dev/null || need+=(baresip-core)
command -v sox >/dev/null || need+=(sox)
command -v ffprobe >/dev/null || need+=(ffmpeg)
dpkg -s libopus-dev >/dev/null 2>&1 || need+=(libopus-dev)
# audiopus finds libopus through pkg-config (not in the base image, not pulled by libopus-dev).
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v chromium >/dev/null || need+=(chromium)
command -v firefox-esr >/dev/null || need+=(firefox-esr)
command -v ip >/dev/null || need+=(iproute2)
# benches/soak.sh (run below) talks to the server with curl and python3.
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
# The SMTP TLS tests make a private CA and a server certificate.
command -v openssl >/dev/null || need+=(openssl)
# Business hours are in IANA time zones, read from the system's zone database.
[ -f /usr/share/zoneinfo/Europe/Lisbon ] || need+=(tzdata)
# Kamailio with its TLS module: the SIP-over-TLS peer of tests/tests/sip_kamailio.rs.
[ -x /usr/sbin/kamailio ] || need+=(kamailio)
dpkg -s kamailio-tls-modules >/dev/null 2>&1 || need+=(kamailio-tls-modules)
# HAProxy: the HTTP edge of the cluster tests (tests/tests/cluster_edge.rs, deploy/haproxy).
[ -x /usr/sbin/haproxy ] || need+=(haproxy)
# linphonec (liblinphone): the second softphone of tests/tests/linphone.rs (TLS, SRTP, transfers).
command -v linphonec >/dev/null || need+=(linphone-cli)
# The WordPress plugin (integrations/wordpress): php -l and tests/wordpress_check.py, then a
# real WordPress (Debian's package, PHP's built-in server, the local MariaDB) in
# tests/tests/wordpress.rs.
command -v php >/dev/null || need+=(php-cli)
[ -f /usr/share/wordpress/wp-settings.php ] || need+=(wordpress)
php -m 2>/dev/null | grep -qx mysqli || need+=(php-mysql)
command -v mariadb >/dev/null || need+=(mariadb-client)
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
# xgettext: tests/wordpress_check.py checks the plugin's translation template is complete.
command -v xgettext >/dev/null || need+=(gettext)
# NATS: the bus between the nodes of tests/tests/cluster.rs (started below when not running).
[ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null || need+=(nats-server)
# libFuzzer (fuzz/run.sh) is C++.
command -v c++ >/dev/null || need+=(g++)
# The kernel fast path's eBPF program (media/bpf, built by media/build.rs) needs clang and
# libbpf's headers; bpftool reads the program's run time in benches/relay_load.sh.
command -v clang >/dev/null || need+=(clang)
dpkg -s libbpf-dev >/dev/null 2>&1 || need+=(libbpf-dev)
command -v bpftool >/dev/null || [ -x /usr/sbin/bpftool ] || need+=(bpftool)
# ethtool: the fast path's network-namespace test turns the peers' checksum offload off, so the
# receiving stacks verify the checksums the program rewrote (media/tests/fastpath_netns.rs).
command -v ethtool >/dev/null || [ -x /usr/sbin/ethtool ] || need+=(ethtool)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# schemathesis (tests/tests/schemathesis.rs), from PyPI, at the version the suite was written for.
if ! command -v schemathesis >/dev/null; then
  python3 -m pip --version >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq python3-pip >/dev/null; }
  # Debian's own Python refuses system-wide installs unless told otherwise.
  python3 -m pip install --quiet --root-user-action=ignore 'schemathesis==4.32.5' 2>/dev/null ||
    python3 -m pip install --quiet --root-user-action=ignore --break-system-packages 'schemathesis==4.32.5'
fi
# aiosmtpd: the SMTP server on loopback the accounts tests mail sign-in codes to.
if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
  python3 -m pip install --quiet --root-user-action=ignore 'aiosmtpd==1.4.6' 2>/dev/null ||
    python3 -m pip install --quiet --root-user-action=ignore --break-system-packages 'aiosmtpd==1.4.6'
fi
# dnslib: the DNS server on loopback (NAPTR and SRV records) the trunk failover test resolves
# through (tests/tests/sip_dns.rs).
if ! python3 -c 'import dnslib' 2>/dev/null; then
  python3 -m pip install --quiet --root-user-action=ignore 'dnslib==0.9.26' 2>/dev/null ||
    python3 -m pip install --quiet --root-user-action=ignore --break-system-packages 'dnslib==0.9.26'
fi
# http_ece: an independent RFC 8291 implementation; the loopback push service of the Web Push
# test (tests/push_service.py) decrypts Ringside's alerts with it.
if ! python3 -c 'import http_ece' 2>/dev/null; then
  python3 -m pip install --quiet --root-user-action=ignore 'http-ece==1.2.1' 2>/dev/null ||
    python3 -m pip install --quiet --root-user-action=ignore --break-system-packages 'http-ece==1.2.1'
fi
# axe-core: the accessibility checker the account pages are held to (tests/browser.rs).
if [ ! -f target/axe/node_modules/axe-core/axe.min.js ]; then
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
  npm install --prefix target/axe --no-audit --no-fund --silent 'axe-core@4.14.1'
fi
# SIP.js, the browser softphone of tests/tests/sip_websocket.rs (loaded as ES modules).
if [ ! -f target/sipjs/node_modules/sip.js/lib/index.js ]; then
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
  npm install --prefix target/sipjs --no-audit --no-fund --silent 'sip.js@0.21.2'
fi
# The official MCP SDKs, as the clients of /mcp in tests/tests/mcp_clients.rs.
if [ ! -f target/mcp-ts/node_modules/@modelcontextprotocol/sdk/package.json ]; then
  command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm >/dev/null; }
  npm install --prefix target/mcp-ts --no-audit --no-fund --silent '@modelcontextprotocol/sdk@1.32.2'
fi
if [ ! -x target/mcp-py/bin/python ] || ! target/mcp-py/bin/python -c 'import mcp' 2>/dev/null; then
  python3 -m venv target/mcp-py 2>/dev/null ||
    { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv target/mcp-py; }
  target/mcp-py/bin/pip install --quiet 'mcp==2.3.0'
fi

# openapi-python-client: generates the typed client of tests/tests/openapi_client.rs.
if [ ! -x target/openapi-py/bin/openapi-python-client ]; then
  python3 -m venv target/openapi-py 2>/dev/null ||
    { apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null && python3 -m venv target/openapi-py; }
  target/openapi-py/bin/pip install --quiet 'openapi-python-client==0.29.1'
fi
# MariaDB for the WordPress tests (root over its socket, as Debian sets it up).
if ! mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1; then
  service mariadb start >/dev/null 2>&1 || service mysql start >/dev/null 2>&1 || true
  for _ in $(seq 1 30); do mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 1; done
fi
# PostgreSQL for the storage suite.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
# A cluster installed above on a bare machine asks loopback clients for a password and has no
# `test` database: trust loopback and create it, as on the machines the suite runs on.
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null &&
  ! psql -w -h 127.0.0.1 -U postgres -d test -Atqc 'select 1' >/dev/null 2>&1; then
  pg_ver=$(ls /etc/postgresql | head -n1)
  hba=/etc/postgresql/$pg_ver/main/pg_hba.conf
  if [ -f "$hba" ] && ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    { printf 'host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n'; cat "$hba"; } >"$hba.new"
    chown postgres:postgres "$hba.new"
    chmod 640 "$hba.new"
    mv "$hba.new" "$hba"
    pg_ctlcluster --skip-systemctl-redirect "$pg_ver" main reload
  fi
  runuser -u postgres -- psql -Atqc "select 1 from pg_database where datname = 'test'" | grep -q 1 ||
    runuser -u postgres -- createdb test
fi
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  export RINGSIDE_TEST_POSTGRES_URL="${RINGSIDE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
else
  echo "error: PostgreSQL is not reachable on 127.0.0.1:5432; the storage suite needs it" >&2
  exit 1
fi

# NATS with JetStream on 127.0.0.1:4222, as the machines run it; started here when it is not.
if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
  nats=$(command -v nats-server || echo /usr/sbin/nats-server)
  (setsid "$nats" -a 127.0.0.1 -p 4222 -js -sd "${TMPDIR:-/tmp}/ringside-nats" \
    >"${TMPDIR:-/tmp}/ringside-nats.log" 2>&1 </dev/null &)
  for _ in $(seq 1 30); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 0.5; done
fi

# rustfmt and clippy are rustup components a minimal toolchain lacks.
for c in rustfmt clippy; do
  cargo "${c/rustfmt/fmt}" --version >/dev/null 2>&1 || rustup component add "$c"
done
phase install
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
phase clippy
cargo build -p ringside
phase build
# The fast path's program is built (clang is installed above) and this runs as root: its
# kernel tests must run, not skip.
if [ "$(id -u)" = 0 ]; then export RINGSIDE_REQUIRE_FASTPATH=1; fi
cargo test --workspace --no-fail-fast -- --test-threads="${RINGSIDE_TEST_THREADS:-4}"
phase test

# The soak, short (the 10-minute form: `bash benches/soak.sh`): calls with media, chat and
# tracking, then nothing may have grown once the load stopped.
SOAK_SECS="${RINGSIDE_SOAK_SECS:-60}" WARM_SECS=20 BIN=target/debug/ringside bash benches/soak.sh
phase soak

# Every fuzz target, bounded (FUZZ_SECS each; the long campaign is `FUZZ_SECS=600 bash fuzz/run.sh`).
FUZZ_SECS="${RINGSIDE_FUZZ_SECS:-6}" bash fuzz/run.sh
