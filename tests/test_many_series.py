"""Many series (stock symbols, devices, pods) against a pandas reference: every aggregation
and split, through both ways the engine cuts cells (point by point when series are sparse,
by bucket edges when dense), and after appends of one point at a time, late or not."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.data.schema import Batch, Schema
from app.data.store import Dataset, Snapshot
from app.engine.cells import few_points_per_cell
from app.engine.compute import run, select
from app.engine.percentiles import grouped_quantiles, narrowed_quantiles
from app.engine.view import View
from tests.samples import cells, reduced_cells

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
START = 1_714_521_600 * SECOND  # 2024-05-01T00:00:00Z
SCHEMA = Schema("timestamp", "long", (), ("symbol", "market"))
AGGS = ("mean", "sum", "min", "max", "count", "p50", "p90", "p95", "p99")


def market_of(symbol: int) -> str | None:
    """Symbol i trades on market m(i % 4); every seventh symbol has no market."""
    return None if symbol % 7 == 0 else f"m{symbol % 4}"


def sparse(seed: int, symbols: int = 300, n: int = 3000, span: int = 3 * HOUR,
           dense: int = 0) -> pd.DataFrame:
    """``n`` points over ``symbols`` symbols at random seconds (a few points a symbol, most
    (symbol, minute) cells one point), plus ``dense`` symbols with a point every second;
    values rounded so that ties happen."""
    rng = np.random.default_rng(seed)
    symbol = rng.integers(0, symbols, n)
    ts = START + rng.integers(0, span // SECOND, n) * SECOND
    if dense:
        seconds = np.arange(span // SECOND)
        symbol = np.concatenate([symbol, np.repeat(symbols + np.arange(dense), len(seconds))])
        ts = np.concatenate([ts, START + np.tile(seconds, dense) * SECOND])
    return pd.DataFrame({
        "ts": ts,
        "value": rng.normal(100, 20, len(ts)).round(1),
        "symbol": [f"s{i}" for i in symbol],
        "market": [market_of(i) for i in symbol],
    })


def load(frame: pd.DataFrame, chunks: int = 1) -> Snapshot:
    """A dataset fed ``frame`` in ``chunks`` batches in the frame's order."""
    dataset = Dataset("many", SCHEMA)
    for part in np.array_split(np.arange(len(frame)), chunks):
        rows = frame.iloc[part]
        dataset.append(Batch(rows.ts.to_numpy(np.int64), np.full(len(rows), "price", object),
                             rows.value.to_numpy(np.float64),
                             {"symbol": rows.symbol.to_numpy(object),
                              "market": rows.market.to_numpy(object)}))
    return dataset.snapshot()


def reference(frame: pd.DataFrame, view: View) -> dict[str, dict[int, float]]:
    """Trace -> {bucket start: value} by pandas on the raw rows (linear quantiles)."""
    rows = frame
    for label, values in view.filters:
        rows = rows[rows[label].isin(values)]
    lo, hi = view.time_range(int(frame.ts.max()))
    if lo is not None:
        rows = rows[rows.ts >= lo]
    if hi is not None:
        rows = rows[rows.ts <= hi]
    if rows.empty:
        return {}
    width = view.bucket_ns
    assert width is not None
    if view.by == "series":
        name = rows.symbol + rows.market.map(lambda m: f" · {m}" if isinstance(m, str) else "")
    elif view.by in ("symbol", "market"):
        name = rows[view.by].fillna("(none)")
    else:
        name = pd.Series("price", index=rows.index)
    return reduced_cells(rows.value, name, rows.ts // width * width, view.agg)


def assert_matches(snap: Snapshot, frame: pd.DataFrame, view: View) -> None:
    got = cells(run(snap, view))
    want = reference(frame, view)
    assert sorted(got) == sorted(want)
    for trace, expected in want.items():
        assert list(got[trace]) == list(expected), trace  # same buckets, in time order
        np.testing.assert_allclose(list(got[trace].values()), list(expected.values()),
                                   rtol=1e-12, err_msg=trace)


SPARSE = sparse(seed=1)
MIXED = sparse(seed=2, dense=3)  # 300 sparse symbols and 3 with a point a second
DATA = {"sparse": (SPARSE, load(SPARSE)), "mixed": (MIXED, load(MIXED)),
        "sparse, late batches": (SPARSE, load(SPARSE, chunks=9))}


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("by", ["none", "market", "series"])
@pytest.mark.parametrize("bucket", ["1m", "1h", "24h"])
@pytest.mark.parametrize("data", list(DATA))
def test_every_aggregation_and_split_matches_pandas(agg: str, by: str, bucket: str,
                                                    data: str) -> None:
    frame, snap = DATA[data]
    assert_matches(snap, frame, View(metrics=("price",), agg=agg, bucket=bucket, by=by))


@pytest.mark.parametrize("agg", ["mean", "count", "p50", "p95", "max"])
@pytest.mark.parametrize("window, filters", [
    ("1h", ()),  # the window starts inside a bucket of most series
    ("15m", (("market", ("m1", "m2")),)),
    ("all", (("market", ("m3",)),)),
    ("5m", (("symbol", ("s3", "s300", "s301")),)),  # sparse and dense series in one trace
    ("all", (("symbol", ("nope",)),)),  # no series left
])
@pytest.mark.parametrize("by", ["none", "market", "series"])
@pytest.mark.parametrize("bucket", ["1m", "1h"])
def test_windows_and_filters_match_pandas(agg: str, window: str,
                                          filters: tuple[tuple[str, tuple[str, ...]], ...],
                                          by: str, bucket: str) -> None:
    frame, snap = DATA["mixed"]
    view = View(metrics=("price",), filters=filters, window=window, agg=agg, bucket=bucket,
                by=by)
    assert_matches(snap, frame, view)


@pytest.mark.parametrize("data, agg, by, bucket, point_by_point", [
    ("sparse", "mean", "none", "1m", True),  # ~1 point per (symbol, minute): point by point
    ("sparse", "p95", "market", "1h", True),
    ("sparse", "p95", "series", "1m", False),  # one series per trace: cells of series runs
    ("mixed", "mean", "none", "1m", False),  # the dense symbols hold most points: runs
    ("mixed", "p95", "market", "1h", False),  # ranked runs long enough to bracket
])
def test_both_ways_of_cutting_cells_are_exercised(data: str, agg: str, by: str, bucket: str,
                                                  point_by_point: bool) -> None:
    frame, snap = DATA[data]
    view = View(metrics=("price",), agg=agg, bucket=bucket, by=by)
    assert view.bucket_ns is not None
    assert few_points_per_cell(snap, select(snap, view), view.bucket_ns, agg) is point_by_point
    assert_matches(snap, frame, view)


def _cells(sizes: list[int], draw: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Values and their cell for cells of ``sizes``, shuffled together."""
    rng = np.random.default_rng(seed)
    owner = np.repeat(np.arange(len(sizes)), sizes)
    n = len(owner)
    values = {"normal": rng.normal(size=n), "ties": rng.integers(0, 3, n).astype(float),
              "outlier": np.where(np.arange(n) == 7, 1e12, rng.normal(size=n)),
              "equal": np.full(n, 4.25), "spread": rng.lognormal(0, 6, n) - 1e3}[draw]
    order = rng.permutation(n)
    return values[order], owner[order]


@pytest.mark.parametrize("draw", ["normal", "ties", "outlier", "equal", "spread"])
@pytest.mark.parametrize("sizes", [[1], [2, 1, 3], [500] * 4, [1, 2000, 70, 1, 64], [300] * 50])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99])
def test_narrowed_and_grouped_quantiles_equal_numpy(draw: str, sizes: list[int],
                                                    q: float) -> None:
    values, owner = _cells(sizes, draw, seed=len(sizes))
    counts = np.array(sizes)
    expected = [np.quantile(values[owner == i], q) for i in range(len(sizes))]
    # numpy interpolates from the upper value when past halfway: last-digit differences
    np.testing.assert_allclose(narrowed_quantiles(values, owner, counts, q), expected,
                               rtol=1e-13)
    np.testing.assert_allclose(grouped_quantiles(values, owner, counts, q), expected,
                               rtol=1e-13)


@pytest.mark.parametrize("late_every", [0, 5])  # in time order, or every fifth point late
def test_points_appended_one_by_one_answer_as_one_load(late_every: int) -> None:
    frame = sparse(seed=4, symbols=200, n=1500, span=2 * HOUR).sort_values("ts", kind="stable")
    if late_every:  # move every fifth point 40 minutes back, after its neighbours
        late = frame.index[::late_every]
        frame.loc[late, "ts"] -= 40 * MINUTE
        frame = frame[frame.ts >= START]
    dataset = Dataset("many", SCHEMA)
    for row in frame.itertuples():
        dataset.append(Batch(np.array([row.ts], np.int64), np.array(["price"], object),
                             np.array([row.value]), {"symbol": np.array([row.symbol], object),
                                                     "market": np.array([row.market], object)}))
    snap = dataset.snapshot()
    assert len(snap) == len(frame)
    for agg in AGGS:
        for by, bucket in (("none", "1m"), ("series", "1h"), ("market", "1h")):
            assert_matches(snap, frame, View(metrics=("price",), agg=agg, bucket=bucket, by=by))
