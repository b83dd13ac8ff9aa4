#!/usr/bin/env python3
"""Drive a running HAProxy (haproxy.cfg) with three fake Ringside nodes. Loopback only,
every wait bounded.

Fake nodes on 127.0.0.2-4:8080: /healthz answers 200 (or hangs when the node is "frozen");
a WebSocket upgrade gets 101 and then an echo of whatever is sent; any other request gets
200 with a JSON body naming the node and the headers it saw.

usage: haproxy_check.py [admin socket] [--short-client-timeout]
"""
import asyncio, base64, hashlib, json, socket, sys, threading, time

FRONT = ("127.0.0.1", 8090)
ADMIN = next((a for a in sys.argv[1:] if not a.startswith("--")), "/tmp/ringside-haproxy.sock")
SHORT = "--short-client-timeout" in sys.argv
NODES = {"node-a": "127.0.0.2", "node-b": "127.0.0.3", "node-c": "127.0.0.4"}
MODE = {n: "ok" for n in NODES}        # ok | frozen
OPEN_WS = {n: 0 for n in NODES}
T0 = time.time()


def log(*a):
    print(f"[{time.time() - T0:6.2f}] ", *a, flush=True)


async def serve_node(name, ip):
    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                hdrs = {}
                for l in lines[1:]:
                    if ":" in l:
                        k, v = l.split(":", 1)
                        hdrs.setdefault(k.strip().lower(), []).append(v.strip())
                if target == "/healthz":
                    if MODE[name] == "frozen":
                        await asyncio.sleep(3600)
                    body = b"ok"
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + body)
                    await writer.drain()
                    continue
                if "websocket" in ",".join(hdrs.get("upgrade", [])).lower():
                    key = hdrs["sec-websocket-key"][0]
                    acc = base64.b64encode(hashlib.sha1(
                        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
                    writer.write((f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {acc}\r\n"
                                  f"X-Node: {name}\r\n\r\n").encode())
                    await writer.drain()
                    OPEN_WS[name] += 1
                    try:
                        while True:
                            data = await reader.read(4096)
                            if not data:
                                break
                            writer.write(data)
                            await writer.drain()
                    finally:
                        OPEN_WS[name] -= 1
                    return
                body = json.dumps({"node": name, "target": target, "headers": hdrs}).encode()
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, ip, 8080)


def start_nodes():
    loop = asyncio.new_event_loop()
    servers = {}

    def run():
        asyncio.set_event_loop(loop)
        for n, ip in NODES.items():
            servers[n] = loop.run_until_complete(serve_node(n, ip))
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    time.sleep(0.3)
    return loop, servers


def http_get(path, extra_headers=""):
    s = socket.create_connection(FRONT, timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: ringside.test\r\n{extra_headers}"
              f"Connection: close\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1])
    return status, body


def ws_open(path):
    s = socket.create_connection(FRONT, timeout=5)
    key = base64.b64encode(b"0123456789abcdef").decode()
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: ringside.test\r\nUpgrade: websocket\r\n"
              f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
              f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    node = [l.split(":")[1].strip() for l in head.decode().split("\r\n") if l.lower().startswith("x-node")]
    return s, head.split(b"\r\n")[0].decode(), node[0] if node else None


def admin(cmd):
    s = socket.socket(socket.AF_UNIX)
    s.connect(ADMIN)
    s.sendall((cmd + "\n").encode())
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    return out.decode()


def server_states():
    # "show servers state visitor": field 6 (0-based 5) is srv_op_state, 2 = running
    st = {}
    for line in admin("show servers state visitor").splitlines():
        f = line.split()
        if len(f) > 6 and f[1] == "visitor":
            st[f[3]] = "UP" if f[5] == "2" else "DOWN"
    return st


def wait_server(name, want, limit):
    start = time.time()
    while time.time() - start < limit:
        if server_states().get(name) == want:
            return time.time() - start
        time.sleep(0.1)
    return None


def main():
    results = []

    def check(name, ok, detail=""):
        results.append((name, ok))
        log(("PASS " if ok else "FAIL ") + name + (f"  ({detail})" if detail else ""))

    loop, servers = start_nodes()
    t = [wait_server(n, "UP", 5) for n in NODES]
    check("all three nodes UP by /healthz", all(x is not None for x in t), str(server_states()))

    status, body = http_get("/api/v1/things", "X-Forwarded-For: 10.9.9.9\r\n")
    j = json.loads(body)
    h = j["headers"]
    check("plain request reaches a node", status == 200, f"{status} {j['node']}")
    check("X-Forwarded-For ends with the client address", h.get("x-forwarded-for", [""])[-1]
          .split(",")[-1].strip() == "127.0.0.1", str(h.get("x-forwarded-for")))
    check("X-Forwarded-Proto: http", h.get("x-forwarded-proto") == ["http"],
          str(h.get("x-forwarded-proto")))
    check("X-Request-Id added", bool(h.get("x-request-id")), str(h.get("x-request-id")))
    status, body = http_get("/x", "X-Request-Id: keep-me\r\n")
    check("client X-Request-Id kept", json.loads(body)["headers"].get("x-request-id") == ["keep-me"])
    status, _ = http_get("/edge/healthz")
    check("edge health 200 with nodes up", status == 200, str(status))

    # stickiness: 30 visitors x 4 requests each
    owner, sticky = {}, True
    for v in range(30):
        seen = set()
        for _ in range(4):
            _, body = http_get(f"/api/widgets/w1/messages?visitorId=v{v}")
            seen.add(json.loads(body)["node"])
        sticky &= len(seen) == 1
        owner[f"v{v}"] = seen.pop()
    spread = {n: list(owner.values()).count(n) for n in NODES}
    check("each visitorId always lands on one node", sticky)
    check("visitors spread over all nodes", all(spread.values()), str(spread))

    # websocket through the edge, on the visitor's node
    vb = next(v for v, n in owner.items() if n == "node-b")
    va = next(v for v, n in owner.items() if n == "node-a")
    ws_b, line, node = ws_open(f"/api/widgets/w1/ws?key=k&visitorId={vb}")
    check("widget socket upgraded (101) on the visitor's node", "101" in line and node == "node-b",
          f"{line}, {node}")
    ws_b.sendall(b"hello")
    check("socket echoes through the tunnel", ws_b.recv(16) == b"hello")
    ws_a, _, node_a = ws_open(f"/api/widgets/w1/ws?key=k&visitorId={va}")
    if SHORT:
        # config run with `timeout client 2s`: an idle socket must outlive it (tunnel 1h)
        time.sleep(4)
        ws_a.sendall(b"still")
        check("idle socket survives 4 s > timeout client (timeout tunnel applies)",
              ws_a.recv(16) == b"still")

    # freeze node-b: health checks hang, its open socket must be cut, its visitors move
    MODE["node-b"] = "frozen"
    froze = time.time()
    t_down = wait_server("node-b", "DOWN", 6)
    # worst case: up to 1 s to the next check + 1 s check timeout + 1 s inter + 1 s timeout
    check("hung node-b marked DOWN within 4.5 s (inter 1s, fall 2, timeout check 1s)",
          t_down is not None and t_down < 4.5, f"{t_down and round(t_down, 2)} s")
    ws_b.settimeout(3)
    try:
        closed = ws_b.recv(16) == b""
    except (socket.timeout, ConnectionError):
        closed = False
    check("open socket on node-b closed by HAProxy (on-marked-down shutdown-sessions)", closed,
          f"{time.time() - froze:.2f} s after freeze")
    ws_a.sendall(b"ping")
    check("socket on node-a untouched", ws_a.recv(16) == b"ping")
    moved = {v: json.loads(http_get(f"/x?visitorId={v}")[1])["node"] for v in owner}
    stayed = all(moved[v] == n for v, n in owner.items() if n != "node-b")
    check("visitors of node-a/node-c keep their node (consistent hash)", stayed)
    check("visitors of node-b moved to live nodes",
          all(moved[v] != "node-b" for v, n in owner.items() if n == "node-b"))
    ws_b2, line, node = ws_open(f"/api/widgets/w1/ws?key=k&visitorId={vb}")
    check("node-b's visitor reconnects to a live node", "101" in line and node != "node-b",
          f"{line}, {node}")

    MODE["node-b"] = "ok"
    t_up = wait_server("node-b", "UP", 5)
    check("node-b UP again after 1 good check", t_up is not None, f"{t_up and round(t_up, 2)} s")
    _, body = http_get(f"/x?visitorId={vb}")
    check("node-b's visitor goes back to node-b", json.loads(body)["node"] == "node-b")

    # node-c's process dies (connection refused): no check timeout to wait for
    loop.call_soon_threadsafe(servers["node-c"].close)
    t_down = wait_server("node-c", "DOWN", 6)
    check("dead node-c (connection refused) marked DOWN within 2.5 s",
          t_down is not None and t_down < 2.5, f"{t_down and round(t_down, 2)} s")

    # all nodes gone: edge health says so
    for n in NODES:
        MODE[n] = "frozen"
    for n in NODES:
        wait_server(n, "DOWN", 6)
    status, _ = http_get("/edge/healthz")
    check("edge health 503 with every node down", status == 503, str(status))
    status, _ = http_get("/api/v1/things")
    check("requests get 503 with every node down", status == 503, str(status))

    for s in (ws_a, ws_b, ws_b2):
        s.close()
    passed = sum(1 for _, ok in results if ok)
    print(f"{passed} passed, {len(results) - passed} failed")
    return 0 if passed == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
