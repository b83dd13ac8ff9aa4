#!/usr/bin/env python3
"""Drive a running edge proxy (kamailio.cfg) with fake Ringside nodes and a fake phone.

Loopback only. Fake nodes: A on 127.0.0.2:5060 and B on 127.0.0.3:5060 answer; nothing
listens on 127.0.0.4:5060 (a dead node). Every wait below is bounded; the script ends by
itself.

Run kamailio first, e.g.:
  kamailio -DD -E -f kamailio.cfg -A PHONE_KA_S=2
then: python3 edge_check.py [ctl socket]
"""
import random, re, socket, subprocess, sys, threading, time

EDGE = ("127.0.0.1", 5070)
CTL = sys.argv[1] if len(sys.argv) > 1 else "unix:/tmp/ringside-edge-ctl.sock"
T0 = time.time()
NODE_REPLY_S = 2.0  # kamailio.cfg NODE_REPLY_MS


def log(*a):
    print(f"[{time.time() - T0:6.2f}] ", *a, flush=True)


def rnd(n=32):
    return "%x" % random.getrandbits(n)


def parse(data):
    text = data.decode(errors="replace")
    head, _, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    hdrs = []
    for l in lines[1:]:
        name, _, value = l.partition(":")
        hdrs.append((name.strip(), value.strip()))
    return lines[0], hdrs


def hget(hdrs, name, all_=False):
    vals = [v for n, v in hdrs if n.lower() == name.lower()]
    return vals if all_ else (vals[0] if vals else None)


def response(first, hdrs, code, reason, extra=(), to_tag=None):
    out = [f"SIP/2.0 {code} {reason}"]
    for n, v in hdrs:
        if n.lower() in ("via", "from", "call-id", "cseq"):
            out.append(f"{n}: {v}")
        elif n.lower() == "to":
            if to_tag and ";tag=" not in v:
                v += f";tag={to_tag}"
            out.append(f"To: {v}")
    out += list(extra)
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode()


class Node(threading.Thread):
    """A fake Ringside node. mode: 'ok' (INVITE -> 100 then 486) or 'r503' (INVITE -> 503)."""

    def __init__(self, name, ip):
        super().__init__(daemon=True)
        self.name, self.ip, self.mode = name, ip, "ok"
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 5060))
        self.sock.settimeout(0.2)
        self.running = True
        self.seen = []          # (method, headers) of requests
        self.replies = []       # status lines of replies to our own requests
        self.bindings = {}      # aor -> (contact, path)

    def run(self):
        while self.running:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            first, hdrs = parse(data)
            if first.startswith("SIP/2.0"):
                self.replies.append(first)
                continue
            method = first.split(" ")[0]
            self.seen.append((method, hdrs))
            if self.mode == "silent":
                continue        # frozen process: socket open, nothing answered (no ICMP)
            if method == "OPTIONS":
                self.sock.sendto(response(first, hdrs, 200, "OK", to_tag=rnd()), addr)
            elif method == "REGISTER":
                contact, path = hget(hdrs, "Contact"), hget(hdrs, "Path")
                aor = re.search(r"<([^>]+)>", hget(hdrs, "To")).group(1)
                self.bindings[aor] = (contact, path)
                extra = [f"Contact: {contact};expires=60"]
                if path:
                    extra.append(f"Path: {path}")
                self.sock.sendto(response(first, hdrs, 200, "OK", extra, rnd()), addr)
            elif method == "INVITE":
                if self.mode == "silent":
                    continue
                if self.mode == "r503":
                    self.sock.sendto(response(first, hdrs, 503, "Draining", to_tag=rnd()), addr)
                else:
                    self.sock.sendto(response(first, hdrs, 100, "Trying"), addr)
                    self.sock.sendto(response(first, hdrs, 486, "Busy Here", to_tag=rnd()), addr)
            # ACK: nothing to do

    def stop(self):
        self.running = False
        self.sock.close()

    def invite_phone(self, aor):
        """Call a registered phone the way a Path-aware node would."""
        contact, path = self.bindings[aor]
        ruri = re.search(r"<([^>]+)>", contact).group(1)
        route_uri = re.search(r"<([^>]+)>", path).group(1)
        hp = re.match(r"sip:([^;>]+)", route_uri).group(1)
        host, port = hp.split(":")
        msg = (f"INVITE {ruri} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP {self.ip}:5060;branch=z9hG4bK{rnd()}\r\n"
               f"Route: {path}\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:ringside@{self.ip}>;tag={rnd()}\r\n"
               f"To: <{aor}>\r\n"
               f"Call-ID: {rnd()}@{self.name}\r\n"
               f"CSeq: 1 INVITE\r\n"
               f"Contact: <sip:ringside@{self.ip}:5060>\r\n"
               f"Content-Length: 0\r\n\r\n")
        self.sock.sendto(msg.encode(), (host, int(port)))


class Phone:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.sock.settimeout(0.2)

    def request(self, method, ruri, contact_port=None, call_id=None, wait=10.0):
        cp = contact_port or self.port
        call_id = call_id or rnd() + "@phone"
        branch = "z9hG4bK" + rnd()
        from_tag = rnd()
        to = "sip:1001@ringside.test" if method == "REGISTER" else ruri
        msg = (f"{method} {ruri} SIP/2.0\r\n"
               f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport\r\n"
               f"Max-Forwards: 70\r\n"
               f"From: <sip:1001@ringside.test>;tag={from_tag}\r\n"
               f"To: <{to}>\r\n"
               f"Call-ID: {call_id}\r\n"
               f"CSeq: 1 {method}\r\n"
               f"Contact: <sip:1001@127.0.0.1:{cp}>\r\n"
               + ("Expires: 60\r\n" if method == "REGISTER" else "")
               + "Content-Length: 0\r\n\r\n")
        self.sock.sendto(msg.encode(), EDGE)
        first, hdrs, seen = self.final(wait, call_id)
        if method == "INVITE" and first and int(first.split(" ")[1]) >= 300:
            # ACK the negative answer (same branch), so the edge stops retransmitting it
            ack = (f"ACK {ruri} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport\r\n"
                   f"Max-Forwards: 70\r\n"
                   f"From: <sip:1001@ringside.test>;tag={from_tag}\r\n"
                   f"To: {hget(hdrs, 'To')}\r\n"
                   f"Call-ID: {call_id}\r\n"
                   f"CSeq: 1 ACK\r\n"
                   f"Content-Length: 0\r\n\r\n")
            self.sock.sendto(ack.encode(), EDGE)
        return first, hdrs, seen

    def final(self, wait, call_id):
        end = time.time() + wait
        seen = []
        while time.time() < end:
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            first, hdrs = parse(data)
            if not first.startswith("SIP/2.0"):
                seen.append(("REQ", first, hdrs))
                continue
            if hget(hdrs, "Call-ID") != call_id:
                continue        # a late retransmission for an older request
            code = int(first.split(" ")[1])
            if code >= 200:
                return first, hdrs, seen
        return None, None, seen

    def recv_request(self, wait):
        end = time.time() + wait
        while time.time() < end:
            try:
                data, addr = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            first, hdrs = parse(data)
            if not first.startswith("SIP/2.0"):
                return first, hdrs, addr
        return None, None, None


def ds_state():
    out = subprocess.run(["kamcmd", "-s", CTL, "dispatcher.list"], capture_output=True,
                         text=True, timeout=5).stdout
    return dict(re.findall(r"URI: sip:([\d.]+):5060;transport=udp\s+FLAGS: (\w+)", out))


def wait_state(ip, want_prefix, limit):
    start = time.time()
    while time.time() - start < limit:
        st = ds_state().get(ip, "")
        if st.startswith(want_prefix):
            return time.time() - start, st
        time.sleep(0.1)
    return None, ds_state().get(ip, "")


def main():
    results = []

    def check(name, ok, detail=""):
        results.append((name, ok))
        log(("PASS " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""))

    log("dispatcher before nodes:", ds_state())
    a, b = Node("A", "127.0.0.2"), Node("B", "127.0.0.3")
    a.start(); b.start()
    ta, sa = wait_state("127.0.0.2", "A", 6)
    tb, sb = wait_state("127.0.0.3", "A", 6)
    check("nodes A and B become active after their first probe", ta is not None and tb is not None,
          f"A after {ta and round(ta, 2)} s ({sa}), B after {tb and round(tb, 2)} s ({sb})")
    time.sleep(1.5)
    check("dead node C stays inactive", ds_state().get("127.0.0.4", "").startswith("I"),
          ds_state().get("127.0.0.4"))

    phone = Phone()
    # REGISTER with a Contact port that is NOT the phone's real port: only Path's
    # ;received= can bring the node's INVITE back to the phone.
    first, hdrs, _ = phone.request("REGISTER", "sip:ringside.test", contact_port=9)
    check("REGISTER answered 200 through the edge", bool(first and " 200 " in first), first)
    reg_node = next((n for n in (a, b) if n.bindings), None)
    path = reg_node and next(iter(reg_node.bindings.values()))[1]
    check("node got Path with the phone's received address",
          bool(path and f"received=sip:127.0.0.1:{phone.port}" in path), path)
    peer = reg_node and hget(next(h for m, h in reg_node.seen if m == "REGISTER"),
                             "X-Ringside-Peer")
    check("node got X-Ringside-Peer", bool(peer and str(phone.port) in peer), peer)

    # node -> phone via the stored Path
    reg_node.invite_phone("sip:1001@ringside.test")
    rfirst, rhdrs, raddr = phone.recv_request(5)
    check("node's INVITE reached the phone's real address via Path",
          bool(rfirst and rfirst.startswith("INVITE")), f"{rfirst} from {raddr}")
    if rfirst:
        check("edge record-routed the node's INVITE",
              bool(hget(rhdrs, "Record-Route")), hget(rhdrs, "Record-Route"))
        check("edge stripped its own Route", hget(rhdrs, "Route") is None, hget(rhdrs, "Route"))
        phone.sock.sendto(response(rfirst, rhdrs, 486, "Busy Here", to_tag=rnd()), raddr)
        time.sleep(0.5)
        check("phone's 486 got back to the node", any(" 486 " in r for r in reg_node.replies),
              reg_node.replies[-1:] if reg_node.replies else None)

    # phone -> nodes: spread over A and B (C is inactive)
    before = {n.name: sum(1 for m, _ in n.seen if m == "INVITE") for n in (a, b)}
    codes = []
    for i in range(10):
        first, _, _ = phone.request("INVITE", "sip:2000@ringside.test", wait=8)
        codes.append(first.split(" ")[1] if first else "none")
    after = {n.name: sum(1 for m, _ in n.seen if m == "INVITE") for n in (a, b)}
    spread = {k: after[k] - before[k] for k in after}
    check("10 phone INVITEs all answered 486 by a node", codes == ["486"] * 10, str(codes))
    check("INVITEs spread over A and B (hash over Call-ID)", all(v > 0 for v in spread.values()),
          str(spread))

    # failover on 503: A refuses INVITEs, B still takes them
    a.mode = "r503"
    codes = []
    for i in range(6):
        first, _, _ = phone.request("INVITE", "sip:2000@ringside.test", wait=8)
        codes.append(first.split(" ")[1] if first else "none")
    check("with A answering 503, every INVITE still ends at B (486)", codes == ["486"] * 6,
          str(codes))
    a.mode = "ok"

    # kill B: how long until the probes drop it, and do calls still go through meanwhile?
    b.stop()
    killed = time.time()
    first, _, _ = phone.request("INVITE", "sip:2000@ringside.test", wait=10)
    t_call = time.time() - killed
    check("a call right after B died still completes", bool(first and " 486 " in first),
          f"{first}, {t_call:.2f} s")
    t_down, st = wait_state("127.0.0.3", "I", 8)
    elapsed = time.time() - killed if t_down is not None else None
    check("dead node B dropped from the set within 5 s", elapsed is not None and elapsed <= 5.0,
          f"{elapsed and round(elapsed, 2)} s after it died, state {st}")

    # B comes back
    b2 = Node("B", "127.0.0.3"); b2.start()
    t_up, st = wait_state("127.0.0.3", "A", 6)
    check("B back in the set after it answers again", t_up is not None,
          f"{t_up and round(t_up, 2)} s, {st}")

    # a frozen node (socket still bound, so no ICMP port-unreachable): probes alone
    b2.mode = "silent"
    frozen = time.time()
    t_down, st = wait_state("127.0.0.3", "I", 10)
    check("frozen node B dropped by the OPTIONS probes alone within 5 s",
          t_down is not None and t_down <= 5.0, f"{t_down and round(t_down, 2)} s, state {st}")
    b2.mode = "ok"
    t_up, st = wait_state("127.0.0.3", "A", 6)
    check("B active again after it thaws", t_up is not None, f"{t_up and round(t_up, 2)} s")
    # freeze again and call at once: a call hashed to B waits NODE_REPLY_MS, then goes to A
    b2.mode = "silent"
    b_inv = sum(1 for m, _ in b2.seen if m == "INVITE")
    times, codes = [], []
    for i in range(8):
        t = time.time()
        first, _, _ = phone.request("INVITE", "sip:2000@ringside.test", wait=10)
        times.append(round(time.time() - t, 2))
        codes.append(first.split(" ")[1] if first else "none")
    check("calls during a freeze all complete on A (one waits ~NODE_REPLY_MS if hashed to B)", codes == ["486"] * 8 and max(times) < NODE_REPLY_S + 1,
          f"codes {codes}, seconds {times}, "
          f"INVITEs that reached frozen B: {sum(1 for m, _ in b2.seen if m == 'INVITE') - b_inv}")
    b2.mode = "ok"

    # keep-alive: the edge pings the registered phone (run kamailio with -A PHONE_KA_S=2)
    kl = subprocess.run(["kamcmd", "-s", CTL, "keepalive.list"], capture_output=True,
                        text=True, timeout=5).stdout
    check("phone is on the keepalive list", f"127.0.0.1:{phone.port}" in kl,
          " ".join(kl.split())[:160])
    rfirst, rhdrs, raddr = phone.recv_request(6)
    check("phone received an OPTIONS keep-alive from the edge",
          bool(rfirst and rfirst.startswith("OPTIONS")), f"{rfirst} from {raddr}")

    # pike: a burst from one source gets cut
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0)); s.settimeout(0.3)
    port = s.getsockname()[1]
    n = 300
    for i in range(n):
        m = (f"OPTIONS sip:127.0.0.1:5070 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};"
             f"branch=z9hG4bK{rnd()}\r\nFrom: <sip:f@x>;tag={i}\r\nTo: <sip:127.0.0.1>\r\n"
             f"Call-ID: flood{i}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n"
             f"Content-Length: 0\r\n\r\n")
        s.sendto(m.encode(), EDGE)
    got = 0
    try:
        while True:
            s.recvfrom(65535); got += 1
    except socket.timeout:
        pass
    check("pike cut a burst of 300 OPTIONS from one source", got < n, f"{got}/{n} answered")

    a.stop(); b2.stop()
    passed = sum(1 for _, ok in results if ok)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
