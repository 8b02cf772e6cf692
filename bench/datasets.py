"""Synthetic datasets for the benchmarks: N points over hosts x regions, one point a second each."""
from __future__ import annotations

import numpy as np
import pandas as pd

from app.data.schema import Batch, Schema
from app.data.store import Dataset
from app.instants import SECOND

HOSTS = [f"web-{i}" for i in range(1, 21)]
REGIONS = ["eu", "us", "ap", "sa"]
METRICS = ["cpu", "mem", "latency_ms"]
SCHEMA = Schema("timestamp", "long", (), ("host", "region"))
START = 1_714_521_600 * SECOND  # 2024-05-01T00:00:00Z


def columns(n: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Long-form columns of ``n`` points in time order."""
    rng = np.random.default_rng(seed)
    per_instant = len(HOSTS) * len(METRICS)
    ts = START + (np.arange(n) // per_instant) * SECOND
    host_idx = (np.arange(n) // len(METRICS)) % len(HOSTS)
    return {
        "ts": ts,
        "metric": np.array(METRICS, dtype=object)[np.arange(n) % len(METRICS)],
        "value": rng.normal(50, 10, n),
        "host": np.array(HOSTS, dtype=object)[host_idx],
        "region": np.array(REGIONS, dtype=object)[host_idx % len(REGIONS)],
    }


def dataset(n: int, retention: int = 0) -> Dataset:
    """A store Dataset holding ``n`` points."""
    cols = columns(n)
    ds = Dataset("bench", SCHEMA, retention=retention)
    step = 1_000_000
    for i in range(0, n, step):
        part = slice(i, i + step)
        ds.append(Batch(cols["ts"][part], cols["metric"][part], cols["value"][part],
                        {"host": cols["host"][part], "region": cols["region"][part]}))
    return ds


def frame(n: int) -> pd.DataFrame:
    """The same points as a pandas DataFrame (what the naive way works on)."""
    cols = columns(n)
    return pd.DataFrame({
        "timestamp": pd.to_datetime(cols["ts"], utc=True),
        "metric": pd.Categorical(cols["metric"]),
        "value": cols["value"],
        "host": pd.Categorical(cols["host"]),
        "region": pd.Categorical(cols["region"]),
    })


MARKETS = 8  # the coarser label of the many-series data: symbol i trades on market i % 8
MANY_SCHEMA = Schema("timestamp", "long", (), ("symbol", "market"))


def many_columns(n: int, series: int, seed: int = 1) -> dict[str, np.ndarray]:
    """Long-form columns of ``n`` points of one metric (``price``) over ``series``
    symbols, at random instants over 30 days (time order), each point's symbol random:
    ~``n / series`` points a symbol, most (symbol, hour) cells holding one or two."""
    rng = np.random.default_rng(seed)
    ts = START + np.sort(rng.integers(0, 30 * 86400, n)) * SECOND
    pick = rng.integers(0, series, n)
    symbols = np.array([f"s{i}" for i in range(series)], dtype=object)
    markets = np.array([f"m{i % MARKETS}" for i in range(series)], dtype=object)
    return {"ts": ts, "metric": np.full(n, "price", dtype=object),
            "value": rng.normal(100, 10, n), "symbol": symbols[pick], "market": markets[pick]}


def many_series(n: int, series: int) -> Dataset:
    """A store Dataset holding ``many_columns(n, series)``, loaded in batches of 1M."""
    cols = many_columns(n, series)
    ds = Dataset("many", MANY_SCHEMA)
    for i in range(0, n, 1_000_000):
        part = slice(i, i + 1_000_000)
        ds.append(Batch(cols["ts"][part], cols["metric"][part], cols["value"][part],
                        {"symbol": cols["symbol"][part], "market": cols["market"][part]}))
    return ds
