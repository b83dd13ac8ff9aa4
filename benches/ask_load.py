#!/usr/bin/env python3
"""Open-loop load on POST /widget/ask (benches/ask_load.sh): fills a widget's knowledge with
RS_SOURCES text sources (about 250 passages each) through the API, then asks RS_RATE
questions a second for RS_DURATION seconds over RS_CONNS keep-alive connections. Each
request's latency counts from the moment it was due (a late send is counted as waiting, so a
server that falls behind shows it). Prints the latency distribution; the last line is
`ask_http_p99_ms: N`.

Environment: RS_BASE (http://127.0.0.1:port), RS_TOKEN (widgets:write), RS_WIDGET, RS_KEY,
RS_DOMAIN, RS_SOURCES (40), RS_RATE (200), RS_DURATION (30), RS_CONNS (32)."""
import asyncio
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request

TOPICS = ("shipping delivery returns exchange warranty payment invoice discount voucher membership "
          "subscription installation assembly cleaning repair spare battery charger screen keyboard "
          "printer router camera lens tripod backpack tent sleeping stove lantern kayak paddle helmet "
          "bicycle saddle pedal chain brake tyre pump lock light bell basket rack mudguard kickstand "
          "mirror horn glove").split()
WORDS = ("order customer team working days store online price euros free standard express country "
         "europe portugal spain france germany model size colour material steel aluminium carbon "
         "weight guarantee years manual support email phone hours week month parcel tracking label "
         "package box receipt account password newsletter gift card points reward quality check").split()

BASE = os.environ["RS_BASE"]
TOKEN = os.environ["RS_TOKEN"]
WIDGET = os.environ["RS_WIDGET"]
KEY = os.environ["RS_KEY"]
DOMAIN = os.environ.get("RS_DOMAIN", "www.example.com")
SOURCES = int(os.environ.get("RS_SOURCES", "40"))
RATE = float(os.environ.get("RS_RATE", "200"))
DURATION = float(os.environ.get("RS_DURATION", "30"))
CONNS = int(os.environ.get("RS_CONNS", "32"))


def text_source(rng, topic):
    """About 200,000 characters of paragraphs about `topic` (the chunker makes ~250 passages)."""
    paras = []
    size = 0
    while size < 195_000:
        p = []
        while sum(len(s) for s in p) < 600:
            n = rng.randint(8, 15)
            p.append("The " + topic + " " + " ".join(rng.choice(WORDS) for _ in range(n)) + ".")
        para = " ".join(p)
        paras.append(para)
        size += len(para) + 2
    return "\n\n".join(paras)


def api(method, path, body):
    req = urllib.request.Request(BASE + path, method=method, data=json.dumps(body).encode(),
                                 headers={"Authorization": "Bearer " + TOKEN,
                                          "Content-Type": "application/json"})
    while True:
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return json.load(r)
        except urllib.error.HTTPError as e:
            if e.code == 429:
                time.sleep(float(e.headers.get("Retry-After") or 1))
                continue
            raise


def fill():
    rng = random.Random(7)
    t0 = time.monotonic()
    passages = 0
    for s in range(SOURCES):
        topic = TOPICS[s % len(TOPICS)]
        src = api("POST", f"/api/v1/widgets/{WIDGET}/knowledge/sources",
                  {"type": "text", "title": f"{topic} guide {s}", "text": text_source(rng, topic)})
        passages += src["passages"]
    took = time.monotonic() - t0
    print(f"# knowledge: {SOURCES} sources, {passages} passages, added and indexed through the API in {took:.1f} s")
    return passages


def question(rng):
    if rng.random() < 0.1:
        return f"Do you repair submarine periscopes number {rng.randint(0, 10**6)}?"
    return f"How does the {rng.choice(TOPICS)} {rng.choice(WORDS)} {rng.choice(WORDS)} work?"


async def conn_worker(queue, results, host, port):
    reader = writer = None
    while True:
        item = await queue.get()
        if item is None:
            break
        due, body = item
        for attempt in range(2):
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(host, port)
                head = (f"POST /widget/ask HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
                writer.write(head.encode() + body)
                await writer.drain()
                status_line = await reader.readline()
                status = int(status_line.split()[1])
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b""):
                        break
                    k, _, v = line.decode().partition(":")
                    if k.lower() == "content-length":
                        length = int(v)
                data = await reader.readexactly(length)
                results.append((time.monotonic() - due, status, data))
                break
            except (ConnectionError, asyncio.IncompleteReadError, IndexError, ValueError):
                writer = None
                if attempt == 1:
                    results.append((time.monotonic() - due, 0, b""))
    if writer is not None:
        writer.close()


async def load():
    host, port = BASE.split("//")[1].split(":")
    port = int(port)
    rng = random.Random(11)
    queue = asyncio.Queue()
    results = []
    workers = [asyncio.create_task(conn_worker(queue, results, host, port)) for _ in range(CONNS)]
    n = int(RATE * DURATION)
    start = time.monotonic() + 0.1
    for i in range(n):
        due = start + i / RATE
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        body = json.dumps({"clientId": WIDGET, "widgetKey": KEY, "domain": DOMAIN,
                           "sessionId": f"load-visitor-{i % 2000:06d}-0000000000",
                           "message": question(rng)}).encode()
        queue.put_nowait((due, body))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.monotonic() - start
    return results, n, elapsed


def main():
    fill()
    # Warm-up: the reader's caches as a running server's would be.
    rate, duration = RATE, DURATION
    globals()["DURATION"] = 3
    asyncio.run(load())
    globals()["DURATION"] = duration
    results, n, elapsed = asyncio.run(load())
    lat = sorted(r[0] for r in results)
    ok = [r for r in results if r[1] == 200]
    answered = sum(1 for r in ok if json.loads(r[2]).get("sources"))
    bad = len(results) - len(ok)
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print(f"# {n} questions at {rate:.0f}/s over {CONNS} connections in {elapsed:.1f} s: "
          f"{len(ok)} answered 200 ({answered} with sources), {bad} failed")
    print(f"# latency from due time: p50 {pct(0.5):.1f} ms, p90 {pct(0.9):.1f} ms, "
          f"p99 {pct(0.99):.1f} ms, max {lat[-1] * 1000:.1f} ms")
    if bad:
        sys.exit(f"{bad} requests failed")
    print(f"ask_http_p50_ms: {pct(0.5):.1f}")
    print(f"ask_http_p99_ms: {pct(0.99):.1f}")


main()
