"""Cluster mode's log: append latency to a real redis-server, reader lag, entry encoding.

    .venv/bin/python -m bench.redislog [--appends 300]

Starts its own redis-server (deploy/redis.conf, AOF in a temporary folder on disk), then
for batches of 1 and 1,000 points times ``RedisLog.append`` end to end (encode, one
EVALSHA, Redis's write + fsync of the AOF, the answer) under ``appendfsync always`` and,
for comparison, ``everysec``; the time until a second client's blocking read returns the
entry; and encode/decode of 1,000 and 100,000 points.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import redis

from app.data.redislog import RedisLog, StreamBatch, decode_batch, encode_batch
from app.data.schema import Batch
from e2e.services import redis_server

SCHEMA = '{"kind": "long", "labels": ["host", "region"], "metrics": [], "timestamp": "ts"}'
SECOND = 1_000_000_000


def points(n: int, start: int = 0) -> Batch:
    """``n`` long-form points over 20 hosts x 4 regions, one per second."""
    i = np.arange(start, start + n)
    return Batch(
        ts=1_714_521_600 * SECOND + i.astype(np.int64) * SECOND,
        metric=np.array(["cpu", "mem", "latency_ms"], dtype=object)[i % 3],
        value=np.random.default_rng(start).normal(50, 10, n),
        labels={"host": np.array([f"web-{k}" for k in range(20)], dtype=object)[i % 20],
                "region": np.array(["eu", "us", "ap", "sa"], dtype=object)[i % 4]})


def percentiles(samples: list[float]) -> str:
    """p50 / p99 / max of ``samples`` (ms)."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"{statistics.median(ordered):7.3f} {p99:7.3f} {ordered[-1]:7.3f}"


def time_appends(log: RedisLog, name: str, size: int, count: int) -> list[float]:
    """Milliseconds per append of ``count`` batches of ``size`` points (after 10 warm-ups)."""
    batches = [points(size, k * size) for k in range(count + 10)]
    took = []
    for k, batch in enumerate(batches):
        started = time.perf_counter()
        log.append(name, SCHEMA, batch)
        if k >= 10:
            took.append((time.perf_counter() - started) * 1000)
    return took


def reader_lag(url: str, count: int) -> list[float]:
    """Milliseconds from the start of an append to a blocked reader holding its entry."""
    writer, reader = RedisLog(url), RedisLog(url)
    cursors, _ = reader.start()
    arrived: dict[int, float] = {}
    done = threading.Event()
    got = threading.Event()

    def tail() -> None:
        while not done.is_set():
            for event in reader.read(cursors, block_ms=200):
                if isinstance(event, StreamBatch) and event.dataset == "lag":
                    arrived[event.version] = time.perf_counter()
                    got.set()

    thread = threading.Thread(target=tail, daemon=True)
    thread.start()
    sent: dict[int, float] = {}
    for k in range(count):
        got.clear()
        started = time.perf_counter()
        version, _ = writer.append("lag", SCHEMA, points(1, k))
        sent[version] = started
        got.wait(5)  # one at a time: the lag, not a queue
    done.set()
    thread.join()
    writer.close()
    reader.close()
    return [(arrived[v] - sent[v]) * 1000 for v in sent]


def codec(size: int) -> str:
    """Encode and decode milliseconds and entry size for ``size`` points."""
    batch = points(size)
    reps = max(3, 20_000 // size)
    started = time.perf_counter()
    for _ in range(reps):
        header, data = encode_batch(batch)
    encode = (time.perf_counter() - started) / reps * 1000
    started = time.perf_counter()
    for _ in range(reps):
        decode_batch(header, data)
    decode = (time.perf_counter() - started) / reps * 1000
    return (f"{size:>7,} points: encode {encode:7.3f} ms, decode {decode:6.3f} ms, "
            f"{(len(header) + len(data)) / 1000:8.1f} kB")


def main() -> None:
    """Run every measurement and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=300)
    args = parser.parse_args()
    print(codec(1000))
    print(codec(100_000))
    with tempfile.TemporaryDirectory(dir=Path.home()) as workdir, \
            redis_server(Path(workdir)) as server:
        log = RedisLog(server.url)
        admin = redis.Redis.from_url(server.url)
        print(f"\nappend end to end, {args.appends} appends each   p50     p99     max (ms)")
        for fsync in ("always", "everysec"):
            admin.config_set("appendfsync", fsync)
            for size in (1, 1000):
                took = time_appends(log, f"d{size}{fsync}", size, args.appends)
                print(f"appendfsync {fsync:8} {size:>5,} points   {percentiles(took)}")
        admin.config_set("appendfsync", "always")
        lag = reader_lag(server.url, min(args.appends, 200))
        print(f"append start -> reader has it (1 point)    {percentiles(lag)}")
        log.close()


if __name__ == "__main__":
    main()
