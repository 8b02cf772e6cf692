"""Durable ingest throughput against the real server: ``.venv/bin/python -m bench.ingest``.

Starts ``wsgi.py`` on a free loopback port with a temporary data folder, sends a
bounded number of batches of 1,000 points (JSON), and reports points per second
acknowledged (each batch fsync'd before its 200).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from bench.servers import TOKEN, server


def iso_body(batch: int, size: int) -> bytes:
    """Like ``body`` with ISO-8601 timestamps (what the API takes)."""
    import datetime as dt
    base = dt.datetime(2024, 5, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=batch)
    return json.dumps([{"timestamp": (base + dt.timedelta(microseconds=i)).isoformat()
                        .replace("+00:00", "Z"), "cpu": float(i % 100),
                        "host": f"web-{i % 20}"} for i in range(size)]).encode()


def send(url: str, data: bytes) -> None:
    request = urllib.request.Request(f"{url}/api/d/bench/points", data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def main() -> None:
    """Send the batches and print points/s."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=1)
    args = parser.parse_args()
    bodies = [iso_body(i, args.size) for i in range(args.batches)]
    with tempfile.TemporaryDirectory() as data_dir, server(data_dir) as (_, url):
        send(url, bodies[0])  # creates the dataset
        started = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            list(pool.map(lambda b: send(url, b), bodies[1:]))
        elapsed = time.perf_counter() - started
    points = (args.batches - 1) * args.size
    print(f"durable ingest: {points:,} points in {elapsed:.2f} s = {points / elapsed:,.0f} "
          f"points/s ({args.size} per batch, {args.clients} client(s), "
          f"{elapsed / (args.batches - 1) * 1000:.1f} ms per batch)")


if __name__ == "__main__":
    main()
