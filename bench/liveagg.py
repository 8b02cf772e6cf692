"""Live aggregated views: from just before an ingest POST to the update at every client.

``.venv/bin/python -m bench.liveagg [--points 2000000] [--clients 20] [--updates 40]
[--root /path/to/other/checkout]``

Writes a CSV of ``--points`` points (20 hosts, one point each every 10 s, 11.6 days at
2M) into a temporary data folder, starts ``wsgi.py`` on loopback over it, connects
``--clients`` Socket.IO clients (python-socketio, WebSocket, one separate process) to
the whole-history view ``metric=cpu&agg=p95&bucket=1h&by=host``, then sends
``--updates`` ingest batches of one point each, ``--interval`` seconds apart (each a
little later than the newest point, so some start a new hour). Latency is measured from
just before each POST (its fsync counts) to each client's receipt of that version,
``update_chart`` or ``extend_chart`` alike. ``--root`` runs the server of another
checkout (``/work/main``: the code before a change) against the same clients and data.
Prints p50, p99 and max, the server's own fan-out time (its DEBUG log), and which events
arrived; then, in this process over the same points, the figure of one change computed
whole against redrawn by parts, and the bytes of each message. Only 127.0.0.1 is
contacted; every wait is bounded. Needs the bench extras:
``.venv/bin/pip install -r requirements-bench.txt``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.servers import ROOT, post_points, start_server

VIEW = "metric=cpu&agg=p95&bucket=1h&by=host"
HOSTS = [f"web-{i}" for i in range(1, 21)]
START_S = 1_714_521_600  # 2024-05-01T00:00:00Z
STEP_S = 10  # each host's points are this far apart
START_TIMEOUT = 180.0  # seconds for the server to load the data and answer
CONNECT_TIMEOUT = 60.0


def write_csv(path: Path, points: int) -> int:
    """``points`` points of ``cpu`` (20 hosts, every ``STEP_S`` s) as a wide CSV; the
    newest instant (s)."""
    instants = -(-points // len(HOSTS))
    rng = np.random.default_rng(15)
    seconds = START_S + np.repeat(np.arange(instants) * STEP_S, len(HOSTS))[:points]
    stamps = np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s")
    hosts = np.tile(HOSTS, instants)[:points]
    values = np.round(rng.normal(50, 10, points), 2)
    with path.open("w") as out:
        out.write("timestamp,cpu,host\n")
        for i in range(0, points, 100_000):
            part = slice(i, i + 100_000)
            out.write("".join(f"{t}Z,{v},{h}\n" for t, v, h in
                              zip(stamps[part], values[part], hosts[part], strict=True)))
    return int(seconds[-1])


def post(url: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    return post_points(url, "fleet", points)


def start(root: Path, data_dir: Path, log: Any) -> tuple[subprocess.Popen[bytes], str]:
    """``wsgi.py`` of checkout ``root`` over ``data_dir``, once it has loaded the data."""
    return start_server(str(data_dir), {"DASH_LOG_LEVEL": "DEBUG"}, log, root,
                        timeout=START_TIMEOUT)


# -- the client process --------------------------------------------------------------------

async def clients(url: str, count: int) -> dict[str, Any]:
    import socketio  # python-socketio's asyncio client (aiohttp)

    seen: dict[str, list[float]] = {}
    events: dict[str, int] = {}
    connected = []

    async def one() -> None:
        client = socketio.AsyncClient(reconnection=False)
        first = asyncio.Event()

        def record(name: str) -> Any:
            def handler(payload: dict[str, Any]) -> None:
                seen.setdefault(str(payload["version"]), []).append(time.time())
                events[name] = events.get(name, 0) + 1
                first.set()
            return handler

        client.on("update_chart", record("update_chart"))
        client.on("extend_chart", record("extend_chart"))
        await client.connect(url, transports=["websocket"], wait_timeout=30,
                             auth={"parts": True})
        await client.call("subscribe", {"dataset": "fleet", "query": VIEW}, timeout=60)
        await asyncio.wait_for(first.wait(), 60)
        connected.append(client)

    await asyncio.gather(*(one() for _ in range(count)))
    seen.clear()
    events.clear()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for client in connected:
        await client.disconnect()
    return {"seen": seen, "events": events}


# -- the conductor ---------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run(root: Path, csv: Path, newest: int, count: int, updates: int,
        interval: float) -> dict[str, Any]:
    """One measurement against the server of checkout ``root``."""
    with tempfile.TemporaryDirectory() as folder:
        data_dir = Path(folder) / "data"
        data_dir.mkdir()
        shutil.copy(csv, data_dir / "fleet.csv")
        with open(Path(folder) / "server.log", "w+b") as log:
            loading = time.monotonic()
            server, url = start(root, data_dir, log)
            loaded_s = time.monotonic() - loading
            try:
                proc = subprocess.Popen([sys.executable, "-m", "bench.liveagg", "--client",
                                         "--url", url, "--clients", str(count)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, cwd=Path(__file__).parent.parent)
                assert proc.stdout is not None and proc.stdin is not None
                line = proc.stdout.readline().strip()
                if line != "ready":
                    raise SystemExit(f"the clients did not get ready: {line!r}")
                before: dict[str, float] = {}
                for n in range(1, updates + 1):
                    # 120 s after the newest point each time: a new hour every 30 updates.
                    second = newest + n * 120
                    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(second))
                    sent = time.time()
                    answer = post(url, [{"timestamp": stamp, "cpu": float(n % 90),
                                         "host": HOSTS[n % len(HOSTS)]}])
                    before[str(answer["version"])] = sent
                    time.sleep(interval)
                time.sleep(1.0)  # bounded wait for the last deliveries
                out, _ = proc.communicate("stop\n", timeout=60)
            finally:
                server.terminate()
                server.wait(10)
            log.seek(0)
            fanout_ms = [json.loads(line)["ms"] for line in log if b'"event": "fanout"' in line]
    received = json.loads(out.strip().splitlines()[-1])
    latencies = [(t - before[v]) * 1000 for v, times in received["seen"].items()
                 if v in before for t in times]
    return {
        "delivered": len(latencies), "expected": count * updates,
        "p50_ms": statistics.median(latencies) if latencies else float("nan"),
        "p99_ms": percentile(latencies, 0.99) if latencies else float("nan"),
        "max_ms": max(latencies, default=float("nan")),
        "fanout_ms": statistics.median(fanout_ms) if fanout_ms else float("nan"),
        "fanout_max_ms": max(fanout_ms, default=float("nan")),
        "events": received["events"], "load_s": loaded_s,
    }


def in_process(points: int, updates: int) -> dict[str, float]:
    """Per change of the view (one point, as the server gets them): median ms of its figure
    computed whole and redrawn by parts, and bytes of update_chart against extend_chart."""
    from urllib.parse import parse_qsl

    from app.data.schema import Batch, Schema
    from app.data.store import Dataset
    from app.engine.delta import LiveCharts, extension
    from app.engine.drawing import ChartLimits
    from app.engine.serieskeys import SeriesKeys
    from app.engine.view import parse_view
    from app.jsoncodec import dumps

    instants = -(-points // len(HOSTS))
    ns = (START_S + np.repeat(np.arange(instants) * STEP_S, len(HOSTS))[:points]) * 10**9
    dataset = Dataset("fleet", Schema("timestamp", "wide", ("cpu",), ("host",)))
    dataset.append(Batch(ns, np.full(points, "cpu", object),
                         np.round(np.random.default_rng(15).normal(50, 10, points), 2),
                         {"host": np.tile(np.array(HOSTS, object), instants)[:points]}))
    charts = LiveCharts(ChartLimits(), SeriesKeys())
    snap = dataset.snapshot()
    view = parse_view(parse_qsl(VIEW), snap.metrics, tuple(snap.label_values))
    drawing = charts.draw(snap, view)
    figure = charts.figure(snap, view, drawing)
    whole_ms, parts_ms, whole_b, parts_b = [], [], [], []
    whole_again = 0
    for n in range(1, updates + 1):
        dataset.append(Batch(np.array([int(ns[-1]) + n * 120 * 10**9]),
                             np.array(["cpu"], object), np.array([float(n % 90)]),
                             {"host": np.array([HOSTS[n % len(HOSTS)]], object)}))
        after = dataset.snapshot()
        started = time.perf_counter()
        whole = charts.figure(after, view, charts.draw(after, view))
        whole_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        redrawn = charts.redraw(snap, drawing, after, view)
        if redrawn is None:  # the store copied every series (a compaction): drawn whole
            whole_again += 1
            redrawn = charts.draw(after, view)
        parts = charts.figure(after, view, redrawn)
        parts_ms.append((time.perf_counter() - started) * 1000)
        assert dumps(parts) == dumps(whole), "by parts and whole disagree"
        change = extension(figure, parts)
        assert change is not None
        whole_b.append(len(dumps(whole)))
        parts_b.append(len(dumps(change)))
        snap, drawing, figure = after, redrawn, parts
    return {"whole_ms": statistics.median(whole_ms), "parts_ms": statistics.median(parts_ms),
            "parts_max_ms": max(parts_ms), "whole_bytes": statistics.median(whole_b),
            "parts_bytes": statistics.median(parts_b), "whole_again": whole_again}


# The demo's views as pages and the demo dashboard watch them: /d/demo (whole history,
# agg=auto, by=series), and the dashboard's panels under its 15-minute window.
DEMO_VIEWS = ("metric=cpu", "metric=cpu&agg=p95&by=host",
              "metric=cpu&agg=p95&by=host&window=15m", "metric=mem&by=host&window=15m",
              "metric=latency_ms&agg=mean&by=region&window=15m",
              "metric=cpu&agg=raw&window=15m",
              "metric=latency_ms&agg=mean&bucket=1m&by=region&window=1h")  # a cut first minute


def demo_pushes(minutes: int, ticks: int) -> list[dict[str, Any]]:
    """Per view of ``DEMO_VIEWS`` over the demo stream after ``minutes`` of ticks, then
    ``ticks`` more (one a second, as the demo runs): how many ticks it was redrawn by
    parts and sent as ``extend_chart``, what the fan-out sends each viewer per tick
    (median and max bytes) and what the whole figure would weigh (median bytes)."""
    from urllib.parse import parse_qsl

    from app.data.demo import Demo
    from app.data.store import Store
    from app.engine.delta import LiveCharts, extension
    from app.engine.drawing import ChartLimits
    from app.engine.serieskeys import SeriesKeys
    from app.engine.view import parse_view
    from app.jsoncodec import dumps
    from app.live.figures import Figures

    store = Store()
    demo = Demo(store, history=minutes * 60)
    now = float(START_S)
    demo.install(now)
    figures = Figures(store, LiveCharts(ChartLimits(), SeriesKeys()))
    snap = store.get("demo").snapshot()
    views = [parse_view(parse_qsl(q), snap.metrics, tuple(snap.label_values))
             for q in DEMO_VIEWS]
    sent: list[dict[str, Any]] = [figures.payload("demo", v) for v in views]
    sizes: list[list[int]] = [[] for _ in views]
    whole: list[list[int]] = [[] for _ in views]
    deltas = [0] * len(views)
    redrawn = [0] * len(views)
    for tick in range(1, ticks + 1):
        demo.tick(now + tick)
        for i, view in enumerate(views):
            redraws = figures.redraws
            payload = figures.payload("demo", view)
            redrawn[i] += figures.redraws - redraws
            change = extension(sent[i]["figure"], payload["figure"])
            message = payload if change is None else {
                "dataset": "demo", "query": payload["query"], "version": payload["version"],
                "base_version": sent[i]["version"], "epoch": payload["epoch"], **change}
            deltas[i] += change is not None
            sizes[i].append(len(dumps(message)))
            whole[i].append(len(dumps(payload)))
            sent[i] = payload
    return [{"query": view.query, "deltas": deltas[i], "redrawn": redrawn[i], "ticks": ticks,
             "bytes": statistics.median(sizes[i]), "max_bytes": max(sizes[i]),
             "whole_bytes": statistics.median(whole[i])} for i, view in enumerate(views)]


def main() -> None:
    """Measure and print one table row per checkout, then the in-process costs."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--points", type=int, default=2_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--updates", type=int, default=40)
    parser.add_argument("--interval", type=float, default=0.3)
    parser.add_argument("--demo-minutes", type=int, default=35,
                        help="minutes of demo history before its views are measured")
    parser.add_argument("--root", action="append", type=Path,
                        help="run the server of this checkout (repeatable; default: this one)")
    args = parser.parse_args()
    if args.client:
        print(json.dumps(asyncio.run(clients(args.url, args.clients))), flush=True)
        return
    roots = args.root or [ROOT]
    with tempfile.TemporaryDirectory() as folder:
        csv = Path(folder) / "fleet.csv"
        newest = write_csv(csv, args.points)
        rows = [(root, run(root, csv, newest, args.clients, args.updates, args.interval))
                for root in roots]
    print(f"# live aggregated view, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
          f"{os.cpu_count()} cores, {args.points:,} points, view {VIEW}")
    print("| server | clients x updates | delivered | p50 | p99 | max | server fan-out "
          "(median, max) | events |")
    print("|---|---|---|---|---|---|---|---|")
    for root, r in rows:
        events = ", ".join(f"{n} {k}" for k, n in sorted(r["events"].items()))
        print(f"| {root} | {args.clients} x {args.updates} | {r['delivered']}/{r['expected']} "
              f"| {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms | {r['max_ms']:.1f} ms | "
              f"{r['fanout_ms']:.1f} ms, {r['fanout_max_ms']:.1f} ms | {events} |")
    cost = in_process(args.points, args.updates)
    print(f"figure per change, in process (median of {args.updates}): whole "
          f"{cost['whole_ms']:.2f} ms, by parts {cost['parts_ms']:.2f} ms (max "
          f"{cost['parts_max_ms']:.2f} ms; {cost['whole_again']:.0f} drawn whole after a "
          "compaction), equal to the last byte; update_chart "
          f"{cost['whole_bytes']:,.0f} B, extend_chart {cost['parts_bytes']:,.0f} B")
    print(f"\n# the demo's views after {args.demo_minutes} min of ticks, {args.updates} ticks "
          "more: bytes a viewer gets per tick")
    print("| view | redrawn by parts | extend_chart | per tick (median, max) "
          "| the whole figure (median) |")
    print("|---|---|---|---|---|")
    for row in demo_pushes(args.demo_minutes, args.updates):
        print(f"| `{row['query']}` | {row['redrawn']}/{row['ticks']} | "
              f"{row['deltas']}/{row['ticks']} | {row['bytes']:,.0f} B, "
              f"{row['max_bytes']:,} B | {row['whole_bytes']:,.0f} B |")


if __name__ == "__main__":
    main()
