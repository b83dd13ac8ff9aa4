#!/usr/bin/env python3
"""Sign-in code request to mail handed to SMTP: how long from `POST /api/v1/auth/email-code`
leaving the client to the message's DATA ending at an SMTP server on loopback (aiosmtpd, in
this process, so both instants come from one clock).

    BIN=target/release/ringside COUNT=200 python3 benches/mail_latency.py

Requests go one after another, each for a new email and from its own X-Forwarded-For address
(the server trusts it here), so the abuse limits do not interfere. Prints p50, p95 and max;
the last line is `code_to_smtp_p50_ms: <value>`.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from aiosmtpd.controller import Controller


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    def __init__(self):
        self.arrived = {}
        self.cond = threading.Condition()

    async def handle_DATA(self, server, session, envelope):
        t = time.perf_counter_ns()
        with self.cond:
            for rcpt in envelope.rcpt_tos:
                self.arrived[rcpt.lower()] = t
            self.cond.notify_all()
        return "250 OK"

    def wait(self, email, timeout=10.0):
        end = time.monotonic() + timeout
        with self.cond:
            while email not in self.arrived:
                left = end - time.monotonic()
                if left <= 0:
                    raise SystemExit(f"no mail to {email}")
                self.cond.wait(left)
            return self.arrived[email]


def main():
    binary = os.environ.get("BIN", "target/release/ringside")
    count = int(os.environ.get("COUNT", "200"))
    sink = Sink()
    smtp_port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    http_port = free_port()
    data = tempfile.mkdtemp(prefix="ringside-mail-bench-")
    env = dict(os.environ)
    env.update({
        "RINGSIDE_DATA_DIR": data,
        "RINGSIDE_HTTP_ADDR": f"127.0.0.1:{http_port}",
        "RINGSIDE_SIP_ADDR": f"127.0.0.1:{free_port()}",
        "RINGSIDE_WEBRTC_ADDR": f"127.0.0.1:{free_port()}",
        "RINGSIDE_RTP_PORTS": "42000-42099",
        "RINGSIDE_SMTP_URL": f"smtp+plain://127.0.0.1:{smtp_port}",
        "RINGSIDE_SMTP_FROM": "Ringside <no-reply@bench.test>",
        "RINGSIDE_TRUST_FORWARDED_FOR": "true",
        "RINGSIDE_LOG": "warn",
    })
    server = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{http_port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        lat = []
        for i in range(count + 10):
            email = f"bench{i}@mail.test"
            req = urllib.request.Request(
                base + "/api/v1/auth/email-code",
                data=json.dumps({"email": email}).encode(),
                headers={"Content-Type": "application/json",
                         "X-Forwarded-For": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"},
                method="POST")
            t0 = time.perf_counter_ns()
            with urllib.request.urlopen(req, timeout=10) as r:
                assert r.status == 202, r.status
            t1 = sink.wait(email)
            if i >= 10:  # the first ones open the SMTP connection pool
                lat.append((t1 - t0) / 1e6)
        lat.sort()
        p50 = lat[len(lat) // 2]
        p95 = lat[int(len(lat) * 0.95)]
        print(f"requests: {len(lat)}  p50 {p50:.2f} ms  p95 {p95:.2f} ms  max {lat[-1]:.2f} ms")
        print(f"code_to_smtp_p50_ms: {p50:.2f}")
    finally:
        server.terminate()
        server.wait()
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
