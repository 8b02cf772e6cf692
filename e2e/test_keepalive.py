"""Keep-alive answers on the real server: no delayed-ACK stalls (Nagle's algorithm is off)."""
from __future__ import annotations

import http.client
import json
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from e2e.conftest import INGEST_TOKEN, Server

# Linux delays an ACK by at least 40 ms; an answer held by Nagle's algorithm waits that long.
STALL_MS = 30.0


def points(start: int, count: int) -> list[dict[str, Any]]:
    return [{"timestamp": f"2024-05-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z",
             "v": n % 97 + 0.125} for n in range(start, start + count)]


@pytest.mark.parametrize("window_points", [1000, 2000])  # ~30 KB and ~58 KB of JSON
def test_figures_over_the_write_buffer_come_back_without_a_delayed_ack_stall(
        live_server: Server, window_points: int) -> None:
    # eventlet writes such an answer in two pieces (headers, then the body); with Nagle
    # on, every one of these GETs took 44 ms on a kept-alive connection.
    live_server.post_points("ka", points(0, window_points + 20))
    address = urlsplit(live_server.url)
    conn = http.client.HTTPConnection(address.netloc, timeout=10)
    times, sizes = [], []
    try:
        for n in range(9):
            conn.request("POST", "/api/d/ka/points", body=json.dumps(
                points(window_points + 20 + n, 1)), headers={
                "Content-Type": "application/json", "Authorization": f"Bearer {INGEST_TOKEN}"})
            assert conn.getresponse().read()
            started = time.perf_counter()
            conn.request("GET", f"/api/d/ka/figure?metric=v&agg=raw&window={window_points}s")
            answer = conn.getresponse()
            body = answer.read()
            times.append((time.perf_counter() - started) * 1000)
            assert answer.status == 200
            sizes.append(len(body))
    finally:
        conn.close()
    assert min(sizes) > 20_000  # over eventlet's 16 KB write buffer, with the headers
    assert statistics.median(times) < STALL_MS, times
