"""Live aggregated views redrawn by parts, and extend_chart deltas: applied to the previous
figure, every change gives exactly what a whole recomputation draws."""
from __future__ import annotations

import gc
import weakref
from collections.abc import Callable
from itertools import product
from urllib.parse import parse_qsl

import numpy as np
import pytest

from app.data.schema import Batch, Schema
from app.data.store import Dataset, Snapshot, Store
from app.engine.delta import LiveCharts, changes, extended, extension
from app.engine.drawing import ChartLimits, Drawing
from app.engine.serieskeys import SeriesKeys
from app.engine.view import View, parse_view
from app.jsoncodec import dumps
from app.live.figures import Figures

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
# 2024-10-27T00:00Z: Berlin's clocks go back at 01:00Z, inside the data (an hour twice).
START = 1_729_987_200 * SECOND
STEP = 10 * SECOND
INSTANTS = 720  # two hours of points every 10 s
END = START + (INSTANTS - 1) * STEP
HOSTS = {"web-1": "eu", "web-2": "eu", "web-3": "us", "web-4": "us"}
SCHEMA = Schema("timestamp", "long", (), ("host", "region"))
# Under the 720 points of a trace and over its 120 one-minute buckets: auto aggregates
# per minute with min-max bands, and no trace is thinned for the screen.
LIMITS = ChartLimits(auto_max_points=200, raw_max_points=50_000, max_series=20)
AGGREGATIONS = ("mean", "sum", "min", "max", "count", "p50", "p95", "p99", "auto")
SPLITS = ("host", "series", "none", "region")  # region: two series a trace
FILTERS = ("", "&region=eu")


def points(*rows: tuple[int, str, str, float]) -> Batch:
    """Points (ns, metric, host, value), the host's region as its label."""
    return Batch(np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], object),
                 np.array([r[3] for r in rows], np.float64),
                 {"host": np.array([r[2] for r in rows], object),
                  "region": np.array([HOSTS.get(r[2], "ap") for r in rows], object)})


def fleet_points() -> Batch:
    """Two hours of cpu and mem from four hosts every 10 s, values with ties (one decimal)."""
    rng = np.random.default_rng(7)
    ts = np.repeat(START + np.arange(INSTANTS) * STEP, 8)
    hosts = np.tile(np.repeat(list(HOSTS), 2), INSTANTS)
    metrics = np.tile(["cpu", "mem"], 4 * INSTANTS)
    values = np.round(rng.normal(50, 10, len(ts)), 1)
    return Batch(ts, metrics.astype(object), values,
                 {"host": hosts.astype(object),
                  "region": np.array([HOSTS[h] for h in hosts], object)})


def fleet() -> Dataset:
    """The dataset of ``fleet_points``."""
    dataset = Dataset("fleet", SCHEMA)
    dataset.append(fleet_points())
    return dataset


def view_of(dataset: Dataset, query: str) -> View:
    snap = dataset.snapshot()
    return parse_view(parse_qsl(query), snap.metrics, tuple(snap.label_values))


def same_drawing(a: Drawing, b: Drawing) -> bool:
    """Equal to the last bit: every trace's x and y, every band, the traces' names."""
    if a.result.agg != b.result.agg or a.result.bucket_ns != b.result.bucket_ns or \
            [t.name for t in a.result.traces] != [t.name for t in b.result.traces]:
        return False
    if not all(np.array_equal(s.x, t.x) and np.array_equal(s.y, t.y, equal_nan=True)
               for s, t in zip(a.result.traces, b.result.traces, strict=True)):
        return False
    if (a.bands is None) != (b.bands is None):
        return False
    return a.bands is None or b.bands is None or all(
        np.array_equal(p, q, equal_nan=True)
        for s, t in zip(a.bands, b.bands, strict=True) for p, q in zip(s, t, strict=True))


def follow(dataset: Dataset, query: str, change: Callable[[Dataset], None],
           charts: LiveCharts | None = None) -> tuple[bool, dict[str, object] | None]:
    """Draw ``query``, apply ``change``, redraw by parts and whole; check they agree and
    that the extend_chart delta turns the old figure into the new one. (redrawn, delta)"""
    charts = charts or LiveCharts(LIMITS, SeriesKeys())
    view = view_of(dataset, query)
    before = dataset.snapshot()
    drawing = charts.draw(before, view)
    old = charts.figure(before, view, drawing)
    change(dataset)
    snap = dataset.snapshot()
    whole = charts.draw(snap, view)
    new = charts.figure(snap, view, whole)
    redrawn = charts.redraw(before, drawing, snap, view)
    if redrawn is not None:
        assert same_drawing(redrawn, whole), query
        assert dumps(charts.figure(snap, view, redrawn)) == dumps(new), query
    delta = extension(old, new)
    if delta is not None:
        assert dumps(extended(old, delta)) == dumps({**new, "summary": new["summary"]}), query
    return redrawn is not None, delta


def append(*rows: tuple[int, str, str, float], retention: float = 0
           ) -> Callable[[Dataset], None]:
    """A change: ``rows`` appended, after setting the points kept to ``retention`` of the
    dataset's (0: as it was)."""
    def change(dataset: Dataset) -> None:
        if retention:
            dataset.retention = int(len(dataset) * retention)
        dataset.append(points(*rows))
    return change


# Changes that leave the older buckets alone: each view is redrawn by parts.
CHEAP = {
    "one point in the last bucket": append((END + 5 * SECOND, "cpu", "web-1", 99.0)),
    "a point per host in a new bucket": append(
        *[(END + MINUTE + i * SECOND, "cpu", h, 10.0 * i) for i, h in enumerate(HOSTS)]),
    "a batch over three buckets": append(
        *[(END + k * 40 * SECOND, "cpu", h, 40.0 + k) for k in range(1, 4) for h in HOSTS]),
    "a late point inside the last bucket": append((END - 5 * SECOND, "cpu", "web-2", 0.5)),
    "a late point half an hour back": append((END - 30 * MINUTE + 1, "cpu", "web-3", 7.0)),
    "only another metric": append((END + 5 * SECOND, "mem", "web-1", 3.0)),
    "a point equal to the last bucket's": append((END, "cpu", "web-4", 50.0)),
    # Two points a host in a new minute. The whole view (~6 points a series cell) sums
    # by series cell, (0.1 + 0.1) + (0.1 + 2.3) = 2.6; the new minute alone (2 points a
    # cell) would sum point by point, 0.1 + 0.1 + 0.1 + 2.3 = 2.5999999999999996.
    "sums that round by their order": append(
        *[(END + MINUTE // 2 + k * SECOND, "cpu", h, (0.1, 2.3 if i % 2 else 0.1)[k])
          for i, h in enumerate(HOSTS) for k in range(2)]),
}


@pytest.mark.parametrize("agg, by, where, change", [
    (agg, by, where, change) for agg, by, where, change in
    product(AGGREGATIONS, SPLITS, FILTERS, CHEAP)])
def test_a_redrawn_view_equals_the_whole_recomputation(agg: str, by: str, where: str,
                                                       change: str) -> None:
    bucket = "" if agg == "auto" else "&bucket=1m"
    redrawn, delta = follow(fleet(), f"metric=cpu&agg={agg}&by={by}{where}{bucket}",
                            CHEAP[change])
    assert redrawn
    assert delta is not None  # a few buckets, not the whole figure


def dense_fleet() -> Dataset:
    """Half an hour of cpu and mem from four hosts every second: series dense enough to
    keep bucket records, whole minutes of which views read their cells and sums from."""
    rng = np.random.default_rng(5)
    n = 1800
    ts = np.repeat(DENSE_START + np.arange(n) * SECOND, 8)
    hosts = np.tile(np.repeat(list(HOSTS), 2), n)
    dataset = Dataset("fleet", SCHEMA)
    dataset.append(Batch(ts, np.tile(["cpu", "mem"], 4 * n).astype(object),
                         np.round(rng.normal(50, 10, len(ts)), 1),
                         {"host": hosts.astype(object),
                          "region": np.array([HOSTS[h] for h in hosts], object)}))
    return dataset


DENSE_START = END - 1799 * SECOND  # ends where the fleet does: CHEAP's changes apply


@pytest.mark.parametrize("agg, by, bucket, change", [
    (agg, by, bucket, change) for agg, by, bucket, change in
    product(AGGREGATIONS[:-1], ("host", "series", "region"), ("1m", "5m"),
            ("one point in the last bucket", "a point per host in a new bucket",
             "a late point inside the last bucket"))])
def test_views_read_from_bucket_records_are_redrawn_equal(agg: str, by: str, bucket: str,
                                                          change: str) -> None:
    dataset = dense_fleet()
    assert dataset.snapshot().bucket_records[0].kept.all()  # minutes read from records
    redrawn, _ = follow(dataset, f"metric=cpu&agg={agg}&by={by}&bucket={bucket}",
                        CHEAP[change])
    assert redrawn


@pytest.mark.parametrize("query", [
    "metric=cpu&agg=p95&bucket=5m&by=host",  # a bucket without ranked values
    "metric=cpu&agg=p99&bucket=15m&by=region",  # several series per trace, not ranked
    "metric=cpu&metric=mem&agg=mean&bucket=1m&by=host",  # two metrics, two rows
    "metric=cpu&agg=max&bucket=1m&by=host&tz=Europe/Berlin",  # clocks go back in the data
    "metric=cpu&agg=auto&by=none&tz=America/New_York",
    "metric=cpu&agg=count&bucket=10s&by=series&host=web-1&host=web-4",
    "metric=cpu&agg=p50&bucket=1m&window=30m&by=host",  # a moving window
    "metric=cpu&agg=mean&bucket=5m&window=1h&by=none",
    "metric=cpu&agg=auto&window=1h&by=none",
    "metric=cpu&agg=sum&bucket=1m&start=2024-10-27T00:30:00Z&by=host",  # open-ended range
])
@pytest.mark.parametrize("change", ["one point in the last bucket",
                                    "a point per host in a new bucket",
                                    "a late point inside the last bucket"])
def test_other_shapes_are_redrawn_equal(query: str, change: str) -> None:
    redrawn, _ = follow(fleet(), query, CHEAP[change])
    assert redrawn


@pytest.mark.parametrize("query, change, redrawn", [
    # A new host is a new trace (a new series even where it joins a trace): whole.
    ("metric=cpu&agg=p95&bucket=1m&by=host",
     append((END + SECOND, "cpu", "web-5", 1.0)), False),
    ("metric=cpu&agg=mean&bucket=1m&by=none",
     append((END + SECOND, "cpu", "web-5", 1.0)), False),
    # A late point before most of the data: as dear as drawing it whole.
    ("metric=cpu&agg=p95&bucket=1m&by=host",
     append((START + MINUTE, "cpu", "web-1", 1.0)), False),
    # A late point before a moving window's start.
    ("metric=cpu&agg=mean&bucket=1m&window=30m&by=host",
     append((END - 40 * MINUTE, "cpu", "web-1", 1.0)), False),
    # A late point before a fixed range's start changes nothing in it.
    ("metric=cpu&agg=mean&bucket=1m&start=2024-10-27T01:00:00Z&by=host",
     append((START + MINUTE, "cpu", "web-1", 1.0)), False),
    # Points after a fixed range's end change nothing in it: nothing is recomputed.
    ("metric=cpu&agg=p95&bucket=1m&start=2024-10-27T00:30:00Z&end=2024-10-27T01:00:00Z",
     append((END + SECOND, "cpu", "web-1", 1.0)), True),
    # Another host than the filter shows.
    ("metric=cpu&agg=p95&bucket=1m&by=host&region=us",
     append((END + SECOND, "cpu", "web-1", 1.0)), True),
    # Retention takes the first 24 minutes: a shorter span, a finer auto bucket (30 s).
    ("metric=cpu&agg=auto&by=none",
     append((END + SECOND, "cpu", "web-1", 5.0), retention=0.8), False),
    # agg=auto with few enough points draws raw points: never redrawn by parts.
    ("metric=cpu&agg=auto&window=5m&host=web-1",
     append((END + SECOND, "cpu", "web-1", 1.0)), False),
    # The auto bucket grows with the span: 2 h in 1-minute buckets, 4 h in 2-minute ones.
    ("metric=cpu&agg=auto&by=none",
     append(*[(END + k * 40 * MINUTE, "cpu", h, 1.0) for k in range(1, 4) for h in HOSTS]),
     False),
])
def test_what_is_redrawn_by_parts_and_what_whole(query: str, change: Callable[[Dataset], None],
                                                 redrawn: bool) -> None:
    assert follow(fleet(), query, change)[0] == redrawn


@pytest.mark.parametrize("query", [
    "metric=cpu&agg=p95&bucket=1m&by=host",
    "metric=cpu&agg=auto&bucket=1m&by=none",  # mean with its min-max band
    "metric=cpu&agg=mean&bucket=1m&window=30m&by=region",
])
def test_retention_trimming_is_drawn_whole_and_sent_as_a_delta(query: str) -> None:
    dataset = fleet()
    before = len(dataset)
    # The next point passes 1.25x the points kept: a fifth goes, the oldest first, and
    # every series is copied into new columns: comparing them would cost more than
    # drawing the view whole. The figure still only lost its first buckets.
    redrawn, delta = follow(dataset, query,
                            append((END + SECOND, "cpu", "web-1", 5.0), retention=0.8))
    assert len(dataset) < before
    assert not redrawn
    assert delta is not None


@pytest.mark.parametrize("query, cut", [
    ("metric=cpu&agg=p50&bucket=1m&window=30m&by=host", True),
    ("metric=cpu&agg=mean&bucket=1m&window=30m&by=none", True),
    ("metric=cpu&agg=auto&bucket=1m&window=30m&by=none", True),  # mean, min and max bands
    # 360 points a trace: auto's 10 s buckets, one instant each, never cut
    ("metric=cpu&agg=auto&window=30m&by=region", False),
])
def test_a_moving_window_sends_its_cut_first_bucket_as_head(query: str, cut: bool) -> None:
    # The newest point 25 s later moves the window's start from 01:29:50 to 01:30:15:
    # the 01:30 minute keeps the points from :20 on, 4 of its 6, a new value.
    redrawn, delta = follow(fleet(), query, append((END + 25 * SECOND, "cpu", "web-1", 3.0)))
    assert redrawn and delta is not None
    if not cut:
        assert "head" not in delta
        return
    heads = delta["head"]  # a band's min or max may stay as it was
    assert isinstance(heads, list) and max(map(len, heads)) == 1


def test_a_view_whose_summing_order_changes_is_drawn_whole() -> None:
    # Two hosts, ten minutes: nine of 4 points a host, the last of 3. 78 points in 20
    # series cells is under 4 a cell: the whole view sums point by point. Two more points
    # make it 80, 4 a cell: the whole view now sums by series cell, so the nine kept
    # minutes, summed the other way before, must be recomputed too.
    rng = np.random.default_rng(11)
    rows = [(START + m * MINUTE + k * 10 * SECOND, "cpu", host, round(float(rng.normal(50, 9)), 1))
            for m in range(10) for k in range(4 if m < 9 else 3) for host in ("web-1", "web-2")]
    dataset = Dataset("pair", SCHEMA)
    dataset.append(points(*rows))
    late_in_minute = START + 9 * MINUTE + 45 * SECOND
    redrawn, _ = follow(dataset, "metric=cpu&agg=sum&bucket=1m&by=none",
                        append((late_in_minute, "cpu", "web-1", 0.7),
                               (late_in_minute, "cpu", "web-2", 0.3)))
    assert not redrawn


def test_too_many_series_are_one_line_with_its_band_and_redrawn() -> None:
    charts = LiveCharts(ChartLimits(auto_max_points=200, max_series=2), SeriesKeys())
    redrawn, delta = follow(fleet(), "metric=cpu", CHEAP["a point per host in a new bucket"],
                            charts)
    assert redrawn and delta is not None
    assert len(delta["traces"]) == 3  # type: ignore[arg-type]  # band min, band max, mean


def test_many_versions_in_a_row_stay_equal() -> None:
    dataset = fleet()
    charts = LiveCharts(LIMITS, SeriesKeys())
    view = view_of(dataset, "metric=cpu&agg=p95&bucket=1m&by=host")
    before = dataset.snapshot()
    drawing = charts.draw(before, view)
    figure = charts.figure(before, view, drawing)
    rng = np.random.default_rng(3)
    compactions = 0
    for k in range(1, 200):  # series outgrow their room and move on the way
        host = list(HOSTS)[k % 4]
        late = -int(rng.integers(0, 50)) * SECOND if k % 7 == 0 else 0
        dataset.append(points((END + k * 3 * SECOND + late, "cpu", host, float(k % 13))))
        snap = dataset.snapshot()
        redrawn = charts.redraw(before, drawing, snap, view)
        if snap.ts is not before.ts:  # every series copied: drawn whole, as Figures does
            assert redrawn is None
            compactions += 1
            redrawn = charts.draw(snap, view)
        assert redrawn is not None
        new = charts.figure(snap, view, redrawn)
        delta = extension(figure, new)
        assert delta is not None
        figure = extended(figure, delta)
        before, drawing = snap, redrawn
    whole = charts.figure(before, view, charts.draw(before, view))
    assert dumps(figure["data"]) == dumps(whole["data"])
    # A late point moves its series to fresh room, which runs out every few of them
    # here (28 late points, 9 compactions): the other 190 versions are drawn by parts.
    assert 0 < compactions <= 20


def held(snap: Snapshot) -> list[tuple[np.ndarray, ...]]:
    """Copies of every series' points as ``snap`` reads them: times, values, and the
    values ranked in each tier."""
    out = []
    for sid in range(len(snap.series_start)):
        a = int(snap.series_start[sid])
        b = a + int(snap.series_count[sid])
        out.append((snap.ts[a:b].copy(), snap.value[a:b].copy(),
                    *(column[a:a + int(snap.series_ranked[t, sid])].copy()
                      for t, column in enumerate(snap.ranked))))
    return out


def late_batch(dataset: Dataset) -> None:
    """Two points of one series 10 minutes back, between two of the held ones."""
    dataset.append(points((END - 10 * MINUTE + 5 * SECOND, "cpu", "web-1", 1.5),
                          (END - 10 * MINUTE + 6 * SECOND, "cpu", "web-1", 2.5)))


def late_everywhere(dataset: Dataset) -> None:
    """A point per host and metric 10 minutes back: every series moves (a compaction)."""
    dataset.append(points(*[(END - 10 * MINUTE + 5 * SECOND, m, h, 1.5)
                            for h in HOSTS for m in ("cpu", "mem")]))


def far_back(dataset: Dataset) -> None:
    """Half the held points again, 5 s after each: more to move than a compaction costs."""
    dataset.append(points(*[(START + i * STEP + 5 * SECOND, "cpu", h, float(i % 9))
                            for i in range(INSTANTS // 2, INSTANTS) for h in HOSTS]))


def growth(dataset: Dataset) -> None:
    """300 points more of one series, one by one: past its room, so it moves."""
    for k in range(1, 301):
        dataset.append(points((END + k * SECOND, "cpu", "web-3", float(k))))


# Changes below the newest points, or that make the store move points: the store must
# leave every point a snapshot holds as it was (``changes`` reads a series still at its
# place in the same columns as unchanged up to the snapshot's count, without comparing),
# and a redraw must still equal the whole recomputation. (change, same columns after)
BELOW = {
    "one late point into an old bucket": (append((END - 20 * MINUTE + 5 * SECOND, "cpu",
                                                  "web-1", 1.0)), True),
    "a late point at a held instant": (append((END - 20 * MINUTE, "cpu", "web-2", 1.0)), True),
    "a point at the newest instant again": (append((END, "cpu", "web-1", 2.0)), True),
    "a late batch of one series": (late_batch, True),
    "a late point per series": (late_everywhere, False),
    "late points enough to compact": (far_back, False),
    "a series outgrowing its room": (growth, True),
    "retention": (append((END + SECOND, "cpu", "web-1", 5.0), retention=0.8), False),
}


@pytest.mark.parametrize("change", BELOW)
def test_the_store_never_writes_below_what_a_snapshot_holds(change: str) -> None:
    apply, same_columns = BELOW[change]
    dataset = fleet()
    before = dataset.snapshot()
    kept = held(before)
    apply(dataset)
    snap = dataset.snapshot()
    assert (snap.ts is before.ts) == same_columns  # the case takes the path it names
    for sid, (old, now) in enumerate(zip(kept, held(before), strict=True)):
        for a, b in zip(old, now, strict=True):
            assert np.array_equal(a, b, equal_nan=True), (change, sid)


@pytest.mark.parametrize("change", BELOW)
@pytest.mark.parametrize("query", [
    "metric=cpu&agg=p95&bucket=1m&by=host",
    "metric=cpu&agg=mean&bucket=1m&by=none",
    "metric=cpu&agg=auto&by=region",
    "metric=cpu&metric=mem&agg=sum&bucket=5m&by=host&window=1h",
])
def test_points_below_the_newest_are_redrawn_equal(query: str, change: str) -> None:
    # Equal whenever redrawn by parts; drawn whole when the store copied every series
    # into new columns (compared point by point that costs more than a whole drawing).
    apply, same_columns = BELOW[change]
    redrawn, _ = follow(fleet(), query, apply)
    assert redrawn == same_columns


@pytest.mark.parametrize("change, earliest", [
    ("one late point into an old bucket", END - 20 * MINUTE + 5 * SECOND),
    ("a late point at a held instant", END - 20 * MINUTE),
    ("a point at the newest instant again", END),
    ("a late batch of one series", END - 10 * MINUTE + 5 * SECOND),
    ("a late point per series", END - 10 * MINUTE + 5 * SECOND),
    ("a series outgrowing its room", END + SECOND),
])
def test_changes_reach_back_to_the_earliest_point_written(change: str, earliest: int) -> None:
    dataset = fleet()
    before = dataset.snapshot()
    BELOW[change][0](dataset)
    snap = dataset.snapshot()
    every = np.arange(len(snap.series_start))
    assert changes(before, snap, every) == (None, earliest)


def test_old_columns_are_let_go_at_a_compaction() -> None:
    store = Store()
    dataset = store.create("fleet", SCHEMA)
    dataset.append(fleet_points())
    figures = Figures(store, LiveCharts(LIMITS, SeriesKeys()))
    views = [view_of(dataset, q) for q in ("metric=cpu&agg=p95&bucket=1m&by=host",
                                           "metric=cpu&agg=mean&bucket=1m&by=none")]
    for view in views:
        figures.get("fleet", view)
    store.append("fleet", points((END + SECOND, "cpu", "web-1", 4.0)))
    for view in views:
        figures.get("fleet", view)
    assert figures.redraws == 2  # both by parts, from two bases on the same columns
    old_columns = weakref.ref(dataset.snapshot().ts)
    dataset.retention = int(len(dataset) * 0.8)
    store.append("fleet", points((END + 2 * SECOND, "cpu", "web-1", 5.0)))  # copies all
    assert dataset.snapshot().ts is not old_columns()
    figures.get("fleet", views[0])  # drawn whole: the old bases are let go
    assert figures.redraws == 2
    gc.collect()
    assert old_columns() is None  # nothing pins a whole old copy of the points
    figures.get("fleet", views[1])
    store.append("fleet", points((END + 3 * SECOND, "cpu", "web-1", 6.0)))
    for view in views:
        figures.get("fleet", view)
    assert figures.redraws == 4  # by parts again on the new columns


@pytest.mark.parametrize("rows, expected", [
    ([], (None, None)),  # nothing new
    ([(END + SECOND, "cpu", "web-1", 1.0)], (None, END + SECOND)),
    ([(END - 25 * SECOND, "cpu", "web-1", 1.0)], (None, END - 25 * SECOND)),  # a late point
    ([(END + SECOND, "mem", "web-1", 1.0)], (None, None)),  # another series
])
def test_changes_name_the_earliest_instant_that_may_differ(
        rows: list[tuple[int, str, str, float]], expected: tuple[int | None, int | None]) -> None:
    dataset = fleet()
    before = dataset.snapshot()
    dataset.append(points(*rows))
    snap = dataset.snapshot()
    cpu_of_web_1 = np.array([0])  # the first series stored: cpu of web-1
    assert snap.metrics[int(snap.series_metric[0])] == "cpu"
    assert changes(before, snap, cpu_of_web_1) == expected


def test_changes_name_the_last_instant_retention_took() -> None:
    dataset = fleet()
    before = dataset.snapshot()
    dataset.retention = len(dataset) // 2
    dataset.append(points((END + SECOND, "cpu", "web-1", 1.0)))
    snap = dataset.snapshot()
    dropped, since = changes(before, snap, np.array([0]))
    first = int(snap.ts[snap.series_start[0]])
    assert dropped == first - STEP  # the point before the new first one
    assert since == END + SECOND


@pytest.mark.parametrize("old, new, expected", [
    # appended: nothing replaced
    ([1, 2, 3], [1, 2, 3, 4], {"x": [[4]], "replace": [0], "max_points": [4]}),
    # the last point's value changed: it is replaced, and one appended
    ([1, 2, 3], [1, 2, 3.5, 4], {"x": [[3, 4]], "replace": [1], "max_points": [4]}),
    # a moving window dropped the first point: max_points drops it
    ([1, 2, 3], [2, 3, 4], {"x": [[4]], "replace": [0], "max_points": [3]}),
    # nothing changed: an empty change (the version moves on)
    ([1, 2, 3], [1, 2, 3], {"x": [[]], "replace": [0], "max_points": [3]}),
    # a moving window's first bucket lost points: its new value in head, one appended
    ([1, 2, 3], [2.5, 3, 4], {"x": [[4]], "replace": [0], "max_points": [3],
                              "head": [[2.5]]}),
    # the first and the last bucket changed: both
    ([1, 2, 3], [1.5, 2, 3.5, 4], {"x": [[3, 4]], "replace": [1], "max_points": [4],
                                   "head": [[1.5]]}),
    # a one-point trace changed: as big as the whole figure
    ([1], [1.5], None),
    # the first and the second point changed: not a head, all replaced, the whole figure
    ([1, 2, 3], [1.5, 2.5, 3], None),
    # everything changed: no delta, the whole figure
    ([1, 2, 3], [5, 6], None),
])
def test_extension_replaces_only_what_changed(old: list[float], new: list[float],
                                              expected: dict[str, list[list[int]]] | None
                                              ) -> None:
    def fig(ys: list[float]) -> dict[str, object]:
        # x is each point's position in time; y is its value (x = floor of y here)
        xs = [int(y) for y in ys]
        return {"data": [{"meta": "mean", "x": np.array(xs), "y": np.array(ys, float)}],
                "layout": {}, "summary": "s"}

    change = extension(fig(old), fig(new))
    if expected is None:
        assert change is None
        return
    assert change is not None
    assert [list(x) for x in change["x"]] == expected["x"]
    # all zero: no key (an appending-only extend_chart is exactly Plotly.extendTraces')
    assert change.get("replace", [0]) == expected["replace"]
    assert change["max_points"] == expected["max_points"]
    assert [list(h) for h in change.get("head", [[]])] == expected.get("head", [[]])
    assert list(extended(fig(old), change)["data"][0]["y"]) == new
