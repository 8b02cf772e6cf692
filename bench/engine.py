"""Every view shape, ours against DuckDB and polars in the same run:
``.venv/bin/python -m bench.engine [--rows 1000000 10000000] [--series 100 1000 10000]
[--repeat 5] [--shapes all/] [--aggs mean p95] [--json out.json]``; ``--spread run1.json
run2.json ...`` summarises runs. ``--shapes`` keeps the view shapes whose name contains
one of the given texts (``--shapes all/`` the whole-history ones), ``--aggs`` those
aggregations only.

Two suites. "hosts": ``--rows`` points of 20 hosts x 3 metrics (60 series, a point a
second each). "many": 1M points of one metric over ``--series`` symbols (8 markets),
at random instants over 30 days, so most (symbol, hour) cells hold a point or two
(stock symbols, devices, pods); ``--series`` with no value skips it.

For each dataset and each (view shape x aggregation), the three engines answer
first and the answers are compared (same traces, same buckets, values equal to 1e-9,
percentiles by linear interpolation); only then is each timed: median of ``--repeat``
calls after a warm-up, the three engines' calls taking turns. DuckDB scans the same
numpy columns zero-copy (a registered DataFrame, labels as categoricals); polars wraps
them too. Both get the window's
lower bound as a constant, so neither pays to find the newest point.
"""
from __future__ import annotations

import argparse
import gc
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.engine import compute as query
from app.engine.view import View
from app.instants import parse_duration
from bench import datasets
from bench.run import turns_ms

AGGS = ("mean", "sum", "min", "max", "count", "p50", "p90", "p95", "p99")
# name -> (metrics, filters, window, bucket, by)
Shape = tuple[tuple[str, ...], dict[str, tuple[str, ...]], str, str, str]
HOST_SHAPES: dict[str, Shape] = {
    "1h/1m one host": (("cpu",), {"host": ("web-3",)}, "1h", "1m", "none"),
    "all/1h by host": (("cpu",), {}, "all", "1h", "host"),
    "all/1h by series": (("cpu",), {}, "all", "1h", "series"),
    "all/1h none": (("cpu",), {}, "all", "1h", "none"),
    "all/1h by host, region=eu": (("cpu",), {"region": ("eu",)}, "all", "1h", "host"),
    "all/1m by series, 2 metrics": (("cpu", "mem"), {}, "all", "1m", "series"),
    "all/5m by host": (("cpu",), {}, "all", "5m", "host"),
    "all/15m none": (("cpu",), {}, "all", "15m", "none"),
    "all/24h by series": (("cpu",), {}, "all", "24h", "series"),
    "24h/1m by region": (("cpu",), {}, "24h", "1m", "region"),
    "24h/1m none, region=eu": (("cpu",), {"region": ("eu",)}, "24h", "1m", "none"),
}
MANY_SHAPES: dict[str, Shape] = {
    "all/1h none": (("price",), {}, "all", "1h", "none"),
    "all/1h by market": (("price",), {}, "all", "1h", "market"),
    "all/1h by series": (("price",), {}, "all", "1h", "series"),
    "all/1d by series": (("price",), {}, "all", "24h", "series"),
    "24h/1m none": (("price",), {}, "24h", "1m", "none"),
    "24h/1m by market": (("price",), {}, "24h", "1m", "market"),
    "24h/1m by series": (("price",), {}, "24h", "1m", "series"),
    "7d/1h none, market=m3": (("price",), {"market": ("m3",)}, "7d", "1h", "none"),
}

MANY_AGGS = ("mean", "p95")
Answer = dict[tuple[str, int], float]


@dataclass(frozen=True)
class Suite:
    """A dataset and the view shapes timed on it."""

    name: str  # how the tables name the dataset
    labels: tuple[str, ...]  # in the dataset's label order (series names follow it)
    shapes: dict[str, Shape]
    aggs: tuple[str, ...]
    load: Callable[[], Any]  # -> store Dataset
    columns: Callable[[], dict[str, np.ndarray]]  # the same points, long form


def trace_name(suite: Suite, metrics: tuple[str, ...], by: str, metric: str,
               labels: dict[str, str]) -> str:
    """The name our engine gives a trace, rebuilt from a baseline's group columns."""
    if by == "none":
        return metric
    parts = [labels[name] for name in suite.labels] if by == "series" else [labels[by]]
    return " · ".join(([metric] if len(metrics) > 1 else []) + parts)


def view_of(suite: Suite, shape: str, agg: str) -> View:
    """The view value for a shape and an aggregation."""
    metrics, filters, window, bucket, by = suite.shapes[shape]
    return View(metrics=metrics, filters=tuple(sorted(filters.items())), window=window,
                agg=agg, bucket=bucket, by=by)


def ours_answer(result: query.Result) -> Answer:
    """Our traces as {(trace, bucket start ns): value}."""
    return {(t.name, int(x)): float(y) for t in result.traces
            for x, y in zip(t.x.tolist(), t.y.tolist(), strict=True)}


def sql_of(suite: Suite, shape: str, agg: str, lower: int | None) -> str:
    """The DuckDB query of a shape: integer-divided buckets, quantile_cont for percentiles."""
    metrics, filters, _, bucket, by = suite.shapes[shape]
    width = parse_duration(bucket)
    groups = {"none": ["metric"], "series": ["metric", *suite.labels]}.get(by, ["metric", by])
    where = [f"metric IN ({', '.join(repr(m) for m in metrics)})"]
    where += [f"{label} IN ({', '.join(repr(v) for v in values)})"
              for label, values in filters.items()]
    if lower is not None:
        where.append(f"ts >= {lower}")
    expr = {"mean": "avg(value)", "count": "count(*)::DOUBLE"}.get(agg, f"{agg}(value)")
    if agg.startswith("p"):
        expr = f"quantile_cont(value, {int(agg[1:]) / 100})"
    cols = ", ".join(f"{g}::VARCHAR AS {g}" for g in groups)
    return (f"SELECT {cols}, (ts // {width}) * {width} AS bucket, {expr} AS v FROM points "
            f"WHERE {' AND '.join(where)} GROUP BY ALL")


def polars_of(suite: Suite, frame: Any, shape: str, agg: str,
              lower: int | None) -> Callable[[], Any]:
    """The polars query of a shape: integer bucket + group_by, linear quantiles."""
    import polars as pl

    metrics, filters, _, bucket, by = suite.shapes[shape]
    width = parse_duration(bucket)
    groups = {"none": ["metric"], "series": ["metric", *suite.labels]}.get(by, ["metric", by])
    predicate = pl.col("metric").is_in(list(metrics))
    for label, values in filters.items():
        predicate = predicate & pl.col(label).is_in(list(values))
    if lower is not None:
        predicate = predicate & (pl.col("ts") >= lower)
    value = pl.col("value")
    expr = {"mean": value.mean(), "sum": value.sum(), "min": value.min(), "max": value.max(),
            "count": pl.len().cast(pl.Float64)}.get(agg)
    if expr is None:
        expr = value.quantile(int(agg[1:]) / 100, interpolation="linear")

    def run() -> Any:
        return (frame.filter(predicate)
                .with_columns(((pl.col("ts") // width) * width).alias("bucket"))
                .group_by([*groups, "bucket"]).agg(expr.alias("v")))
    return run


def rows_answer(suite: Suite, shape: str, columns: dict[str, Any]) -> Answer:
    """A baseline's result columns as {(trace, bucket start ns): value}."""
    metrics, _, _, _, by = suite.shapes[shape]
    n = len(columns["v"])
    labels = {name: [str(x) for x in columns[name]] for name in suite.labels
              if name in columns}
    metric = [str(x) for x in columns["metric"]]
    return {(trace_name(suite, metrics, by, metric[i], {k: v[i] for k, v in labels.items()}),
             int(columns["bucket"][i])): float(columns["v"][i]) for i in range(n)}


def same(a: Answer, b: Answer) -> bool:
    """Same cells, values equal to 1e-9 (relative) — sums differ only in rounding."""
    if a.keys() != b.keys():
        return False
    keys = sorted(a)
    x = np.array([a[k] for k in keys])
    y = np.array([b[k] for k in keys])
    return bool(np.allclose(x, y, rtol=1e-9, atol=1e-9))


def cpu_ms(fn: Callable[[], Any], repeat: int) -> float:
    """Median thread CPU time of ``fn`` in ms: what a call costs when it has a core to
    itself (wall time also counts waiting for one on a shared machine)."""
    spent = []
    for _ in range(repeat):
        started = time.thread_time()
        fn()
        spent.append((time.thread_time() - started) * 1000)
    return float(np.median(spent))


def bench_suite(suite: Suite, repeat: int, rows: list[dict[str, Any]],
                lenient: bool = False) -> None:
    """Every shape x aggregation of ``suite``, three engines.

    ``lenient`` (for timing an older engine) records a shape ours gets wrong or
    cannot answer as ``None`` instead of stopping, as long as DuckDB and polars agree.
    """
    import duckdb
    import polars as pl

    built = time.perf_counter()
    snap = suite.load().snapshot()
    cols = suite.columns()
    n = len(cols["ts"])
    frame = pd.DataFrame({"ts": cols["ts"], "metric": pd.Categorical(cols["metric"]),
                          "value": cols["value"],
                          **{name: pd.Categorical(cols[name]) for name in suite.labels}})
    lazy = pl.DataFrame({
        "ts": cols["ts"], "value": cols["value"],
        **{name: pl.Series(name, cols[name].astype(str)).cast(pl.Enum(sorted(set(cols[name]))))
           for name in ("metric", *suite.labels)}})
    del cols
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    con.register("points", frame)
    newest = int(frame["ts"].iloc[-1])
    print(f"# {suite.name}: {n:,} points ready in {time.perf_counter() - built:.1f} s",
          file=sys.stderr)
    for shape in suite.shapes:
        window = suite.shapes[shape][2]
        lower = None if window == "all" else newest - parse_duration(window)
        for agg in suite.aggs:
            view = view_of(suite, shape, agg)
            sql = sql_of(suite, shape, agg, lower)
            polars_run = polars_of(suite, lazy, shape, agg, lower)
            duck = rows_answer(suite, shape, con.execute(sql).fetchnumpy())
            polar = rows_answer(suite, shape, polars_run().to_dict(as_series=False))
            try:
                ours = ours_answer(query.run(snap, view))
            except Exception:  # an older engine without this shape
                if not lenient:
                    raise
                ours = {}
            right = same(ours, duck) and same(ours, polar)
            if not right and not (lenient and same(duck, polar)):
                raise AssertionError(f"{suite.name} {shape} {agg}: engines disagree "
                                     f"(ours {len(ours)} cells, duckdb {len(duck)}, "
                                     f"polars {len(polar)})")
            cells = len(duck)
            del duck, polar, ours  # big answers left alive make the GC slow every engine
            gc.collect()
            timed = turns_ms({
                "ours": (lambda v=view: query.run(snap, v)) if right else None,
                "duckdb": lambda q=sql: con.execute(q).fetchnumpy(),
                "polars": polars_run,
            }, repeat)
            row = {"data": suite.name, "rows": n, "shape": shape, "agg": agg, "cells": cells,
                   "ours": timed.get("ours"), "duckdb": timed["duckdb"],
                   "polars": timed["polars"],
                   "ours_cpu": cpu_ms(lambda v=view: query.run(snap, v), repeat)
                   if right else None}
            rows.append(row)
            print(f"{suite.name:>18} | {shape:<28} | {agg:<5} | {row['ours'] or -1:8.2f} | "
                  f"{row['duckdb']:8.2f} | {row['polars']:8.2f} | "
                  f"cpu {row['ours_cpu'] or -1:6.2f}", file=sys.stderr, flush=True)
    con.close()


def memory(n: int) -> dict[str, float]:
    """Bytes per point that ``n`` points of 20 hosts x 3 metrics hold: the columns' filled
    part (time, value and a ranked value per tier, and the bucket records), their whole
    allocation (with each
    series' room to grow: address space until written), and what the process's resident
    memory grew by loading them. Run first: memory freed by earlier cases would be reused."""
    import psutil

    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    dataset = datasets.dataset(n)
    gc.collect()
    grown = process.memory_info().rss - before
    cols = dataset.columns
    arrays = [cols.ts, cols.value, *cols.ranked]
    books = [cols.start, cols.room, cols.count, cols.ranked_count]
    for r in cols.records:  # bucket records: 24 B each, their own columns and bookkeeping
        books += [r.offset, r.bucket, r.total, r.kept, r.start, r.room, r.count]
    records = sum(r.held * (r.offset.itemsize + r.bucket.itemsize + r.total.itemsize)
                  for r in cols.records)
    return {"rows": n,
            "filled": (cols.points * sum(a.itemsize for a in arrays) + records) / n,
            "records": records / n,
            "allocated": sum(a.nbytes for a in arrays + books) / n, "resident": grown / n}


def picked(shapes: dict[str, Shape], names: list[str] | None) -> dict[str, Shape]:
    """The shapes whose name contains one of ``names`` (None: all)."""
    return {k: v for k, v in shapes.items() if names is None or any(n in k for n in names)}


def host_suite(n: int, shapes: list[str] | None = None,
               aggs: list[str] | None = None) -> Suite:
    """``n`` points of 20 hosts x 3 metrics (``bench/datasets.py``)."""
    return Suite(f"{n:,} points", ("host", "region"), picked(HOST_SHAPES, shapes),
                 tuple(a for a in AGGS if aggs is None or a in aggs),
                 lambda: datasets.dataset(n), lambda: datasets.columns(n))


def many_suite(series: int, n: int = 1_000_000, shapes: list[str] | None = None,
               aggs: list[str] | None = None) -> Suite:
    """``n`` points of one metric over ``series`` symbols (``bench/datasets.py``)."""
    return Suite(f"{series:,} series", ("symbol", "market"), picked(MANY_SHAPES, shapes),
                 tuple(a for a in MANY_AGGS if aggs is None or a in aggs),
                 lambda: datasets.many_series(n, series),
                 lambda: datasets.many_columns(n, series))


def spread(paths: list[str]) -> None:
    """A Markdown table of several runs' JSON (``--json``): per dataset and view shape,
    the range (min–max over runs) of ours' slowest aggregation (wall, and thread CPU
    when the runs measured it), DuckDB's and polars' fastest, and the worst
    ours ÷ DuckDB over the aggregations."""
    runs = [json.loads(Path(path).read_text())["cases"] for path in paths]
    keys = list(dict.fromkeys((c["data"], c["shape"]) for c in runs[0]))

    def span(values: list[float], digits: int = 1) -> str:
        low, high = min(values), max(values)
        return f"{low:.{digits}f}" if f"{low:.{digits}f}" == f"{high:.{digits}f}" \
            else f"{low:.{digits}f}–{high:.{digits}f}"

    print(f"| data | view | ours, slowest agg (ms) | ours, slowest agg, CPU (ms) | "
          f"DuckDB, fastest agg (ms) | polars, fastest agg (ms) | ours ÷ DuckDB, worst agg | "
          f"({len(paths)} runs) |")
    print("|---|---|---|---|---|---|---|---|")
    for data, shape in keys:
        per_run = [[c for c in cases if (c["data"], c["shape"]) == (data, shape)]
                   for cases in runs]
        ours = [max(c["ours"] for c in cases) for cases in per_run]
        cpu = [max(c["ours_cpu"] for c in cases) for cases in per_run
               if all(c.get("ours_cpu") is not None for c in cases)]
        duck = [min(c["duckdb"] for c in cases) for cases in per_run]
        polars = [min(c["polars"] for c in cases) for cases in per_run]
        ratio = [max(c["ours"] / c["duckdb"] for c in cases) for cases in per_run]
        print(f"| {data} | {shape} | {span(ours)} | {span(cpu) if cpu else 'n/a'} | "
              f"{span(duck)} | {span(polars)} | {span(ratio, 2)} | |")


def main() -> None:
    """Run the shapes at each size and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="*", default=[1_000_000, 10_000_000])
    parser.add_argument("--series", type=int, nargs="*", default=[100, 1_000, 10_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shapes", nargs="+", metavar="TEXT",
                        help="only view shapes whose name contains one of these")
    parser.add_argument("--aggs", nargs="+", choices=AGGS, help="only these aggregations")
    parser.add_argument("--no-memory", action="store_true",
                        help="skip measuring bytes per point (loads the biggest size once more)")
    parser.add_argument("--json", help="also write the rows to this file")
    parser.add_argument("--lenient", action="store_true",
                        help="time an older engine: shapes it gets wrong show as n/a")
    parser.add_argument("--spread", nargs="+", metavar="JSON",
                        help="only summarise earlier runs' --json files, min–max over them")
    args = parser.parse_args()
    if args.spread:
        spread(args.spread)
        return
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    held = [] if args.no_memory else [memory(n) for n in sorted(args.rows, reverse=True)[:1]]
    suites = ([host_suite(n, args.shapes, args.aggs) for n in args.rows]
              + [many_suite(k, shapes=args.shapes, aggs=args.aggs) for k in args.series])
    suites = [suite for suite in suites if suite.shapes and suite.aggs]
    for suite in suites:
        bench_suite(suite, args.repeat, rows, args.lenient)
    print(f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {platform.machine()} · "
          f"Python {platform.python_version()} · numpy {version('numpy')} · duckdb "
          f"{version('duckdb')} · polars {version('polars')} · medians of {args.repeat} · "
          f"{time.perf_counter() - started:.0f} s")
    print("| data | view | agg | ours (ms) | ours, CPU (ms) | DuckDB (ms) | polars (ms) "
          "| ours ÷ DuckDB |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        ours = "n/a" if row["ours"] is None else f"{row['ours']:.2f}"
        cpu = "n/a" if row["ours_cpu"] is None else f"{row['ours_cpu']:.2f}"
        ratio = "—" if row["ours"] is None else f"{row['ours'] / row['duckdb']:.2f}"
        print(f"| {row['data']} | {row['shape']} | {row['agg']} | {ours} | {cpu} | "
              f"{row['duckdb']:.2f} | {row['polars']:.2f} | {ratio} |")
    for m in held:
        print(f"\nMemory at {m['rows']:,} points: {m['filled']:.1f} B a point filled "
              f"({m['records']:.2f} of them bucket records), "
              f"{m['allocated']:.1f} B allocated, resident memory grew "
              f"{m['resident']:.1f} B a point")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"cases": rows, "memory": held}, out, indent=1)


if __name__ == "__main__":
    main()
