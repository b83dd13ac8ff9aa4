#!/usr/bin/env python3
"""A loopback Web Push service and browser in one, for Ringside's Web Push test.

It makes a browser's subscription (a P-256 key pair and a 16-byte auth secret, with the
`cryptography` package) and prints it as the first line of stdout:
{"endpoint", "gone", "keys": {"p256dh", "auth"}} ("gone" is an endpoint that answers 410, as
a push service does for an expired subscription). Then it takes pushes (RFC 8030) on
POST /push/<id>: checks the headers (Content-Encoding aes128gcm, TTL, Urgency), the VAPID
authorization (RFC 8292: an ES256 JWT verified with the key in k=, aud the endpoint's origin,
exp within a day, sub mailto: or https:), decrypts the body with http_ece (an independent
RFC 8291 implementation) and prints one JSON line per push: {"path", "ttl", "urgency", "aud",
"sub", "payload"} or {"error"} (then it answers 400). Runs until killed.
"""

import base64
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


UA_KEY = ec.generate_private_key(ec.SECP256R1())
UA_PUBLIC = UA_KEY.public_key().public_bytes(
    serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
)
AUTH = os.urandom(16)


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def check_vapid(header, origin):
    """The VAPID header's claims, or raises ValueError."""
    if not header or not header.startswith("vapid "):
        raise ValueError("no vapid authorization")
    parts = dict(p.strip().split("=", 1) for p in header[len("vapid "):].split(","))
    jwt, k = parts.get("t", ""), parts.get("k", "")
    head_b64, claims_b64, sig_b64 = jwt.split(".")
    head = json.loads(unb64u(head_b64))
    if head.get("alg") != "ES256":
        raise ValueError("alg is not ES256")
    sig = unb64u(sig_b64)
    if len(sig) != 64:
        raise ValueError("signature is not 64 bytes")
    der = utils.encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64u(k))
    try:
        key.verify(der, f"{head_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the JWT's signature does not verify with k")
    claims = json.loads(unb64u(claims_b64))
    now = time.time()
    if claims.get("aud") != origin:
        raise ValueError(f"aud {claims.get('aud')!r} is not {origin!r}")
    if not now < claims.get("exp", 0) <= now + 24 * 3600:
        raise ValueError("exp is not within a day")
    sub = claims.get("sub", "")
    if not (sub.startswith("mailto:") or sub.startswith("https:")):
        raise ValueError("sub is not mailto: or https:")
    return claims


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path.endswith("/gone"):
            self.answer(410)
            return
        try:
            if self.headers.get("Content-Encoding") != "aes128gcm":
                raise ValueError("Content-Encoding is not aes128gcm")
            ttl = int(self.headers.get("TTL", "x"))
            origin = f"http://127.0.0.1:{self.server.server_address[1]}"
            claims = check_vapid(self.headers.get("Authorization"), origin)
            plain = http_ece.decrypt(body, private_key=UA_KEY, auth_secret=AUTH, version="aes128gcm")
            say({"path": self.path, "ttl": ttl, "urgency": self.headers.get("Urgency"),
                 "aud": claims["aud"], "sub": claims["sub"], "payload": json.loads(plain)})
            self.answer(201)
        except Exception as e:  # noqa: BLE001 - every failure is reported to the test
            say({"error": f"{type(e).__name__}: {e}"})
            self.answer(400)


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    say({"endpoint": f"http://127.0.0.1:{port}/push/sub-1",
         "gone": f"http://127.0.0.1:{port}/push/gone",
         "keys": {"p256dh": b64u(UA_PUBLIC), "auth": b64u(AUTH)}})
    server.serve_forever()


if __name__ == "__main__":
    main()
