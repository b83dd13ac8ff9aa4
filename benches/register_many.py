#!/usr/bin/env python3
"""Register many extensions with MD5 digest over UDP (sipp cannot take per-call credentials).

usage: register_many.py HOST:PORT FIRST_USER COUNT PASSWORD_TEMPLATE   (e.g. 'pw-{u}-secret')
Prints the number of 200 OK responses.
"""
import hashlib
import re
import socket
import sys


def md5(s):
    return hashlib.md5(s.encode()).hexdigest()


def main():
    host, port = sys.argv[1].split(":")
    first, count, tmpl = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    lport = sock.getsockname()[1]
    ok = 0
    for i in range(count):
        u = str(first + i)
        pw = tmpl.format(u=u)
        base = (
            f"REGISTER sip:{host}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK{u}x{{cseq}};rport\r\n"
            f"From: <sip:{u}@{host}>;tag=t{u}\r\nTo: <sip:{u}@{host}>\r\n"
            f"Call-ID: reg-{u}\r\nCSeq: {{cseq}} REGISTER\r\n"
            f"Contact: <sip:{u}@127.0.0.1:{lport};line={u}>\r\nExpires: 3600\r\n"
            "{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        sock.sendto(base.format(cseq=1, auth="").encode(), (host, int(port)))
        resp = sock.recv(65535).decode()
        m = re.search(r'WWW-Authenticate: Digest [^\r\n]*algorithm=MD5[^\r\n]*', resp)
        nonce = re.search(r'nonce="([^"]+)"', m.group(0)).group(1)
        realm = re.search(r'realm="([^"]+)"', m.group(0)).group(1)
        uri = f"sip:{host}:{port}"
        ha1 = md5(f"{u}:{realm}:{pw}")
        ha2 = md5(f"REGISTER:{uri}")
        cnonce, nc = "0a4f113b", "00000001"
        r = md5(f"{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}")
        auth = (
            f'Authorization: Digest username="{u}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
            f'response="{r}", algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}"\r\n'
        )
        sock.sendto(base.format(cseq=2, auth=auth).encode(), (host, int(port)))
        if sock.recv(65535).decode().startswith("SIP/2.0 200"):
            ok += 1
    print(ok)


if __name__ == "__main__":
    main()
