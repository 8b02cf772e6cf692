"""Fan-out latency: from an ingest's POST to the update arriving at every client.

``.venv/bin/python -m bench.fanout [--ws 1000] [--poll 200] [--js 1000] [--updates 20]``

Starts ``wsgi.py`` on loopback, connects WebSocket clients (python-socketio's
AsyncClient) and long-poll clients (aiohttp) from separate processes, all
watching one view, then sends ``--updates`` acknowledged ingest batches and
records when each client sees each version. The WebSocket clients run twice,
against stock python-engineio WebSockets (``DASH_DIRECT_WEBSOCKETS=0``, the
baseline) and against ours; the long-poll clients' baseline is as many
python-socketio clients on Socket.IO's own long-polling transport. The ratios
are printed. Then the reference JavaScript client (socket.io-client, pinned in
``bench/js/package-lock.json``) in one node process (``--js-processes``): first
starting on long-polling and upgrading, as browsers do, then WebSocket only.

Latency is measured from just before each POST (so the fsync before its 200
counts) to each arrival; "p99 from 200" is from the POST's answer, as earlier
runs measured. Every loop is bounded in count and time; only 127.0.0.1 is
contacted. Needs the bench extras (``.venv/bin/pip install -r
requirements-bench.txt``) and, for the JavaScript client, node and ``npm ci
--prefix bench/js`` (``./dev bench`` does all of it).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.servers import ROOT, cpu_seconds, fanout_ms, post_points, server, wait_ready

VIEW = "metric=v&agg=raw&window=5m"
CONNECT_TIMEOUT = 120.0  # seconds for every client of a process to connect and subscribe
JS_DIR = Path(__file__).resolve().parent / "js"
# Updates sent before the measured ones, and not counted: in the first two to four, 1,000
# socket.io-clients in one node process handle each message more slowly (its JIT warming up):
# their slowest arrival was 36-44 ms against 20-28 ms for the later ones on a quiet machine,
# 80-120 ms against 40-70 ms with other work on it. 1,000 browsers would each warm up once.
WARMUP = 3
# The JavaScript client's kinds and the transports socket.io-client may use.
JS_TRANSPORTS = {
    "js": "polling,websocket",  # socket.io-client's default: long-polling, then the upgrade
    "js-ws": "websocket",
}
# Every client connects from 127.0.0.1, and each long-poll (and each client on Socket.IO's
# polling, until its upgrade) holds a waiting GET: the bounds of waiting requests per address
# (64) and in all (512) are for the open internet, and 200 pollers from one address got 503s;
# so are the open WebSockets per address (256).
MANY_CLIENTS_ONE_ADDRESS = {"DASH_MAX_WAITING": "2048", "DASH_MAX_WAITING_PER_IP": "2048",
                            "DASH_MAX_WEBSOCKETS_PER_IP": "4096", "DASH_MAX_VIEWS_PER_IP": "4096",
                            "DASH_MAX_CONNECTIONS_PER_IP": "4096"}


def post(url: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    return post_points(url, "fan", points)


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
    print(json.dumps({"seen": seen}), flush=True)


# -- the conductor ---------------------------------------------------------------------

def js_missing() -> str | None:
    """Why the JavaScript client cannot run here (None: it can)."""
    if shutil.which("node") is None:
        return ("node is not installed: `./dev bench` installs Debian's nodejs and npm, "
                "or `apt-get install nodejs npm`, then `npm ci --prefix bench/js`")
    if not (JS_DIR / "node_modules" / "socket.io-client").is_dir():
        return "bench/js has no node_modules: run `npm ci --prefix bench/js` (./dev bench does)"
    return None


def spawn(kind: str, url: str, count: int,
          node_profile: str | None = None) -> subprocess.Popen[str]:
    """A process of ``count`` clients of ``kind``: Python clients, or node for the js kinds
    (with ``node_profile``, a directory, node writes a --cpu-prof profile there)."""
    if kind in JS_TRANSPORTS:
        profile = ["--cpu-prof", "--cpu-prof-dir", node_profile] if node_profile else []
        command = ["node", "--expose-gc", *profile, str(JS_DIR / "clients.mjs"), url,
                   str(count), JS_TRANSPORTS[kind], "fan", VIEW]
    else:
        command = [sys.executable, "-m", "bench.fanout", "--client", kind, "--url", url,
                   "--count", str(count)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def rss(pid: int) -> int:
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(kind: str, clients: int, processes: int, updates: int, interval: float,
        label: str, profile: str | None = None, env: dict[str, str] | None = None,
        node_profile: str | None = None, keep_log: str | None = None,
        server_root: str | None = None) -> dict[str, Any]:
    """One measurement: ``clients`` of ``kind`` over ``processes`` processes."""
    with tempfile.TemporaryDirectory() as data_dir, \
            open(os.path.join(data_dir, "server.log"), "w+b") as server_log:
        # DEBUG: the server logs how long each fan-out took, from change to last write.
        with server(data_dir, {"DASH_MAX_UPDATES_PER_SECOND": "100", "DASH_LOG_LEVEL": "DEBUG",
                               **MANY_CLIENTS_ONE_ADDRESS, **(env or {})},
                    log=server_log, root=Path(server_root or ROOT)) as (process, url):
            post(url, [point(i) for i in range(100)])
            before_rss = rss(process.pid)
            per = [clients // processes + (i < clients % processes) for i in range(processes)]
            procs = [spawn(kind, url, n, node_profile) for n in per if n]
            wait_ready(procs, CONNECT_TIMEOUT)
            idle_rss = rss(process.pid)
            for n in range(WARMUP):  # not counted: first-time work (the node clients' JIT)
                post(url, [point(100 + n)])
                time.sleep(interval)
            profiler = None
            seconds = str(int(updates * interval) + 2)
            if profile and profile.endswith(".perf"):  # the kernel's side too (Linux perf)
                profiler = subprocess.Popen(
                    ["perf", "record", "-g", "-e", "cpu-clock", "-p", str(process.pid),
                     "-o", profile, "--", "sleep", seconds],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            elif profile:
                profiler = subprocess.Popen(
                    [os.path.join(os.path.dirname(sys.executable), "py-spy"), "record",
                     "--pid", str(process.pid), "--format", "raw", "--rate", "200",
                     "--output", profile, "--duration", seconds],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cpu_before = cpu_seconds(process.pid)
            posted: dict[str, float] = {}  # version -> just before its POST
            acked: dict[str, float] = {}  # version -> its 200 read
            for n in range(updates):
                before = time.time()
                answer = post(url, [point(100 + WARMUP + n)])
                acked[str(answer["version"])] = time.time()
                posted[str(answer["version"])] = before
                time.sleep(interval)
            time.sleep(1.0)  # bounded wait for the last deliveries
            cpu_after = cpu_seconds(process.pid)
            cpu_used, sys_used = cpu_after[0] - cpu_before[0], cpu_after[1] - cpu_before[1]
            if profiler is not None:
                profiler.wait(60)
            latencies: list[float] = []  # from the POST
            from_ack: list[float] = []
            per_update: dict[str, list[float]] = {}
            delivered = 0
            for proc in procs:
                out, _ = proc.communicate("stop\n", timeout=60)
                seen = json.loads(out.strip().splitlines()[-1])["seen"]
                for version, times in seen.items():
                    if version in acked:
                        # node reports milliseconds, Python seconds (both wall clock)
                        stamps = [t / 1000 for t in times] if kind in JS_TRANSPORTS else times
                        delivered += len(stamps)
                        mine = [(t - posted[version]) * 1000 for t in stamps]
                        latencies += mine
                        from_ack += [(t - acked[version]) * 1000 for t in stamps]
                        per_update.setdefault(version, []).extend(mine)
        if keep_log:  # the server's own log of this run, for a closer look
            server_log.seek(0)
            with open(keep_log, "ab") as kept:
                kept.write(f"# {label}\n".encode() + server_log.read())
        fanouts = fanout_ms(server_log)
    expected = clients * updates
    return {
        "label": label, "clients": clients, "updates": updates,
        "delivered": delivered, "expected": expected,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) if latencies else float("nan"),
        "max_ms": max(latencies) if latencies else float("nan"),
        "p99_from_ack_ms": percentile(from_ack, 0.99) if from_ack else float("nan"),
        "ingest_ms": statistics.median(
            (acked[v] - posted[v]) * 1000 for v in acked) if acked else float("nan"),
        "cpu_us_per_message": cpu_used / max(delivered, 1) * 1e6,
        "sys_us_per_message": sys_used / max(delivered, 1) * 1e6,
        "idle_kb_per_connection": (idle_rss - before_rss) / max(clients, 1) / 1024,
        # the server's own part: from taking the change to the last client's write
        "server_fanout_ms": statistics.median(fanouts) if fanouts else float("nan"),
        "server_fanout_max_ms": max(fanouts) if fanouts else float("nan"),
        "slowest_by_update_ms": [round(max(v)) for _, v in sorted(
            per_update.items(), key=lambda kv: int(kv[0]))],
        # where an update's time goes (medians over updates): POST to 200, 200 to the
        # first arrival, first to last arrival (the send loop and the clients' reading)
        "phases_ms": [statistics.median(phase) if phase else float("nan") for phase in (
            [(acked[v] - posted[v]) * 1000 for v in per_update],
            [min(t) - (acked[v] - posted[v]) * 1000 for v, t in per_update.items()],
            [max(t) - min(t) for t in per_update.values()])],
    }


def profile_path(template: str | None, kind: str) -> str | None:
    """Where the py-spy profile of one run goes: ``fanout.txt`` -> ``fanout.js-ws.txt``."""
    if not template:
        return None
    path = Path(template)
    return str(path.with_name(f"{path.stem}.{kind}{path.suffix}"))


def main() -> None:
    """Measure WebSocket, long-poll and JavaScript-client fan-out and print a table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", choices=[*TRANSPORTS, "poll"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ws", type=int, default=1000)
    parser.add_argument("--poll", type=int, default=200)
    parser.add_argument("--js", type=int, default=1000,
                        help="socket.io-client (node) clients; 0 skips them")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--js-processes", type=int, default=1,
                        help="node processes the JavaScript clients are spread over")
    parser.add_argument("--js-transports", choices=["both", "upgrade", "websocket"],
                        default="both", help="the JavaScript clients' runs: starting on "
                        "long-polling and upgrading (as browsers do), WebSocket only, or both")
    parser.add_argument("--updates", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--upgrade", action="store_true",
                        help="WebSocket clients start on long-polling and upgrade, as browsers do")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the baselines: stock engineio WebSockets "
                             "(DASH_DIRECT_WEBSOCKETS=0) and Socket.IO's long-polling")
    parser.add_argument("--profile", help="py-spy the server during each of our runs' updates "
                                          "into this file, the run's kind added to its name "
                                          "(collapsed stacks; a name ending in .perf: Linux "
                                          "perf, kernel included)")
    parser.add_argument("--node-profile", help="directory for node's --cpu-prof profiles "
                                               "of the JavaScript clients")
    parser.add_argument("--server-root", help="run the server of another checkout (a "
                                              "worktree of another commit: before and after "
                                              "in one run)")
    parser.add_argument("--server-log", help="append each run's server log (DEBUG: every "
                                             "fan-out's duration) to this file")
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
    common: dict[str, Any] = {"keep_log": args.server_log, "server_root": args.server_root}
    ws_base = run(ws_kind, *ws_args, label="WebSocket, stock engineio",
                  env={"DASH_DIRECT_WEBSOCKETS": "0"}, **common) if baselines[0] else None
    ws = run(ws_kind, *ws_args, label="WebSocket", profile=profile_path(args.profile, ws_kind),
             **common) if args.ws else None
    poll_base = run("sio-poll", *poll_args, label="Socket.IO long-polling",
                    **common) if baselines[1] else None
    poll = run("poll", *poll_args, label="long-poll (/poll)", **common) if args.poll else None
    js_rows = []
    why_not = js_missing() if args.js else None
    if why_not:
        print(f"JavaScript client skipped: {why_not}", file=sys.stderr, flush=True)
    elif args.js:
        kinds = {"both": ["js", "js-ws"], "upgrade": ["js"], "websocket": ["js-ws"]}
        for kind in kinds[args.js_transports]:
            how = "polling, upgraded" if kind == "js" else "WebSocket only"
            js_rows.append(run(
                kind, args.js, args.js_processes, args.updates, args.interval,
                label=f"socket.io-client ({how}, {args.js_processes} node process"
                      f"{'es' if args.js_processes > 1 else ''})",
                profile=profile_path(args.profile, kind),
                node_profile=args.node_profile, **common))
    rows = [r for r in (ws_base, ws, poll_base, poll, *js_rows) if r]
    print(f"# fan-out, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
          f"{os.cpu_count()} cores, view {VIEW}; latency from just before each POST")
    print("| clients | delivered | p50 | p99 | max | p99 from 200 | ingest (POST to 200) | "
          "server CPU / message | server fan-out (median, max) | idle memory / connection |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['clients']} {r['label']} | {r['delivered']}/{r['expected']} | "
              f"{r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms | "
              f"{r['p99_from_ack_ms']:.1f} ms | {r['ingest_ms']:.1f} ms | "
              f"{r['cpu_us_per_message']:.0f} µs ({r['sys_us_per_message']:.0f} in the kernel) | "
              f"{r['server_fanout_ms']:.1f} ms, "
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
        print("  medians over updates: POST to 200 {:.1f} ms, 200 to first arrival {:.1f} ms, "
              "first to last arrival {:.1f} ms".format(*r["phases_ms"]))


if __name__ == "__main__":
    main()
