"""Durable ingest throughput against the real server: ``.venv/bin/python -m bench.ingest``.

Starts ``wsgi.py`` on a free loopback port with a temporary data folder, sends a
bounded number of batches of 1,000 points (JSON), and reports points per second
acknowledged (each batch fsync'd before its 200).
"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(data_dir: str, extra: dict[str, str] | None = None,
                 log: Any = subprocess.DEVNULL,
                 root: Path = ROOT) -> tuple[subprocess.Popen[bytes], str]:
    """Run ``root``'s wsgi.py (its stderr to ``log``) and wait (at most 20 s) for /healthz."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASH_")}
    env.update(DASH_PORT=str(port), DASH_DATA_DIR=data_dir, DASH_INGEST_TOKEN=TOKEN,
               DASH_SECRET_KEY=secrets.token_hex(16), DASH_LOG_LEVEL="WARNING")
    env.update(extra or {})
    process = subprocess.Popen([sys.executable, "wsgi.py"], cwd=root, env=env,
                               stdout=subprocess.DEVNULL, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/healthz", timeout=1).read()
            return process, url
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("server did not start")


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
    with tempfile.TemporaryDirectory() as data_dir:
        process, url = start_server(data_dir)
        try:
            send(url, bodies[0])  # creates the dataset
            started = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                list(pool.map(lambda b: send(url, b), bodies[1:]))
            elapsed = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(10)
    points = (args.batches - 1) * args.size
    print(f"durable ingest: {points:,} points in {elapsed:.2f} s = {points / elapsed:,.0f} "
          f"points/s ({args.size} per batch, {args.clients} client(s), "
          f"{elapsed / (args.batches - 1) * 1000:.1f} ms per batch)")


if __name__ == "__main__":
    main()
