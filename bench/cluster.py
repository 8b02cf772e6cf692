"""Cluster fan-out: 2,000 WebSocket clients over 2 processes against 1,000 on one.

``.venv/bin/python -m bench.cluster [--clients 1000] [--updates 20] [--interval 0.3]``

Three cases, one after another, each with its own servers on loopback:

1. one process, no Redis, ``--clients`` WebSocket clients (``bench.fanout``'s case);
2. one process in cluster mode (a redis-server from ``deploy/redis.conf``, AOF fsync'd on
   every write), the same clients: what the shared log adds to every update;
3. two processes in cluster mode with ``--clients`` clients each, every batch ingested at
   the first: the second process learns of it from its stream reader.

Clients are python-socketio ``AsyncClient``s in separate processes (``bench.fanout``'s
client mode), all watching one raw view. Latency = arrival at the client − the time the
POST's 200 was read. CPU per message = CPU seconds of every product process and of
redis-server over the updates ÷ messages delivered. Everything shares the machine's
cores with the clients: compare cases of one run, not runs of different days.
Needs the bench extras (``requirements-bench.txt``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.fanout import MANY_CLIENTS_ONE_ADDRESS, VIEW, percentile, point, post, spawn
from bench.servers import cpu_seconds, fanout_ms, server, wait_ready
from e2e.services import redis_server

CLIENT_PROCESSES = 2  # client processes per product process
READY_TIMEOUT = 180.0  # seconds for every client to connect and subscribe


def version_of(url: str) -> int:
    """Dataset ``fan``'s version at ``url`` (-1 while it has none)."""
    with urllib.request.urlopen(f"{url}/api/datasets", timeout=10) as answer:
        found = [d for d in json.loads(answer.read()) if d["name"] == "fan"]
    return int(found[0]["version"]) if found else -1


def run(label: str, processes: int, clients_each: int, cluster: bool, updates: int,
        interval: float) -> dict[str, Any]:
    """One case: ``processes`` servers with ``clients_each`` WebSocket clients each."""
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        work = Path(tmp)
        # DEBUG: each process logs how long each fan-out took, from change to last write.
        env = {"DASH_MAX_UPDATES_PER_SECOND": "100", "DASH_LOG_LEVEL": "DEBUG",
               **MANY_CLIENTS_ONE_ADDRESS}
        pids = []
        logs = []
        if cluster:
            redis = stack.enter_context(redis_server(work))
            env["DASH_REDIS_URL"] = redis.url
            assert redis.process is not None
            pids.append(redis.process.pid)
        with ExitStack() as running:  # the product processes, stopped before the logs are read
            urls = []
            for index in range(processes):
                data = work / f"data-{index}"
                data.mkdir()
                logs.append(stack.enter_context((work / f"server-{index}.log").open("w+b")))
                process, url = running.enter_context(server(str(data), env, log=logs[-1]))
                urls.append(url)
                pids.append(process.pid)
            post(urls[0], [point(i) for i in range(100)])
            deadline = time.monotonic() + 30
            while any(version_of(url) < 1 for url in urls):  # set-up only
                assert time.monotonic() < deadline, "a process never saw the dataset"
                time.sleep(0.1)
            per = clients_each // CLIENT_PROCESSES
            procs = [spawn("ws", url, per) for url in urls for _ in range(CLIENT_PROCESSES)]
            wait_ready(procs, READY_TIMEOUT)
            before = sum(cpu_seconds(pid)[0] for pid in pids)
            acked: dict[str, float] = {}
            for n in range(updates):
                answer = post(urls[0], [point(100 + n)])
                acked[str(answer["version"])] = time.time()
                time.sleep(interval)
            time.sleep(1.0)  # bounded wait for the last deliveries
            used = sum(cpu_seconds(pid)[0] for pid in pids) - before
            latencies: list[float] = []
            delivered = 0
            for proc in procs:
                out, _ = proc.communicate("stop\n", timeout=120)
                seen = json.loads(out.strip().splitlines()[-1])["seen"]
                for version, times in seen.items():
                    if version in acked:
                        delivered += len(times)
                        latencies += [(t - acked[version]) * 1000 for t in times]
        fanouts = [ms for log_file in logs for ms in fanout_ms(log_file)]  # every process's
    expected = processes * per * CLIENT_PROCESSES * updates
    return {"label": label, "delivered": delivered, "expected": expected,
            "p50": statistics.median(latencies) if latencies else float("nan"),
            "p99": percentile(latencies, 0.99) if latencies else float("nan"),
            "max": max(latencies) if latencies else float("nan"),
            "cpu_us": used / max(delivered, 1) * 1e6,
            "fanout_ms": statistics.median(fanouts) if fanouts else float("nan"),
            "fanout_max_ms": max(fanouts) if fanouts else float("nan")}


def main() -> None:
    """Run the three cases and print one table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000, help="WebSocket clients a process")
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.3)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    n = args.clients
    rows = [
        run(f"{n} on 1 process, no Redis", 1, n, False, args.updates, args.interval),
        run(f"{n} on 1 process, cluster mode", 1, n, True, args.updates, args.interval),
        run(f"{2 * n} on 2 processes ({n} each), cluster mode", 2, n, True, args.updates,
            args.interval),
    ]
    print(f"# cluster fan-out, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
          f"{os.cpu_count()} cores, view {VIEW}, {args.updates} updates "
          f"{args.interval} s apart")
    print("| clients | delivered | p50 | p99 | max | CPU / message (servers + Redis) | "
          "fan-out in a process (median, max) |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['label']} | {r['delivered']}/{r['expected']} | {r['p50']:.1f} ms | "
              f"{r['p99']:.1f} ms | {r['max']:.1f} ms | {r['cpu_us']:.0f} µs | "
              f"{r['fanout_ms']:.1f} ms, {r['fanout_max_ms']:.1f} ms |")


if __name__ == "__main__":
    main()
