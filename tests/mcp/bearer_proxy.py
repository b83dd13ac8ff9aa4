"""A loopback HTTP proxy that adds `Authorization: Bearer <token>` to every request, for tools
that take only a URL (the MCP conformance suite).

    python bearer_proxy.py LISTEN_PORT UPSTREAM_BASE TOKEN

Requests (with their own Host and Origin) and answers are passed whole (Ringside's /mcp
answers are single JSON documents or one-event streams).
"""

import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, UPSTREAM, TOKEN = int(sys.argv[1]), sys.argv[2].rstrip("/"), sys.argv[3]
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length"}


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def relay(self) -> None:
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else None
        req = urllib.request.Request(UPSTREAM + self.path, data=body, method=self.command)
        for k, v in self.headers.items():
            if k.lower() not in HOP and k.lower() != "authorization":
                req.add_header(k, v)
        req.add_header("Authorization", f"Bearer {TOKEN}")
        try:
            resp = urllib.request.urlopen(req, timeout=60)
            status, headers, data = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, headers, data = e.code, e.headers, e.read()
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in HOP:
                self.send_header(k, v)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = do_PUT = do_PATCH = relay

    def log_message(self, *args) -> None:
        pass


ThreadingHTTPServer(("127.0.0.1", PORT), Proxy).serve_forever()
