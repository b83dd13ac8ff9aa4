#!/usr/bin/env python3
"""Send one SIP request over UDP to the edge and print the status line(s) it gets back.

usage: sip_probe.py METHOD REQUEST_URI [host port] [--count N]
"""
import random, socket, sys, time

def probe(method, ruri, host="127.0.0.1", port=5070, extra=""):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(8)
    lport = s.getsockname()[1]
    branch = "z9hG4bK" + "%08x" % random.getrandbits(32)
    callid = "%08x@probe" % random.getrandbits(32)
    msg = (f"{method} {ruri} SIP/2.0\r\n"
           f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport\r\n"
           f"Max-Forwards: 70\r\n"
           f"From: <sip:probe@127.0.0.1>;tag=p{random.getrandbits(24)}\r\n"
           f"To: <{ruri}>\r\n"
           f"Call-ID: {callid}\r\n"
           f"CSeq: 1 {method}\r\n"
           f"Contact: <sip:probe@127.0.0.1:{lport}>\r\n"
           f"{extra}"
           f"Content-Length: 0\r\n\r\n")
    t0 = time.time()
    s.sendto(msg.encode(), (host, port))
    out = []
    try:
        while True:
            data, _ = s.recvfrom(65535)
            text = data.decode(errors="replace")
            out.append((round(time.time() - t0, 3), text))
            code = int(text.split(" ", 2)[1])
            if code >= 200:
                break
    except socket.timeout:
        out.append((round(time.time() - t0, 3), "TIMEOUT (no final reply)"))
    return out

if __name__ == "__main__":
    method, ruri = sys.argv[1], sys.argv[2]
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    port = int(sys.argv[4]) if len(sys.argv) > 4 else 5070
    extra = "Expires: 60\r\n" if method == "REGISTER" else ""
    for t, text in probe(method, ruri, host, port, extra):
        lines = text.split("\r\n")
        print(f"[{t:6.3f}s] {lines[0]}")
        for l in lines[1:]:
            if l.split(":")[0] in ("Server", "Retry-After", "Via", "To"):
                print("           " + l)
