"""View x snapshot -> traces, checked against pandas: slicing, filters, splits, aggregation."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.data.store import Dataset, Snapshot, Store
from app.engine.compute import Result, choose_bucket, run, select
from app.engine.view import View as BaseView
from tests.samples import read_table


def View(**fields: Any) -> BaseView:
    """A view drawing one trace per metric unless ``by`` says otherwise (the engine's cases;
    the page's default, by=series, is tested in test_drawing.py)."""
    return BaseView(**{"by": "none", **fields})


SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
MAY_1 = pd.Timestamp("2024-05-01T00:00:00Z")
FREQ = {"1s": "1s", "10s": "10s", "1m": "1min", "5m": "5min", "15m": "15min", "1h": "1h",
        "1d": "1D"}
AGGS = ("mean", "sum", "min", "max", "count", "p50", "p95", "p99")
REGION = {"web-1": "eu", "web-2": "eu", "web-3": "us"}


def dataset(frame: pd.DataFrame, retention: int = 0) -> Dataset:
    """A store dataset loaded from a table, the way a CSV file is (schema, batch, append)."""
    reading = read_table(frame)
    loaded = Store(retention).create("test", reading.schema)
    loaded.append(reading.batch)
    return loaded


def snapshot(frame: pd.DataFrame) -> Snapshot:
    """The snapshot a view is computed on."""
    return dataset(frame).snapshot()


def times(*seconds: float) -> pd.Series:
    """UTC timestamps this many seconds after 2024-05-01T00:00:00Z."""
    return pd.Series([MAY_1 + pd.Timedelta(seconds=s) for s in seconds])


def ns(*seconds: float) -> list[int]:
    """The same instants as ns since the epoch, as traces carry them."""
    return [MAY_1.value + int(s * SECOND) for s in seconds]


def as_dict(result: Result) -> dict[str, tuple[list[int], list[float]]]:
    """Trace name -> (x, y), what a chart draws."""
    return {t.name: (t.x.tolist(), t.y.tolist()) for t in result.traces}


def random_hosts(seed: int = 7, rows: int = 600) -> pd.DataFrame:
    """Two hours of wide rows from three hosts at irregular, sometimes shared, instants."""
    rng = np.random.default_rng(seed)
    offsets = np.sort(rng.integers(0, 2 * 3600 * 1000, rows)) / 1000  # ms resolution
    hosts = rng.choice(list(REGION), rows)
    return pd.DataFrame({
        "timestamp": times(*offsets),
        "cpu": rng.normal(50, 15, rows).round(2),
        "mem": rng.uniform(0, 100, rows).round(1),
        "host": hosts,
        "region": [REGION[h] for h in hosts],
    })


def reference(frame: pd.DataFrame, agg: str, bucket: str, by: str | None = None,
              filters: dict[str, list[str]] | None = None,
              metric: str = "cpu") -> dict[str, tuple[list[int], list[float]]]:
    """What the traces should be: pandas groupby on the floored time, default quantiles."""
    rows = frame
    for label, values in (filters or {}).items():
        rows = rows[rows[label].isin(values)]
    keys = [rows[by]] if by else []
    grouped = rows.groupby([*keys, rows["timestamp"].dt.floor(FREQ[bucket])])[metric]
    if agg == "count":
        table = grouped.size().astype(float)
    elif agg in ("p50", "p95", "p99"):
        table = grouped.quantile(int(agg[1:]) / 100)
    else:
        table = grouped.agg(agg)
    if not by:
        return {metric: ([t.value for t in table.index], table.tolist())}
    return {name: ([t.value for t in part.index.get_level_values(1)], part.tolist())
            for name, part in table.groupby(level=0)}


def assert_traces(result: Result, expected: dict[str, tuple[list[int], list[float]]]) -> None:
    got = as_dict(result)
    assert sorted(got) == sorted(expected)
    for name, (x, y) in expected.items():
        assert got[name][0] == x, name
        np.testing.assert_allclose(got[name][1], y, rtol=1e-12, err_msg=name)


HOSTS = random_hosts()
HOSTS_SNAP = snapshot(HOSTS)


@pytest.mark.parametrize("by", [None, "host", "region"])
@pytest.mark.parametrize("bucket", ["10s", "1m", "15m", "1h"])
@pytest.mark.parametrize("agg", AGGS)
def test_aggregations_match_pandas(agg: str, bucket: str, by: str | None) -> None:
    result = run(HOSTS_SNAP, View(metrics=("cpu",), agg=agg, bucket=bucket, by=by))
    assert (result.agg, result.bucket, result.truncated) == (agg, bucket, False)
    assert_traces(result, reference(HOSTS, agg, bucket, by))


@pytest.mark.parametrize("filters", [
    {"host": ["web-2"]},
    {"host": ["web-1", "web-3"]},  # OR within a label
    {"host": ["web-1", "web-3"], "region": ["eu"]},  # AND across labels: web-1 only
    {"region": ["us", "eu"]},
])
@pytest.mark.parametrize("agg", ["mean", "count", "p95"])
def test_label_filters_match_pandas(filters: dict[str, list[str]], agg: str) -> None:
    view = View(metrics=("mem",), agg=agg, bucket="5m", by="host",
                filters=tuple((k, tuple(sorted(v))) for k, v in sorted(filters.items())))
    assert_traces(run(HOSTS_SNAP, view), reference(HOSTS, agg, "5m", "host", filters, "mem"))


@pytest.mark.parametrize("values, agg, expected", [
    ([4.0], "p50", 4.0),
    ([4.0], "p99", 4.0),
    ([1.0, 2.0], "p50", 1.5),
    ([1.0, 2.0, 3.0, 4.0], "p95", 3.85),
    ([10.0, 0.0, 5.0], "p99", 9.9),
    ([3.0, 1.0, 2.0], "min", 1.0),
    ([3.0, 1.0, 2.0], "max", 3.0),
    ([3.0, 1.0, 2.0], "sum", 6.0),
    ([3.0, 1.0, 2.0], "mean", 2.0),
    ([3.0, 1.0, 2.0], "count", 3.0),
])
def test_aggregate_one_bucket(values: list[float], agg: str, expected: float) -> None:
    frame = pd.DataFrame({"timestamp": times(*range(len(values))), "cpu": values})
    result = run(snapshot(frame), View(metrics=("cpu",), agg=agg, bucket="1m"))
    assert [(t.name, t.x.tolist()) for t in result.traces] == [("cpu", ns(0))]
    assert result.traces[0].y.tolist() == pytest.approx([expected])


def test_aggregate_keeps_groups_and_buckets_apart() -> None:
    frame = pd.DataFrame({"timestamp": times(0, 5, 10, 65, 70, 130),
                          "cpu": [1.0, 10.0, 3.0, 20.0, 5.0, 30.0],
                          "host": ["a", "b", "a", "b", "a", "b"]})
    result = run(snapshot(frame), View(metrics=("cpu",), agg="sum", bucket="1m", by="host"))
    assert as_dict(result) == {"a": (ns(0, 60), [4.0, 5.0]),
                               "b": (ns(0, 60, 120), [10.0, 20.0, 30.0])}


@pytest.mark.parametrize("span, max_points, bucket", [
    (0, 5000, SECOND),
    (4999 * SECOND, 5000, SECOND),
    (5000 * SECOND, 5000, 10 * SECOND),
    (HOUR, 100, MINUTE),
    (HOUR, 60, 5 * MINUTE),
    (30 * DAY, 1000, HOUR),
    (365 * DAY, 100, 7 * DAY),
    (100 * 365 * DAY, 10, 365 * DAY),  # nothing fits: the coarsest bucket
])
def test_choose_bucket_is_the_finest_that_fits(span: int, max_points: int, bucket: int) -> None:
    assert choose_bucket(0, span, max_points) == bucket


def test_auto_aggregation_stays_within_auto_max_points() -> None:
    # 19 s from 00:00:09 to 00:00:28: 10 s buckets "fit" (19 // 10 + 1 = 2) but there are three.
    frame = pd.DataFrame({"timestamp": times(9, 9, 15, 28), "v": [1.0, 2.0, 3.0, 4.0]})
    result = run(snapshot(frame), View(metrics=("v",)), auto_max_points=2)
    assert result.agg == "mean"
    assert len(result.traces[0].x) <= 2


def test_auto_draws_raw_points_of_a_single_series() -> None:
    frame = pd.DataFrame({"timestamp": times(0, 60, 120, 180), "value": [1.0, 4.0, 2.0, 8.0]})
    result = run(snapshot(frame), View(metrics=("value",)))
    assert (result.agg, result.bucket) == ("raw", None)
    assert as_dict(result) == {"value": (ns(0, 60, 120, 180), [1.0, 4.0, 2.0, 8.0])}


def test_auto_aggregates_a_series_with_more_points_than_allowed() -> None:
    frame = pd.DataFrame({"timestamp": times(*range(60)), "value": np.arange(60.0)})
    result = run(snapshot(frame), View(metrics=("value",)), auto_max_points=10)
    assert (result.agg, result.bucket) == ("mean", "10s")
    assert as_dict(result) == {"value": (ns(0, 10, 20, 30, 40, 50),
                                         [4.5, 14.5, 24.5, 34.5, 44.5, 54.5])}


SHARED_INSTANTS = pd.DataFrame({
    "timestamp": times(0, 0, 60, 60, 120, 120),
    "cpu": [10.0, 20.0, 11.0, 21.0, 12.0, 22.0],
    "host": ["web-1", "web-2"] * 3,
})


def test_auto_averages_series_that_share_instants_instead_of_zig_zagging() -> None:
    result = run(snapshot(SHARED_INSTANTS), View(metrics=("cpu",)))
    assert (result.agg, result.bucket) == ("mean", "1s")
    assert as_dict(result) == {"cpu": (ns(0, 60, 120), [15.0, 16.0, 17.0])}


def test_auto_with_by_draws_each_series_raw() -> None:
    result = run(snapshot(SHARED_INSTANTS), View(metrics=("cpu",), by="host"))
    assert result.agg == "raw"
    assert as_dict(result) == {"web-1": (ns(0, 60, 120), [10.0, 11.0, 12.0]),
                               "web-2": (ns(0, 60, 120), [20.0, 21.0, 22.0])}


def test_auto_with_a_filter_to_one_series_draws_it_raw() -> None:
    view = View(metrics=("cpu",), filters=(("host", ("web-2",)),))
    result = run(snapshot(SHARED_INSTANTS), view)
    assert result.agg == "raw"
    assert as_dict(result) == {"cpu": (ns(0, 60, 120), [20.0, 21.0, 22.0])}


DAILY = pd.DataFrame({
    "timestamp": times(*(d * 86400 for d in range(5))),
    "temp": [12.0, 15.5, 9.0, 11.0, 14.0],
    "weather": ["sunny", "sunny", "rain", "cloudy", "sunny"],
})


@pytest.mark.parametrize("view", [View(metrics=("temp",)), View(metrics=("temp",), agg="raw")])
def test_a_label_that_describes_each_instant_changes_nothing(view: BaseView) -> None:
    with_label = run(snapshot(DAILY), view)
    without_label = run(snapshot(DAILY.drop(columns="weather")), view)
    assert with_label.agg == without_label.agg == "raw"
    assert as_dict(with_label) == as_dict(without_label) == {
        "temp": (ns(*(d * 86400 for d in range(5))), [12.0, 15.5, 9.0, 11.0, 14.0])}


def test_filter_on_a_describing_label_keeps_its_instants() -> None:
    view = View(metrics=("temp",), filters=(("weather", ("sunny",)),))
    assert as_dict(run(snapshot(DAILY), view)) == {
        "temp": (ns(0, 86400, 4 * 86400), [12.0, 15.5, 14.0])}


def test_select_names_one_trace_per_metric_and_split_value() -> None:
    sel = select(HOSTS_SNAP, View(metrics=("cpu", "mem"), by="region"))
    regions = HOSTS_SNAP.label_values["region"]
    assert sel.names == tuple(f"{m} · {r}" for m in ("cpu", "mem") for r in regions)
    assert int(sel.counts.sum()) == 2 * len(HOSTS)
    assert as_dict(run(HOSTS_SNAP, View(metrics=("cpu", "mem"), agg="max", bucket="1h",
                                        by="region"))) == {
        f"{m} · {r}": v for m in ("cpu", "mem")
        for r, v in reference(HOSTS, "max", "1h", "region", metric=m).items()}


def test_missing_label_values_form_their_own_trace() -> None:
    frame = pd.DataFrame({"timestamp": times(0, 0, 60), "metric": ["cpu"] * 3,
                          "value": [1.0, 2.0, 3.0], "host": ["web-1", None, None]})
    result = run(snapshot(frame), View(metrics=("cpu",), by="host"))
    assert as_dict(result) == {"web-1": (ns(0), [1.0]), "(none)": (ns(0, 60), [2.0, 3.0])}


MINUTELY = pd.DataFrame({
    "timestamp": times(*range(0, 3601, 60)),  # 00:00 .. 01:00, 61 points
    "cpu": np.arange(61.0),
    "host": ["web-1"] * 30 + ["web-2"] * 31,
})


@pytest.mark.parametrize("view, first, last", [
    (View(metrics=("cpu",)), 0, 60),
    (View(metrics=("cpu",), window="5m"), 55, 60),  # the window's start is inclusive
    (View(metrics=("cpu",), window="15m"), 45, 60),
    (View(metrics=("cpu",), window="1h"), 0, 60),
    (View(metrics=("cpu",), window="24h"), 0, 60),
    (View(metrics=("cpu",), start=ns(600)[0], end=ns(1200)[0]), 10, 20),  # inclusive bounds
    (View(metrics=("cpu",), start=ns(601)[0], end=ns(1199)[0]), 11, 19),
    (View(metrics=("cpu",), start=ns(3000)[0]), 50, 60),
    (View(metrics=("cpu",), end=ns(120)[0]), 0, 2),
    (View(metrics=("cpu",), window="5m", start=ns(0)[0], end=ns(60)[0]), 0, 1),  # start wins
])
def test_time_range_slicing(view: BaseView, first: int, last: int) -> None:
    minutes = list(range(first, last + 1))
    assert as_dict(run(snapshot(MINUTELY), view)) == {
        "cpu": (ns(*(m * 60 for m in minutes)), [float(m) for m in minutes])}


def test_window_counts_back_from_the_datasets_newest_point_not_the_filtered_ones() -> None:
    view = View(metrics=("cpu",), window="5m", filters=(("host", ("web-1",)),))
    assert as_dict(run(snapshot(MINUTELY), view)) == {"cpu": ([], [])}


@pytest.mark.parametrize("view, expected", [
    (View(metrics=("cpu",), filters=(("host", ("web-9",)),)), {"cpu": ([], [])}),
    (View(metrics=("cpu",), agg="mean", filters=(("host", ("web-9",)),)), {"cpu": ([], [])}),
    (View(metrics=("cpu",), by="host", filters=(("host", ("web-9",)),)), {}),
    (View(metrics=("cpu",), start=ns(7200)[0]), {"cpu": ([], [])}),
    (View(metrics=("cpu",), filters=(("host", ("web-9", "web-1")),), window="5m"),
     {"cpu": ([], [])}),
])
def test_views_that_select_nothing_give_empty_traces(view: BaseView,
                                                    expected: dict[str, Any]) -> None:
    assert as_dict(run(snapshot(MINUTELY), view)) == expected


@pytest.mark.parametrize("view, expected", [
    (View(metrics=("cpu",), agg="raw"),
     {"cpu": (ns(3360, 3420, 3480, 3540, 3600), [56.0, 57.0, 58.0, 59.0, 60.0])}),
    (View(metrics=("cpu",), agg="raw", by="host"),
     {"web-1": (ns(1500, 1560, 1620, 1680, 1740), [25.0, 26.0, 27.0, 28.0, 29.0]),
      "web-2": (ns(3360, 3420, 3480, 3540, 3600), [56.0, 57.0, 58.0, 59.0, 60.0])}),
    (View(metrics=("cpu",), agg="max", bucket="5m"),
     {"cpu": (ns(2400, 2700, 3000, 3300, 3600), [44.0, 49.0, 54.0, 59.0, 60.0])}),
])
def test_raw_max_points_keeps_the_newest_points(view: BaseView,
                                                expected: dict[str, Any]) -> None:
    result = run(snapshot(MINUTELY), view, raw_max_points=5)
    assert result.truncated
    assert as_dict(result) == expected


def test_no_truncation_at_the_limit() -> None:
    result = run(snapshot(MINUTELY), View(metrics=("cpu",), agg="raw"), raw_max_points=61)
    assert not result.truncated
    assert len(result.traces[0].x) == 61


def test_run_accepts_a_selection_made_before() -> None:
    view = View(metrics=("cpu",), by="host")
    sel = select(HOSTS_SNAP, view)
    assert as_dict(run(HOSTS_SNAP, view, sel=sel)) == as_dict(run(HOSTS_SNAP, view))
