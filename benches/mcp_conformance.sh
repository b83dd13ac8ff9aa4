#!/usr/bin/env bash
# The MCP conformance suite (npm @modelcontextprotocol/conformance, on Node 22 from the npm
# `node@22` package) against a debug `ringside serve`'s /mcp. The suite takes only a URL, so a
# loopback proxy (tests/mcp/bearer_proxy.py) adds the bearer token of an automation token.
#
#   bash benches/mcp_conformance.sh
#
# Prints the suite's summary; last line: `mcp_conformance_passed: N`. The scenarios and why the
# failing ones fail are in BENCHMARKS.md ("MCP (issue 16)").
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -p ringside >/dev/null 2>&1 || cargo build -p ringside
if [ ! -f target/mcp-conf/node_modules/@modelcontextprotocol/conformance/package.json ]; then
  npm install --prefix target/mcp-conf --no-audit --no-fund --silent node@22 '@modelcontextprotocol/conformance@0.1.16'
fi
BIN=target/debug/ringside
DATA=$(mktemp -d)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP_PORT=$(port)
SIP_PORT=$(port)
PROXY_PORT=$(port)
export RINGSIDE_DATA_DIR=$DATA RINGSIDE_HTTP_ADDR=127.0.0.1:$HTTP_PORT RINGSIDE_SIP_ADDR=127.0.0.1:$SIP_PORT \
  RINGSIDE_RTP_PORTS=46200-46299 RINGSIDE_LOG=warn
$BIN serve 2>"$DATA/server.log" &
PID=$!
PROXY=
trap 'kill $PID $PROXY 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
TOKEN=$($BIN token create --email conformance@mcp.example \
  --scopes mcp:read,widgets:read,widgets:write,analytics:read,messages:read,messages:write,calls:read,webhooks:read,webhooks:write)
python3 tests/mcp/bearer_proxy.py "$PROXY_PORT" "http://127.0.0.1:$HTTP_PORT" "$TOKEN" &
PROXY=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$PROXY_PORT/healthz" && break; sleep 0.1; done
OUT=$(cd target/mcp-conf && ./node_modules/.bin/node node_modules/@modelcontextprotocol/conformance/dist/index.js \
  server --url "http://127.0.0.1:$PROXY_PORT/mcp" -o "$DATA/results" 2>&1 || true)
echo "$OUT" | sed -n '/=== SUMMARY ===/,$p'
passed=$(echo "$OUT" | sed -n 's/^Total: \([0-9]*\) passed.*/\1/p')
echo "mcp_conformance_passed: ${passed:-0}"
