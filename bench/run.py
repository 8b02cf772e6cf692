"""Benchmarks: ``.venv/bin/python -m bench.run [--quick]``; prints a Markdown table.

Every case is timed several times in this one process and the median kept;
ratios compare cases measured in the same run (these machines are noisy).
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd

from app.data.schema import Batch, Schema
from app.data.store import Dataset
from app.engine import browse, charts
from app.engine import compute as query
from app.engine.delta import extension
from app.engine.view import parse_view
from app.instants import SECOND
from app.jsoncodec import dumps
from bench import datasets


def turns_ms(calls: dict[str, Callable[[], Any] | None], repeat: int) -> dict[str, float]:
    """Median wall time in ms of each call (None: not timed), after one warm-up call each.

    Calls take turns (ours, DuckDB, polars, ours, ...): on a shared machine a burst of
    load then slows every one of them alike instead of all of one's calls.
    """
    for fn in calls.values():
        if fn is not None:
            fn()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeat):
        for name, fn in calls.items():
            if fn is not None:
                started = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - started) * 1000)
    return {name: statistics.median(spent) for name, spent in times.items() if spent}


def median_ms(fn: Callable[[], Any], repeat: int = 7) -> float:
    """Median wall time of ``fn`` in milliseconds (one warm-up call first)."""
    return turns_ms({"": fn}, repeat)[""]


def view_of(snap: Any, text: str) -> Any:
    return parse_view(parse_qsl(text), snap.metrics, snap.label_values)


def bench_figure(rows: list[tuple[str, ...]]) -> None:
    """Figure for one 10k-point trace: ours (numpy + orjson) vs the tutorial's
    px.line().to_json()."""
    import plotly.express as px

    n = 10_000
    whole = datasets.dataset(n * len(datasets.HOSTS) * len(datasets.METRICS)).snapshot()
    one = view_of(whole, "metric=cpu&host=web-1&agg=raw")
    trace = query.run(whole, one).traces[0]
    frame = pd.DataFrame({"timestamp": pd.to_datetime(trace.x, utc=True), "value": trace.y})
    assert len(frame) == n
    # Both sides get the same 10k points and nothing else: the tutorial's frame, and a
    # dataset holding just that series (the query over a bigger one is measured below).
    ds = Dataset("one", Schema("timestamp", "wide", ("value",), ()))
    ds.append(Batch(trace.x, np.array(["value"] * n, object), frame.value.to_numpy()))
    snap = ds.snapshot()
    view = view_of(snap, "agg=raw")
    ours = median_ms(lambda: dumps(charts.build(snap, view)))
    naive = median_ms(lambda: px.line(frame, x="timestamp", y="value").to_json(), repeat=3)
    rows.append(("figure build + JSON, 10k points", f"{ours:.2f} ms", "px.line().to_json()",
                 f"{naive:.1f} ms", f"{naive / ours:.0f}x"))


def bench_query(rows: list[tuple[str, ...]], sizes: list[int]) -> None:
    """Window + label filter + 1-minute p95: ours vs a pandas boolean mask over everything."""
    for n in sizes:
        ds = datasets.dataset(n)
        snap = ds.snapshot()
        frame = datasets.frame(n)
        view = view_of(snap, "metric=cpu&host=web-3&window=1h&agg=p95&bucket=1m")

        def naive() -> Any:
            newest = frame.timestamp.iloc[-1]
            mask = ((frame.timestamp >= newest - pd.Timedelta(hours=1))
                    & (frame.metric == "cpu") & (frame.host == "web-3"))
            part = frame[mask]
            return part.groupby(part.timestamp.dt.floor("1min")).value.quantile(0.95)

        ours = median_ms(lambda: query.run(snap, view))
        slow = median_ms(naive, repeat=3)
        expected = naive().to_numpy()
        got = query.run(snap, view).traces[0].y
        assert np.allclose(got, expected), "ours and pandas disagree"
        label = f"view query (1h, host filter, p95/1m), {n:,} rows"
        rows.append((label, f"{ours:.2f} ms", "pandas boolean mask + groupby", f"{slow:.1f} ms",
                     f"{slow / ours:.0f}x"))
        duck = duckdb_query_ms(frame, expected)
        if duck is not None:
            rows.append((label, f"{ours:.2f} ms", "DuckDB (in memory, same frame)",
                         f"{duck:.1f} ms", f"{duck / ours:.0f}x"))
        del frame


def duckdb_query_ms(frame: pd.DataFrame, expected: np.ndarray) -> float | None:
    """The same query in DuckDB over a table made from the frame, if DuckDB is installed."""
    try:
        import duckdb
    except ImportError:
        return None
    con = duckdb.connect()
    con.register("source", frame)
    con.execute("CREATE TABLE points AS SELECT timestamp, metric::VARCHAR AS metric, value, "
                "host::VARCHAR AS host FROM source ORDER BY timestamp")
    sql = """
        SELECT quantile_cont(value, 0.95) AS p95
        FROM points
        WHERE timestamp >= (SELECT max(timestamp) FROM points) - INTERVAL 1 hour
          AND metric = 'cpu' AND host = 'web-3'
        GROUP BY time_bucket(INTERVAL 1 minute, timestamp)
        ORDER BY time_bucket(INTERVAL 1 minute, timestamp)"""
    got = np.array([row[0] for row in con.execute(sql).fetchall()])
    assert np.allclose(got, expected), "ours and DuckDB disagree"
    return median_ms(lambda: con.execute(sql).fetchall(), repeat=5)


def bench_browse(rows: list[tuple[str, ...]], n: int) -> None:
    """Facet counts + per-trace stats of a whole 1M-row dataset (the page's server work)."""
    ds = datasets.dataset(n)
    snap = ds.snapshot()
    frame = datasets.frame(n)
    for text in ("metric=cpu", "metric=cpu&by=host", "metric=cpu&region=eu"):
        view = view_of(snap, text)
        ours = median_ms(lambda: (browse.facets(snap, view),
                                  browse.stats(snap, query.select(snap, view))))

        def naive() -> Any:
            part = frame[frame.metric == "cpu"]
            if "region=eu" in text:
                part = part[part.region == "eu"]
            counts = [part[label].value_counts() for label in ("host", "region")]
            key = part.host if "by=host" in text else part.metric
            return counts, part.groupby(key, observed=True).value.agg(
                ["count", "min", "mean", "max", "last"])

        slow = median_ms(naive, repeat=3)
        rows.append((f"facets + stats ({text}), {n:,} rows", f"{ours:.1f} ms",
                     "pandas value_counts + groupby.agg", f"{slow:.1f} ms",
                     f"{slow / ours:.1f}x"))


def bench_append(rows: list[tuple[str, ...]]) -> None:
    """Appending points to a 1M-point dataset: ours vs pd.concat of one row."""
    ds = datasets.dataset(1_000_000)
    frame = datasets.frame(1_000_000)
    newest = int(ds.snapshot().end or 0)
    one = Batch(np.array([newest]), np.array(["cpu"], object), np.array([1.0]),
                {"host": np.array(["web-1"], object), "region": np.array(["eu"], object)})
    thousand = Batch(np.full(1000, newest), np.array(["cpu"] * 1000, object), np.ones(1000),
                     {"host": np.array(["web-1"] * 1000, object),
                      "region": np.array(["eu"] * 1000, object)})
    per_point_1 = median_ms(lambda: ds.append(one), repeat=200) * 1000
    per_point_k = median_ms(lambda: ds.append(thousand), repeat=50) * 1000 / 1000
    row = frame.iloc[-1:]
    concat = median_ms(lambda: pd.concat([frame, row], ignore_index=True), repeat=5) * 1000
    rows.append(("append 1 point to 1M in memory", f"{per_point_1:.1f} µs",
                 "pd.concat one row", f"{concat:.0f} µs", f"{concat / per_point_1:.0f}x"))
    rows.append(("append in batches of 1,000, per point", f"{per_point_k:.2f} µs",
                 "pd.concat one row", f"{concat:.0f} µs", f"{concat / per_point_k:.0f}x"))


def bench_wire(rows: list[tuple[str, ...]]) -> None:
    """Bytes a client receives per update: the whole figure vs the extend_chart delta."""
    ds = datasets.dataset(20 * 3 * 3600)  # an hour of 20 hosts x 3 metrics
    view = view_of(ds.snapshot(), "metric=cpu&by=host&window=5m&agg=raw")
    before = charts.build(ds.snapshot(), view)
    newest = int(ds.snapshot().end or 0) + SECOND
    hosts = np.array(datasets.HOSTS, dtype=object)
    ds.append(Batch(np.full(len(hosts), newest), np.array(["cpu"] * len(hosts), object),
                    np.linspace(40, 60, len(hosts)),
                    {"host": hosts, "region": np.array(["eu"] * len(hosts), object)}))
    after = charts.build(ds.snapshot(), view)
    change = extension(before, after)
    assert change is not None
    full = len(dumps({"figure": after}))
    small = len(dumps(change))
    rows.append(("bytes per update per client (20 traces x 300 points, 1 new point each)",
                 f"{small:,} B (extend_chart)", "update_chart (whole figure)", f"{full:,} B",
                 f"{full / small:.0f}x"))


def main() -> None:
    """Run every benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 10M-row cases")
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    started = time.perf_counter()
    bench_figure(rows)
    bench_query(rows, [1_000_000] if args.quick else [1_000_000, 10_000_000])
    bench_browse(rows, 1_000_000)
    bench_append(rows)
    bench_wire(rows)
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.machine()} · "
          f"{platform.python_version()} · numpy {version('numpy')} · pandas {version('pandas')}"
          f" · plotly {version('plotly')} · {time.perf_counter() - started:.0f} s")
    print("| case | ours (median) | baseline | baseline (median) | speed-up |")
    print("|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
