"""Back-to-back keep-alive requests right after an ingest: ``python -m bench.keepalive``.

Looks for the ~40 ms stalls of Nagle's algorithm meeting a delayed ACK, which a
response written in two pieces (headers, then a body too big for eventlet's 16 KB
write buffer) can hit: the body's last partial segment waits for the client's ACK
of the headers, and the client waits up to 40 ms to send it. Starts ``wsgi.py`` on
loopback, fills a dataset so that raw views of it answer 8-58 KB of figure JSON,
then on one keep-alive ``http.client`` connection, per round: an ingest POST, then
``--gets`` figure GETs of one size back to back. Prints each size's median, p99 and
how many answers took over 30 ms. Bounded in count and time; only 127.0.0.1.
"""
from __future__ import annotations

import argparse
import http.client
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.servers import ROOT, TOKEN, start_server

STALL_MS = 30.0  # a delayed ACK is 40 ms on Linux; nothing else here takes this long
# Points per raw view, chosen so the figure JSON is about 8, 15, 30, 45 and 58 KB.
WINDOW_POINTS = (250, 500, 1000, 1500, 2000)


def points(start: int, count: int) -> list[dict[str, Any]]:
    """``count`` points of metric ``v`` one second apart, from second ``start``."""
    base = 1_714_521_600
    return [{"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + n)),
             "v": float(n % 97) + 0.125, "host": "web-1"} for n in range(start, start + count)]


def request(conn: http.client.HTTPConnection, method: str, path: str,
            body: bytes | None = None) -> tuple[float, int]:
    """One request on the kept-alive connection: (milliseconds, body bytes)."""
    headers = {"Connection": "keep-alive"}
    if body is not None:
        headers |= {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
    started = time.perf_counter()
    conn.request(method, path, body=body, headers=headers)
    answer = conn.getresponse()
    data = answer.read()
    took = (time.perf_counter() - started) * 1000
    if answer.status != 200:
        raise SystemExit(f"{method} {path}: {answer.status} {data[:200]!r}")
    return took, len(data)


def main() -> None:
    """Measure figure GETs after ingests on one keep-alive connection; print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--gets", type=int, default=3, help="figure GETs after each ingest")
    parser.add_argument("--server-root", default=str(ROOT),
                        help="run the server of another checkout (before and after)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        server, url = start_server(data_dir, root=Path(args.server_root))
        try:
            netloc = urlsplit(url).netloc
            conn = http.client.HTTPConnection(netloc, timeout=30)
            total = max(WINDOW_POINTS) + 10
            request(conn, "POST", "/api/d/ka/points", json.dumps(points(0, total)).encode())
            rows = []
            for size in WINDOW_POINTS:
                view = f"/api/d/ka/figure?metric=v&agg=raw&window={size}s"
                times: list[float] = []
                for n in range(args.rounds):
                    body = json.dumps(points(total + n, 1)).encode()
                    request(conn, "POST", "/api/d/ka/points", body)
                    for _ in range(args.gets):
                        took, length = request(conn, "GET", view)
                        times.append(took)
                total += args.rounds
                times.sort()
                rows.append((length, statistics.median(times),
                             times[min(len(times) - 1, int(0.99 * len(times)))],
                             sum(t > STALL_MS for t in times), len(times)))
            conn.close()
        finally:
            server.terminate()
            server.wait(10)
    print(f"# keep-alive figure GETs after an ingest, {time.strftime('%Y-%m-%d %H:%M')} UTC")
    print(f"| answer | median | p99 | over {STALL_MS:.0f} ms |")
    print("|---|---|---|---|")
    for length, median, p99, stalls, count in rows:
        print(f"| {length / 1024:.0f} KB | {median:.1f} ms | {p99:.1f} ms | {stalls}/{count} |")


if __name__ == "__main__":
    main()
