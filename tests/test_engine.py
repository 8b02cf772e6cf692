"""The engine against a pandas reference: every aggregation and shape, and the ranked buckets
kept on append (in order, late, under retention) against sorting the raw points again."""
from __future__ import annotations

from dataclasses import replace
from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from app.data.buckets import RECORD_POINTS, RECORD_SLACK, Records
from app.data.schema import Batch, Schema
from app.data.series import RANKED_TIERS, SeriesColumns, bucket_bounds, sort_segments
from app.data.store import Dataset, Snapshot
from app.engine.cells import edge_positions
from app.engine.compute import run
from app.engine.view import View
from tests.samples import cells, reduced_cells

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
START = 1_714_521_600 * SECOND  # 2024-05-01T00:00:00Z
SCHEMA = Schema("timestamp", "long", (), ("host", "region"))
REGION = {"a": "eu", "b": "eu", "c": "us", "d": None}
AGGS = ("mean", "sum", "min", "max", "count", "p50", "p90", "p95", "p99")


def batch(ts: np.ndarray, metric: list[str] | np.ndarray, value: np.ndarray,
          host: list[str] | np.ndarray) -> Batch:
    """Long-form points; host ``d`` has no region (a missing label)."""
    hosts = np.asarray(host, dtype=object)
    return Batch(np.asarray(ts, np.int64), np.asarray(metric, dtype=object),
                 np.asarray(value, np.float64),
                 {"host": hosts, "region": np.array([REGION.get(h) for h in hosts], dtype=object)})


def random_points(seed: int, n: int, span: int) -> pd.DataFrame:
    """``n`` points over ``span`` ns: 2 metrics x 4 hosts, shared and repeated instants,
    values rounded so that ties happen."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "ts": START + rng.integers(0, span, n) // SECOND * SECOND,
        "metric": rng.choice(["cpu", "mem"], n),
        "value": rng.normal(50, 15, n).round(1),
        "host": rng.choice(list(REGION), n),
    })


def load(frame: pd.DataFrame, chunks: int = 1, retention: int = 0) -> Snapshot:
    """A dataset fed ``frame`` in ``chunks`` batches in the frame's order (not time order)."""
    dataset = Dataset("t", SCHEMA, retention=retention)
    for part in np.array_split(np.arange(len(frame)), chunks):
        rows = frame.iloc[part]
        dataset.append(batch(rows.ts.to_numpy(), rows.metric.to_numpy(), rows.value.to_numpy(),
                             rows.host.to_numpy()))
    return dataset.snapshot()


def reference(frame: pd.DataFrame, view: View, newest: int) -> dict[str, dict[int, float]]:
    """Trace -> {bucket start: value}: pandas on the raw rows, default (linear) quantiles."""
    rows = frame[frame.metric.isin(view.metrics)].assign(region=frame.host.map(REGION))
    for label, values in view.filters:
        rows = rows[rows[label].isin(values)]
    lo, hi = view.time_range(newest)
    if lo is not None:
        rows = rows[rows.ts >= lo]
    if hi is not None:
        rows = rows[rows.ts <= hi]
    width = view.bucket_ns
    assert width is not None
    if rows.empty:
        return {}
    several = len(view.metrics) > 1
    if view.by == "series":
        name = ((rows.metric + " · " if several else "") + rows.host
                + rows.region.map(lambda r: f" · {r}" if isinstance(r, str) else ""))
    elif view.by in ("host", "region"):
        split = rows[view.by].fillna("(none)")
        name = rows.metric + " · " + split if several else split
    else:
        name = rows.metric
    return reduced_cells(rows.value, name, rows.ts // width * width, view.agg)


def assert_matches(snap: Snapshot, frame: pd.DataFrame, view: View) -> None:
    got = cells(run(snap, view))
    want = reference(frame, view, int(frame.ts.max()))
    assert sorted(got) == sorted(want)
    for trace, expected in want.items():
        assert list(got[trace]) == list(expected), trace  # same buckets, in time order
        np.testing.assert_allclose(list(got[trace].values()), list(expected.values()),
                                   rtol=1e-12, err_msg=trace)


FRAME = random_points(seed=3, n=6000, span=3 * HOUR)
SNAP = load(FRAME)
LATE = load(FRAME, chunks=7)  # batches overlap in time: every one after the first is late


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("by", ["none", "series", "host", "region"])
@pytest.mark.parametrize("bucket", ["10s", "1m", "5m", "1h", "1d"])
def test_every_aggregation_and_split_matches_pandas(agg: str, by: str, bucket: str) -> None:
    assert_matches(SNAP, FRAME, View(metrics=("cpu",), agg=agg, bucket=bucket, by=by))


@pytest.mark.parametrize("agg", ["mean", "count", "p50", "p95", "max"])
@pytest.mark.parametrize("window, filters, metrics", [
    ("1h", (), ("cpu",)),  # the window starts inside a bucket
    ("15m", (("host", ("a", "c")),), ("cpu", "mem")),
    ("all", (("region", ("eu",)),), ("cpu", "mem")),
    ("all", (("host", ("d",)), ("region", ("eu",))), ("cpu",)),  # no series left
    ("5m", (("region", ("us",)),), ("mem",)),
])
@pytest.mark.parametrize("by", ["none", "series", "region"])
@pytest.mark.parametrize("bucket", ["1m", "1h"])
def test_windows_and_filters_match_pandas(agg: str, window: str,
                                          filters: tuple[tuple[str, tuple[str, ...]], ...],
                                          metrics: tuple[str, ...], by: str, bucket: str) -> None:
    view = View(metrics=metrics, filters=filters, window=window, agg=agg, bucket=bucket, by=by)
    assert_matches(SNAP, FRAME, view)


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("by", ["none", "host"])
@pytest.mark.parametrize("bucket", ["1m", "1h"])
def test_late_appends_answer_as_one_sorted_load(agg: str, by: str, bucket: str) -> None:
    assert_matches(LATE, FRAME, View(metrics=("cpu", "mem"), agg=agg, bucket=bucket, by=by))


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("start, end", [
    (START + 90 * MINUTE + 7 * SECOND, START + 150 * MINUTE + 13 * SECOND),  # cuts both edges
    (START + HOUR, START + 2 * HOUR - 1),  # exactly one hour
    (START - 2 * HOUR, START - HOUR),  # before the data: empty
])
def test_start_and_end_cut_buckets_as_pandas_does(agg: str, start: int, end: int) -> None:
    for by in ("none", "host"):
        view = View(metrics=("cpu",), start=start, end=end, agg=agg, bucket="1h", by=by)
        assert_matches(SNAP, FRAME, view)


@pytest.mark.parametrize("values, agg, expected", [
    ([7.0], "p99", 7.0),  # one point
    ([7.0], "count", 1.0),
    ([2.0, 2.0, 2.0, 2.0], "p90", 2.0),  # all equal
    ([2.0, 2.0, 2.0, 2.0], "mean", 2.0),
    ([1.0, 2.0, 3.0, 4.0], "p90", 3.7),  # 0.9 * 3 = 2.7: 3 + 0.7 * (4 - 3)
    ([1.0, 2.0, 3.0, 4.0], "p50", 2.5),
    ([4.0, 1.0, 3.0, 2.0], "p99", 3.97),
])
@pytest.mark.parametrize("hosts", [1, 2])  # one series, or the same values split over two
def test_one_bucket_by_hand(values: list[float], agg: str, expected: float, hosts: int) -> None:
    n = len(values)
    names = ["a", "b"][:hosts]
    snap = load(pd.DataFrame({"ts": START + np.arange(n) * SECOND, "metric": ["cpu"] * n,
                              "value": values, "host": [names[i % hosts] for i in range(n)]}))
    result = run(snap, View(metrics=("cpu",), agg=agg, bucket="1m", by="none"))
    assert cells(result) == {"cpu": {START: pytest.approx(expected)}}


def test_an_empty_dataset_draws_empty_traces() -> None:
    snap = Dataset("t", SCHEMA).snapshot()
    for agg in ("p95", "mean", "raw", "auto"):
        result = run(snap, View(metrics=("cpu",), agg=agg, bucket="1m", by="host"))
        assert cells(result) == {}


def test_merged_percentiles_with_whole_ranked_hours_match_numpy() -> None:
    """Many hosts per trace, whole closed hours: the bracketed selection, checked
    against numpy over each hour's values."""
    rng = np.random.default_rng(11)
    n = 40 * 3 * 3600
    frame = pd.DataFrame({"ts": START + np.arange(n) // 40 * SECOND, "metric": "cpu",
                          "value": rng.normal(50, 10, n) * rng.choice([1, 3], n),
                          "host": np.tile([f"h{i}" for i in range(40)], n // 40)})
    snap = load(frame, chunks=5)
    for agg in ("p50", "p90", "p99"):
        result = run(snap, View(metrics=("cpu",), agg=agg, bucket="1h", by="none"))
        hours = frame.value.to_numpy().reshape(3, -1)
        expected = np.percentile(hours, int(agg[1:]), axis=1)  # linear, numpy's default
        assert result.traces[0].x.tolist() == [START, START + HOUR, START + 2 * HOUR]
        np.testing.assert_allclose(result.traces[0].y, expected, rtol=1e-12)


# -- ranked buckets kept on append -------------------------------------------------------

def assert_ranked(columns: SeriesColumns, sid: int = 0) -> None:
    """Each tier holds exactly the closed buckets' values sorted, recomputed from raw."""
    start, count = int(columns.start[sid]), int(columns.count[sid])
    ts, value = columns.ts[start:start + count], columns.value[start:start + count]
    for t, tier in enumerate(RANKED_TIERS):
        closed = int(np.searchsorted(ts, ts[-1] // tier * tier, "left")) if len(ts) else 0
        assert columns.ranked_count[t, sid] == closed
        bounds = bucket_bounds(ts[:closed], tier)
        expected = np.concatenate([np.sort(value[a:b]) for a, b in pairwise(bounds)]
                                  or [np.empty(0)])
        assert columns.ranked[t][start:start + closed].tolist() == expected.tolist()
        assert_records(columns, sid, t, closed)


def assert_records(columns: SeriesColumns, sid: int, t: int, closed: int) -> None:
    """A series' records of tier ``t``, if it keeps them, are its closed buckets exactly:
    where each starts, its number and its sum, recomputed from the raw points."""
    records, tier = columns.records[t], RANKED_TIERS[t]
    a, c = int(records.start[sid]), int(records.count[sid])
    if not records.kept[sid]:
        assert c == 0
        return
    start = int(columns.start[sid])
    ts, value = columns.ts[start:start + closed], columns.value[start:start + closed]
    heads = bucket_bounds(ts, tier)[:-1] if closed else np.zeros(0, np.int64)
    assert records.offset[a:a + c].tolist() == heads.tolist()
    assert records.bucket[a:a + c].tolist() == (ts[heads] // tier).tolist()
    # Summed to the bit as the engine sums a cell of points (``reduce_runs``: reduceat).
    sums = np.add.reduceat(value, heads) if closed else np.zeros(0)
    assert records.total[a:a + c].tolist() == sums.tolist()
    assert c <= closed // RECORD_POINTS + RECORD_SLACK  # only dense series keep them


@pytest.mark.parametrize("steps", [
    [(0, 7200, 1)],  # one batch of two hours, a point a second
    [(0, 3000, 1), (3000, 7300, 1)],  # in order, crossing an hour
    [(0, 7200, 1), (1800, 1900, 1)],  # late points into a closed hour
    [(0, 600, 1)] + [(600 + i, 601 + i, 1) for i in range(200)],  # one point at a time
    [(0, 7200, 1), (100, 101, 1), (7200, 9000, 1)],  # late, then in order again
    [(0, 10, 1)] + [(10 + 30 * i, 11 + 30 * i, 1) for i in range(300)],  # sparse: 2 a minute
])
def test_ranked_buckets_equal_a_fresh_sort_after_appends(
        steps: list[tuple[int, int, int]]) -> None:
    rng = np.random.default_rng(2)
    columns = SeriesColumns()
    columns.add_series(3)
    for lo, hi, step in steps:
        ts = START + np.arange(lo, hi, step, dtype=np.int64) * SECOND
        values = rng.normal(size=len(ts)).round(2)
        for sid in (0, 2):  # two series moving and growing past each other
            if len(ts) == 1:
                columns.append_one(sid, int(ts[0]), float(values[0]))
            else:
                columns.append(np.full(len(ts), sid), ts, values)
            assert_ranked(columns, sid)
    assert columns.count[1] == 0


@pytest.mark.parametrize("drop", [1, 59, 60, 61, 3599, 3600, 5000])
def test_ranked_buckets_after_retention(drop: int) -> None:
    columns = SeriesColumns()
    columns.add_series(2)
    ts = START + np.arange(0, 7300, dtype=np.int64) * SECOND
    values = np.random.default_rng(4).normal(size=len(ts))
    columns.append(np.repeat([0, 1], len(ts)), np.tile(ts, 2), np.tile(values, 2))
    columns.drop_oldest(np.array([drop, 0]))
    assert columns.count.tolist()[:2] == [7300 - drop, 7300]
    assert columns.ts[columns.start[0]] == ts[drop]
    assert_ranked(columns, 0)
    assert_ranked(columns, 1)


def test_retention_keeps_the_newest_points_and_answers_stay_exact() -> None:
    frame = random_points(seed=5, n=4000, span=2 * HOUR)
    frame["ts"] = START + np.arange(4000) * SECOND  # distinct instants: "oldest" is clear
    snap = load(frame, chunks=8, retention=1000)
    merged = snap.merged()
    assert 1000 <= len(merged.ts) <= 1250
    kept = frame.iloc[len(frame) - len(merged.ts):]
    assert merged.ts.tolist() == kept.ts.tolist()  # the newest points, oldest dropped
    for agg in ("p95", "mean", "count"):
        assert_matches(snap, kept, View(metrics=("cpu", "mem"), agg=agg, bucket="1m",
                                        by="series"))


@pytest.mark.parametrize("lengths", [[3, 1, 4], [60] * 5, [1] * 9, [5000, 2, 1]])
def test_sort_segments_sorts_within_segments_only(lengths: list[int]) -> None:
    values = np.random.default_rng(1).normal(size=sum(lengths))
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    expected = np.concatenate([np.sort(values[a:b]) for a, b in
                               pairwise(bounds)])
    assert sort_segments(values, bounds).tolist() == expected.tolist()


def series_of(snap: Snapshot, sid: int) -> str:
    return snap.label_values["host"][int(snap.series_labels["host"][sid])]


@pytest.mark.parametrize("seed, series, batches, late", [
    (1, 3, 40, 0.0),  # few series, growing past their room again and again
    (2, 60, 30, 0.0),  # many series: moves and compactions interleave
    (3, 60, 30, 0.3),  # and late points into closed buckets
    (4, 500, 10, 0.1),  # sparse series: about one point each per batch
])
def test_shared_columns_hold_every_series_sorted_and_ranked(seed: int, series: int,
                                                            batches: int, late: float) -> None:
    """Random batches over many series (one-point batches too): every series reads back as
    its points sorted by time (equal times in arrival order), ranked buckets equal a fresh
    sort, and a snapshot taken midway never changes."""
    rng = np.random.default_rng(seed)
    columns = SeriesColumns()
    columns.add_series(series)
    held: list[list[tuple[int, int, float]]] = [[] for _ in range(series)]  # (ts, arrival, v)
    clock, arrival, frozen = 0, 0, None
    for b in range(batches):
        k = int(rng.integers(1, 200)) if b % 3 else 1
        sid = rng.integers(0, series, k)
        ts = START + (clock + rng.integers(0, 120, k)) * SECOND
        back = rng.random(k) < late
        ts[back] -= rng.integers(60, 7200, int(back.sum())) * SECOND
        clock += 60
        values = rng.normal(size=k).round(1)
        order = np.lexsort((ts, sid))  # by series, then time: what Dataset hands over
        if k == 1:
            columns.append_one(int(sid[0]), int(ts[0]), float(values[0]))
        else:
            columns.append(sid[order], ts[order], values[order])
        for i in order.tolist():
            held[int(sid[i])].append((int(ts[i]), arrival, float(values[i])))
            arrival += 1
        if b == batches // 2:
            frozen = ([columns.ts[columns.start[i]:columns.start[i] + columns.count[i]].copy()
                       for i in range(series)], columns.ts, columns.start[:series].copy(),
                      columns.count[:series].copy())
            records = [r.frozen() for r in columns.records]
            record_copies = [[record_lists(r, i) for i in range(series)] for r in records]
    for i in range(series):
        expected = sorted(held[i])
        start, count = int(columns.start[i]), int(columns.count[i])
        assert columns.ts[start:start + count].tolist() == [t for t, _, _ in expected]
        assert columns.value[start:start + count].tolist() == [v for _, _, v in expected]
        if count:
            assert_ranked(columns, i)
    assert frozen is not None
    copies, ts_column, starts, counts = frozen
    for i in range(series):  # what a snapshot kept still reads the same
        assert ts_column[starts[i]:starts[i] + counts[i]].tolist() == copies[i].tolist()
        for r, kept in zip(records, record_copies, strict=True):
            assert record_lists(r, i) == kept[i]


def record_lists(records: Records, sid: int) -> tuple[list[int], list[int], list[float]]:
    """A series' records as a snapshot reads them: offsets, bucket numbers, sums."""
    a, c = int(records.start[sid]), int(records.count[sid])
    return (records.offset[a:a + c].tolist(), records.bucket[a:a + c].tolist(),
            records.total[a:a + c].tolist())


def spaced(pattern: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` sorted instants (ns) of one series: how real series space their points."""
    if pattern == "steady":  # a point every 10 s
        return START + np.arange(n) * 10 * SECOND
    if pattern == "jitter":  # every 10 s, a few seconds early or late
        return np.sort(START + np.arange(n) * 10 * SECOND + rng.integers(-4, 5, n) * SECOND)
    if pattern == "bursts":  # a burst of points, then silence
        return np.sort(START + (np.arange(n) // 50) * 30 * MINUTE
                       + rng.integers(0, 50, n) * SECOND)
    if pattern == "on-edges":  # repeated instants, many exactly on a minute
        return np.sort(START + rng.integers(0, n // 4, n) * 15 * SECOND)
    return np.sort(START + rng.integers(0, n * 20, n) * SECOND)  # "random"


@pytest.mark.parametrize("pattern", ["steady", "jitter", "bursts", "on-edges", "random"])
@pytest.mark.parametrize("series", [1, 3, 80])  # 80: past LOOP_SERIES, searched all at once
@pytest.mark.parametrize("width", [MINUTE, HOUR])
def test_guessed_edge_positions_equal_a_binary_search(pattern: str, series: int,
                                                      width: int) -> None:
    rng = np.random.default_rng(7)
    runs = [spaced(pattern, int(rng.integers(200, 1200)), rng) for _ in range(series)]
    ts = np.concatenate(runs)
    start = np.cumsum([len(r) for r in runs]) - [len(r) for r in runs]
    stop = start + [len(r) for r in runs]
    first, last = ts[start] // width, ts[stop - 1] // width
    owner = np.repeat(np.arange(series), last - first)
    edges = np.concatenate([np.arange(a + 1, b + 1) * width
                            for a, b in zip(first, last, strict=True)])
    expected = [int(start[o]) + int(np.searchsorted(runs[o], e))
                for o, e in zip(owner, edges, strict=True)]
    assert edge_positions(ts, start, stop, owner, edges).tolist() == expected


# -- shapes of data the engine must not get wrong, against pandas ------------------------

def points(ts: np.ndarray, host: list[str] | np.ndarray, value: np.ndarray,
           metric: str = "cpu") -> pd.DataFrame:
    return pd.DataFrame({"ts": np.asarray(ts, np.int64), "metric": metric,
                         "value": np.asarray(value, np.float64), "host": host})


def steady(seed: int, hours: int = 4) -> pd.DataFrame:
    """3 hosts a point every 10 s, a few seconds early or late, for ``hours``: long series
    whose bucket edges are found by the guessed positions."""
    rng = np.random.default_rng(seed)
    n = hours * 360
    ts = START + np.arange(n) * 10 * SECOND
    return pd.concat([points(ts + rng.integers(-4, 5, n) * SECOND, [h] * n,
                             rng.normal(50, 10, n).round(2)) for h in ("a", "b", "c")],
                     ignore_index=True)


def shaped(kind: str) -> pd.DataFrame:
    """One small dataset per kind of trouble."""
    if kind == "one point":
        return points(np.array([START + 61 * SECOND]), ["a"], np.array([4.5]))
    if kind == "all equal":  # 3 closed hours: the ranked path, every value tied
        n = 3 * 3600
        ts = np.tile(START + np.arange(n) * SECOND, 2)
        return points(ts, ["a"] * n + ["b"] * n, np.full(2 * n, 7.25))
    if kind == "same instants":  # hosts at one instant, and a host twice at one instant
        ts = START + np.array([0, 0, 0, 30, 30, 90, 3600, 3600]) * SECOND
        return points(ts, ["a", "b", "a", "a", "c", "b", "c", "c"],
                      np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]))
    if kind == "gap":  # ten minutes, nearly three hours of nothing, ten minutes
        seconds = np.concatenate([np.arange(0, 600), np.arange(3 * 3600, 3 * 3600 + 600)])
        n = len(seconds)
        return points(START + seconds * SECOND, np.array(["a", "b"])[np.arange(n) % 2],
                      np.random.default_rng(3).normal(size=n).round(3))
    return steady(seed=8)  # "steady"


KINDS = ("one point", "all equal", "same instants", "gap", "steady")
SHAPED = {kind: (shaped(kind), load(shaped(kind), chunks=3)) for kind in KINDS}


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("by", ["none", "series", "host"])
@pytest.mark.parametrize("bucket", ["1m", "5m", "1h"])
@pytest.mark.parametrize("kind", KINDS)
def test_data_shapes_match_pandas(kind: str, agg: str, by: str, bucket: str) -> None:
    frame, snap = SHAPED[kind]
    assert_matches(snap, frame, View(metrics=("cpu",), agg=agg, bucket=bucket, by=by))


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("start, end, buckets", [
    (START + 20 * MINUTE, START + 2 * HOUR, 0),  # wholly inside the gap: nothing
    (START + 5 * MINUTE + 30 * SECOND, START + 150 * MINUTE, 5),  # cuts a minute, then gap
    (START + 90 * MINUTE, START + 3 * HOUR + 2 * MINUTE + 1, 3),  # gap, then cuts a minute
])
def test_windows_over_a_gap_match_pandas(agg: str, start: int, end: int, buckets: int) -> None:
    frame, snap = SHAPED["gap"]
    view = View(metrics=("cpu",), start=start, end=end, agg=agg, bucket="1m", by="none")
    assert_matches(snap, frame, view)
    assert sum(len(t.x) for t in run(snap, view).traces) == buckets


def dense() -> pd.DataFrame:
    """3 hosts a point a second (they keep minute and hour records), a sparse host a
    point every 5 minutes (it keeps none), two hours and a half."""
    rng = np.random.default_rng(12)
    n = 150 * 60
    ts = START + 13 * SECOND + np.arange(n) * SECOND
    frames = [points(ts + rng.integers(0, 2, n) * SECOND, [h] * n,
                     rng.normal(50, 10, n).round(2)) for h in ("a", "b", "c")]
    sparse = START + np.arange(0, 150, 5) * MINUTE
    frames.append(points(sparse, ["d"] * len(sparse), np.arange(len(sparse)) - 10.0))
    return pd.concat(frames, ignore_index=True)


DENSE = dense()
DENSE_SNAP = load(DENSE.sample(frac=1.0, random_state=4), chunks=6)  # late points too
CUTS = {  # (start, end) of the view
    "all": (None, None),
    "cuts minutes": (START + 17 * MINUTE + 31 * SECOND, START + 104 * MINUTE + 5 * SECOND),
    "inside a minute": (START + 40 * MINUTE + 3 * SECOND, START + 40 * MINUTE + 50 * SECOND),
    "ends in the open bucket": (START + 59 * MINUTE + 59 * SECOND, None),
}


@pytest.mark.parametrize("bucket", ["10s", "1m", "5m", "15m", "1h", "1d"])
@pytest.mark.parametrize("cut", list(CUTS))
@pytest.mark.parametrize("by", ["none", "series", "host"])
def test_bucket_records_change_no_answer(bucket: str, cut: str, by: str) -> None:
    """Views of series keeping bucket records (and of one that does not) equal pandas,
    and equal to the bit what the same snapshot answers from its points alone."""
    # Loaded out of order (so sparse at first): a, b and c record minutes and 5 minutes
    # again; d keeps its 2 hours (a first bucket or two may be sparse) but no minutes and
    # no 5 minutes (a point each).
    kept = [{series_of(DENSE_SNAP, sid) for sid in np.flatnonzero(records.kept).tolist()}
            for records in DENSE_SNAP.bucket_records]
    keeping = {MINUTE: {"a", "b", "c"}, 5 * MINUTE: {"a", "b", "c"},
               HOUR: {"a", "b", "c", "d"}}
    assert kept == [keeping[tier] for tier in RANKED_TIERS]
    points_only = replace(DENSE_SNAP, bucket_records=())
    start, end = CUTS[cut]
    for agg in AGGS:
        view = View(metrics=("cpu",), start=start, end=end, agg=agg, bucket=bucket, by=by)
        frame = DENSE[(DENSE.ts >= (start or 0)) & (DENSE.ts <= (end or DENSE.ts.max()))]
        assert_matches(DENSE_SNAP, frame, view)
        got, want = run(DENSE_SNAP, view), run(points_only, view)
        assert [(t.name, t.x.tolist(), t.y.tolist()) for t in got.traces] == \
            [(t.name, t.x.tolist(), t.y.tolist()) for t in want.traces], agg


def retained(points: int, age: int) -> tuple[pd.DataFrame, Snapshot, pd.DataFrame]:
    """Six hours of steady points fed in shuffled batches (late points) to a dataset that
    keeps ``points`` points or ``age`` ns back from the newest: (all the points, its
    snapshot, the points it kept as a frame)."""
    frame = steady(seed=9, hours=6)
    dataset = Dataset("t", SCHEMA, retention=points, max_age_ns=age)
    shuffled = frame.sample(frac=1.0, random_state=2)
    for part in np.array_split(np.arange(len(shuffled)), 12):
        rows = shuffled.iloc[np.sort(part)]
        dataset.append(batch(rows.ts.to_numpy(), rows.metric.to_numpy(), rows.value.to_numpy(),
                             rows.host.to_numpy()))
    snap = dataset.snapshot()
    held = snap.merged()
    kept = pd.DataFrame({"ts": held.ts, "metric": "cpu", "value": held.value,
                         "host": [snap.label_values["host"][c] for c in held.labels["host"]]})
    return frame, snap, kept


KEEPS = {"2,000 points": (2000, 0), "90 minutes": (0, 90 * MINUTE)}
RETAINED = {name: retained(*keep) for name, keep in KEEPS.items()}


@pytest.mark.parametrize("keep", list(KEEPS))
def test_retention_keeps_the_newest_points(keep: str) -> None:
    frame, _, kept = RETAINED[keep]
    assert 0 < len(kept) < len(frame)
    key = ["ts", "host"]
    assert kept.set_index(key).index.isin(frame.set_index(key).index).all()
    dropped = frame[~frame.set_index(key).index.isin(kept.set_index(key).index)]
    assert len(dropped) + len(kept) == len(frame)
    assert int(dropped.ts.max()) <= int(kept.ts.min())  # none kept older than one dropped


@pytest.mark.parametrize("agg", AGGS)
@pytest.mark.parametrize("by", ["none", "series"])
@pytest.mark.parametrize("bucket", ["1m", "1h"])
@pytest.mark.parametrize("keep", list(KEEPS))
def test_answers_after_retention_match_pandas_on_the_points_kept(
        agg: str, by: str, bucket: str, keep: str) -> None:
    _, snap, kept = RETAINED[keep]
    assert_matches(snap, kept, View(metrics=("cpu",), agg=agg, bucket=bucket, by=by))
