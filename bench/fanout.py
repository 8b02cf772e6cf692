"""Fan-out latency: from an ingest POST's 200 to the update arriving at every client.

``.venv/bin/python -m bench.fanout [--ws 1000] [--poll 200] [--updates 20]``

Starts ``wsgi.py`` on loopback, connects WebSocket clients (python-socketio's
AsyncClient) and long-poll clients (aiohttp) from separate processes, all
watching one view, then sends ``--updates`` acknowledged ingest batches and
records when each client sees each version. The WebSocket clients run twice,
against stock python-engineio WebSockets (``DASH_DIRECT_WEBSOCKETS=0``, the
baseline) and against ours; the long-poll clients' baseline is as many
python-socketio clients on Socket.IO's own long-polling transport. The ratios
are printed. Every loop is bounded in count and
time; only 127.0.0.1 is contacted. Needs the bench extras:
``.venv/bin/pip install -r requirements-bench.txt``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from bench.ingest import TOKEN, start_server

VIEW = "metric=v&agg=raw&window=5m"
CONNECT_TIMEOUT = 120.0  # seconds for every client of a process to connect and subscribe


def post(url: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{url}/api/d/fan/points", data=json.dumps(points).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def point(n: int) -> dict[str, Any]:
    ms = 1_714_521_600_000 + n * 1000
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + "Z"
    return {"timestamp": stamp, "v": float(n % 97), "host": "web-1"}


# -- client processes ------------------------------------------------------------------

# Socket.IO client kinds and the transports they may use (the "poll" kind is aiohttp on /poll).
TRANSPORTS = {
    "ws": ["websocket"],
    "ws-upgrade": ["polling", "websocket"],  # starts on long-polling and upgrades, as browsers do
    "sio-poll": ["polling"],  # Socket.IO's own long-polling: the baseline for /poll
}


async def ws_clients(url: str, count: int, transports: list[str]) -> dict[str, list[float]]:
    import socketio  # python-socketio's asyncio client (aiohttp)

    seen: dict[str, list[float]] = {}
    clients = []

    async def one() -> None:
        client = socketio.AsyncClient(reconnection=False)
        got_first = asyncio.Event()

        def record(payload: dict[str, Any]) -> None:
            seen.setdefault(str(payload["version"]), []).append(time.time())
            got_first.set()

        client.on("update_chart", record)
        client.on("extend_chart", record)
        await client.connect(url, transports=transports, wait_timeout=30)
        await client.call("subscribe", {"dataset": "fan", "query": VIEW}, timeout=30)
        await asyncio.wait_for(got_first.wait(), 30)
        clients.append(client)

    for start in range(0, count, 50):  # connect in waves, not all at once
        await asyncio.gather(*(one() for _ in range(start, min(count, start + 50))))
    seen.clear()  # only the updates after "ready" count
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for client in clients:
        await client.disconnect()
    return seen


async def poll_clients(url: str, count: int) -> dict[str, list[float]]:
    import aiohttp

    seen: dict[str, list[float]] = {}
    ready = 0
    stop = asyncio.Event()
    all_ready = asyncio.Event()

    async def one(session: aiohttp.ClientSession) -> None:
        nonlocal ready
        since, epoch = None, ""
        first = True
        while not stop.is_set():
            params = {"timeout": "25", "epoch": epoch}
            if since is not None:
                params["since"] = str(since)
            async with session.get(f"{url}/api/d/fan/poll?{VIEW}", params=params) as answer:
                if answer.status == 200:
                    body = await answer.json()
                    since, epoch = body["version"], body["epoch"]
                    if first:
                        first = False
                        ready += 1
                        if ready == count:
                            all_ready.set()
                    elif all_ready.is_set():
                        seen.setdefault(str(since), []).append(time.time())

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        tasks = [asyncio.create_task(one(session)) for _ in range(count)]
        await asyncio.wait_for(all_ready.wait(), CONNECT_TIMEOUT)
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        stop.set()
        for task in tasks:
            task.cancel()
    return seen


def client_main(kind: str, url: str, count: int) -> None:
    """Run ``count`` clients of ``kind`` in this process; print their arrival times."""
    if kind in TRANSPORTS:
        seen = asyncio.run(ws_clients(url, count, TRANSPORTS[kind]))
    else:
        seen = asyncio.run(poll_clients(url, count))
    print(json.dumps(seen), flush=True)


# -- the conductor ---------------------------------------------------------------------

def spawn(kind: str, url: str, count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "bench.fanout", "--client", kind, "--url",
                             url, "--count", str(count)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def cpu_seconds(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(kind: str, clients: int, processes: int, updates: int, interval: float,
        label: str, profile: str | None = None,
        env: dict[str, str] | None = None) -> dict[str, Any]:
    """One measurement: ``clients`` of ``kind`` over ``processes`` processes."""
    with tempfile.TemporaryDirectory() as data_dir, \
            open(os.path.join(data_dir, "server.log"), "w+b") as server_log:
        # DEBUG: the server logs how long each fan-out took, from change to last write.
        server, url = start_server(data_dir, {"DASH_MAX_UPDATES_PER_SECOND": "100",
                                              "DASH_LOG_LEVEL": "DEBUG", **(env or {})},
                                   log=server_log)
        try:
            post(url, [point(i) for i in range(100)])
            before_rss = rss(server.pid)
            per = [clients // processes + (i < clients % processes) for i in range(processes)]
            procs = [spawn(kind, url, n) for n in per if n]
            deadline = time.monotonic() + CONNECT_TIMEOUT
            for proc in procs:
                assert proc.stdout is not None
                line = proc.stdout.readline().strip()
                if line != "ready" or time.monotonic() > deadline:
                    raise SystemExit(f"a client process did not get ready: {line!r}")
            idle_rss = rss(server.pid)
            profiler = None
            if profile:
                profiler = subprocess.Popen(
                    [os.path.join(os.path.dirname(sys.executable), "py-spy"), "record",
                     "--pid", str(server.pid), "--format", "raw", "--rate", "200",
                     "--output", profile, "--duration", str(int(updates * interval) + 2)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu_before = cpu_seconds(server.pid)
            acked: dict[str, float] = {}
            for n in range(updates):
                answer = post(url, [point(100 + n)])
                acked[str(answer["version"])] = time.time()
                time.sleep(interval)
            time.sleep(1.0)  # bounded wait for the last deliveries
            cpu_used = cpu_seconds(server.pid) - cpu_before
            if profiler is not None:
                profiler.wait(60)
            latencies: list[float] = []
            per_update: dict[str, list[float]] = {}
            delivered = 0
            for proc in procs:
                out, _ = proc.communicate("stop\n", timeout=60)
                seen = json.loads(out.strip().splitlines()[-1])
                for version, times in seen.items():
                    if version in acked:
                        delivered += len(times)
                        latencies += [(t - acked[version]) * 1000 for t in times]
                        per_update.setdefault(version, []).extend(
                            (t - acked[version]) * 1000 for t in times)
        finally:
            server.terminate()
            server.wait(10)
        server_log.seek(0)
        fanout_ms = [json.loads(line)["ms"] for line in server_log
                     if b'"event": "fanout"' in line]
    expected = clients * updates
    return {
        "label": label, "clients": clients, "updates": updates,
        "delivered": delivered, "expected": expected,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) if latencies else float("nan"),
        "max_ms": max(latencies) if latencies else float("nan"),
        "cpu_us_per_message": cpu_used / max(delivered, 1) * 1e6,
        "idle_kb_per_connection": (idle_rss - before_rss) / max(clients, 1) / 1024,
        # the server's own part: from taking the change to the last client's write
        "server_fanout_ms": statistics.median(fanout_ms) if fanout_ms else float("nan"),
        "server_fanout_max_ms": max(fanout_ms) if fanout_ms else float("nan"),
        "slowest_by_update_ms": [round(max(v)) for _, v in sorted(
            per_update.items(), key=lambda kv: int(kv[0]))],
    }


def main() -> None:
    """Measure WebSocket and long-poll fan-out and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", choices=[*TRANSPORTS, "poll"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ws", type=int, default=1000)
    parser.add_argument("--poll", type=int, default=200)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--upgrade", action="store_true",
                        help="WebSocket clients start on long-polling and upgrade, as browsers do")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the baselines: stock engineio WebSockets "
                             "(DASH_DIRECT_WEBSOCKETS=0) and Socket.IO's long-polling")
    parser.add_argument("--profile", help="py-spy the server during the WebSocket updates "
                                          "into this file (collapsed stacks)")
    args = parser.parse_args()
    if args.client:
        client_main(args.client, args.url, args.count)
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    ws_kind = "ws-upgrade" if args.upgrade else "ws"
    ws_args = (args.ws, args.processes, args.updates, args.interval)
    poll_args = (args.poll, max(1, args.processes // 2), args.updates, args.interval)
    baselines = args.ws and not args.no_baseline, args.poll and not args.no_baseline
    # Each baseline runs first, in the same run as what it is compared with.
    ws_base = run(ws_kind, *ws_args, label="WebSocket, stock engineio",
                  env={"DASH_DIRECT_WEBSOCKETS": "0"}) if baselines[0] else None
    ws = run(ws_kind, *ws_args, label="WebSocket", profile=args.profile) if args.ws else None
    poll_base = run("sio-poll", *poll_args,
                    label="Socket.IO long-polling") if baselines[1] else None
    poll = run("poll", *poll_args, label="long-poll (/poll)") if args.poll else None
    rows = [r for r in (ws_base, ws, poll_base, poll) if r]
    print(f"# fan-out, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
          f"{os.cpu_count()} cores, view {VIEW}")
    print("| clients | delivered | p50 | p99 | max | server CPU / message | "
          "server fan-out (median, max) | idle memory / connection |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clients']} {r['label']} | {r['delivered']}/{r['expected']} | "
              f"{r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms | "
              f"{r['cpu_us_per_message']:.0f} µs | {r['server_fanout_ms']:.1f} ms, "
              f"{r['server_fanout_max_ms']:.1f} ms | {r['idle_kb_per_connection']:.1f} KB |")
    for base, ours in ((ws_base, ws), (poll_base, poll)):
        if not (base and ours):
            continue
        print(f"{base['label']} / {ours['label']}, same run: "
              f"p99 {base['p99_ms'] / ours['p99_ms']:.1f}x, server CPU per message "
              f"{base['cpu_us_per_message'] / ours['cpu_us_per_message']:.1f}x, idle memory "
              f"{base['idle_kb_per_connection'] / ours['idle_kb_per_connection']:.1f}x")
    for r in rows:
        print(f"slowest arrival per update, {r['label']} (ms): {r['slowest_by_update_ms']}")


if __name__ == "__main__":
    main()
