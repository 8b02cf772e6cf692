"""What the chart draws: series told apart by the labels that key them, raw points or
buckets with their min–max band, thinning that keeps extremes, honest titles, units."""
from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
import pytest

from app.data.store import Snapshot, Store
from app.engine import charts
from app.engine.delta import extension
from app.engine.drawing import ChartLimits, auto_bucket, draw, spacing, thin
from app.engine.serieskeys import SeriesKeys, key_labels, select_series
from app.engine.view import View, parse_view
from tests.samples import read_table

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
DAY = 86400 * SECOND
MAY_1 = pd.Timestamp("2024-05-01T00:00:00Z")


def snapshot(frame: pd.DataFrame, name: str = "test") -> Snapshot:
    """A store snapshot loaded from a table, the way a CSV file is."""
    reading = read_table(frame)
    dataset = Store().create(name, reading.schema)
    dataset.append(reading.batch)
    return dataset.snapshot()


def view_of(snap: Snapshot, query: str) -> View:
    return parse_view(parse_qsl(query), snap.metrics, tuple(snap.label_values))


def stocks(days: int = 5) -> pd.DataFrame:
    """Three symbols' daily close, and the day's weather (the same for every symbol)."""
    weather = ["sunny", "rain", "rain", "cloudy", "sunny", "rain", "sunny"]
    rows = [{"timestamp": MAY_1 + pd.Timedelta(days=d), "symbol": s,
             "close": 100.0 * (i + 1) + d, "weather": weather[d % len(weather)]}
            for d in range(days) for i, s in enumerate(("AAA", "BBB", "CCC"))]
    return pd.DataFrame(rows)


def hosts(minutes: int, names: tuple[str, ...] = ("web-1", "web-2"), stagger: bool = False,
          seed: int = 3) -> pd.DataFrame:
    """One point per host per minute (at the same instants, or each host at its own second)."""
    rng = np.random.default_rng(seed)
    rows = [{"timestamp": MAY_1 + pd.Timedelta(minutes=m, seconds=(7 * i if stagger else 0)),
             "host": h, "region": "eu" if i % 2 == 0 else "us",
             "cpu": round(float(rng.uniform(5, 95)), 2)}
            for m in range(minutes) for i, h in enumerate(names)]
    return pd.DataFrame(rows)


@pytest.mark.parametrize("frame, expected", [
    (hosts(30), ("host",)),  # host tells apart points at one instant; region follows host
    (hosts(30, stagger=True), ("host",)),  # hosts taking turns at their own seconds
    (stocks(), ("symbol",)),  # the weather is the same for every symbol on a day
    (stocks().query("symbol == 'AAA'"), ()),  # one symbol: the weather makes no series
    (hosts(30, names=("web-1",)), ()),
])
def test_the_labels_that_tell_series_apart(frame: pd.DataFrame,
                                           expected: tuple[str, ...]) -> None:
    assert key_labels(snapshot(frame)) == expected


def test_a_daily_weather_label_splits_no_series_and_no_line() -> None:
    snap = snapshot(stocks())
    sel, too_many = select_series(snap, view_of(snap, "metric=close"), ("symbol",), 20)
    assert too_many is None
    assert sel.names == ("AAA", "BBB", "CCC")
    result = draw(snap, view_of(snap, "metric=close"), ChartLimits()).result
    assert result.agg == "raw"
    # Each symbol is one line through all five days, whatever the weather was.
    assert {t.name: t.y.tolist() for t in result.traces} == {
        "AAA": [100.0, 101.0, 102.0, 103.0, 104.0], "BBB": [200.0, 201.0, 202.0, 203.0, 204.0],
        "CCC": [300.0, 301.0, 302.0, 303.0, 304.0]}


def test_series_keys_are_kept_per_version() -> None:
    store = Store()
    frame = hosts(3)
    reading = read_table(frame)
    dataset = store.create("fleet", reading.schema)
    dataset.append(reading.batch)
    keys = SeriesKeys()
    assert keys.labels(dataset.snapshot()) == ("host",)
    more = pd.DataFrame([{"timestamp": MAY_1 + pd.Timedelta(minutes=9), "host": "web-1",
                          "region": "eu", "cpu": 1.0}])
    dataset.append(read_table(more, reading.schema).batch)
    assert keys.labels(dataset.snapshot()) == ("host",)


def test_by_series_is_the_default_and_draws_each_host_raw() -> None:
    snap = snapshot(hosts(30))
    view = view_of(snap, "")
    assert (view.by, view.query) == ("series", "metric=cpu")
    fig = charts.build(snap, view)
    assert [t["name"] for t in fig["data"]] == ["web-1", "web-2"]
    assert [t["meta"] for t in fig["data"]] == ["raw", "raw"]
    assert [len(t["x"]) for t in fig["data"]] == [30, 30]


@pytest.mark.parametrize("query, traces, notice", [
    # five hosts, more than four: one line per metric, and the notice says which label
    ("metric=cpu&by=host", ["band", "band", "mean"], "5 values of host, more than 4"),
    ("metric=cpu&agg=p95&bucket=1m&by=host", ["p95"], "5 values of host, more than 4"),
    # region has two values: drawn one by one, no notice
    ("metric=cpu&by=region", ["band", "band", "mean"] * 2, None),
])
def test_a_label_of_more_values_than_max_series_draws_one_line_per_metric(
        query: str, traces: list[str], notice: str | None) -> None:
    snap = snapshot(hosts(10, names=tuple(f"h{i}" for i in range(5))))
    fig = charts.build(snap, view_of(snap, query), ChartLimits(max_series=4))
    assert [t["meta"] for t in fig["data"]] == traces
    if notice is None:
        assert "notice" not in fig
        return
    assert fig["notice"]["series"] == 5 and fig["notice"]["limit"] == 4
    assert fig["layout"]["annotations"][0]["text"].startswith(notice)
    # a band is named only where one is drawn (a p95 across hosts has none)
    assert ("min–max band" in fig["notice"]["text"]) == ("band" in traces)
    assert [s["label"] for s in fig["notice"]["split"]] == ["region"]


def test_past_max_series_one_line_per_metric_with_a_band_and_a_notice() -> None:
    snap = snapshot(hosts(10, names=tuple(f"h{i}" for i in range(5))))
    fig = charts.build(snap, view_of(snap, "metric=cpu"), ChartLimits(max_series=4))
    assert [t["meta"] for t in fig["data"]] == ["band", "band", "mean"]
    notice = fig["notice"]
    assert notice["series"] == 5 and notice["limit"] == 4
    assert "5 series" in notice["text"] and "Split by region" in notice["text"]
    # host has five values, more than four: only region is offered as a split.
    assert notice["split"] == [{"label": "region", "values": 2,
                                "query": "metric=cpu&by=region"}]
    # The chart says it too, with or without JavaScript.
    assert fig["layout"]["annotations"][0]["text"] == (
        "5 series, more than 4: one line per metric across them; split by region to see "
        "them apart")
    from app.engine import svg

    assert "5 series: more than the 4 drawn one by one" in str(svg.render(fig, "t"))


@pytest.mark.parametrize("step, span, max_buckets, expected", [
    (MINUTE, 6 * 3600 * SECOND, 2000, MINUTE),  # 10 s would fit, but one-minute data
    (MINUTE, 3 * DAY, 2000, 5 * MINUTE),  # 4,320 minutes: 5m is the finest that fits
    (SECOND, 900 * SECOND, 2000, SECOND),
    (int(60.4 * SECOND), 3600 * SECOND, 2000, MINUTE),  # a little late is still per minute
    (None, 100 * SECOND, 10, 15 * SECOND),  # 100 s: 10 s gives 11 buckets, 15 s gives 7
])
def test_auto_bucket_fits_and_is_no_finer_than_the_data(step: int | None, span: int,
                                                        max_buckets: int, expected: int) -> None:
    start = MAY_1.value
    assert auto_bucket(start, start + span, max_buckets, step) == expected


def test_one_minute_data_is_never_titled_per_10s() -> None:
    # Two hosts at each instant, across hosts: auto must aggregate. Six hours of
    # one-minute data fit 2,000 buckets of 10 s, but each would hold one instant.
    snap = snapshot(hosts(360))
    sel, _ = select_series(snap, view_of(snap, "by=none"), ("host",), 20)
    assert spacing(snap, sel) == MINUTE
    fig = charts.build(snap, view_of(snap, "by=none"))
    title = fig["layout"]["title"]["text"]
    assert title == "test: mean(cpu) per 1m, band: min–max"


def test_bands_hold_each_buckets_min_and_max() -> None:
    frame = pd.DataFrame({
        "timestamp": [MAY_1 + pd.Timedelta(seconds=s) for s in (0, 0, 0, 60, 60, 60)],
        "host": ["a", "b", "c"] * 2, "cpu": [10.0, 20.0, 90.0, 5.0, 50.0, 60.0]})
    snap = snapshot(frame)
    fig = charts.build(snap, view_of(snap, "by=none"))
    low, high, line = fig["data"]
    assert (low["name"], high["name"], line["name"]) == ("cpu min", "cpu max", "cpu")
    assert low["y"].tolist() == [10.0, 5.0]
    assert high["y"].tolist() == [90.0, 60.0]
    assert line["y"].tolist() == [40.0, 115.0 / 3]
    assert high["fill"] == "tonexty" and low["legendgroup"] == high["legendgroup"] == "cpu"
    assert low["hoverinfo"] == high["hoverinfo"] == "skip"


def test_three_days_of_six_hosts_never_draw_thousands_of_raw_points_a_trace() -> None:
    snap = snapshot(hosts(3 * 1440, names=tuple(f"web-{i}" for i in range(1, 7))))
    fig = charts.build(snap, view_of(snap, "metric=cpu"))
    lines = [t for t in fig["data"] if t["meta"] != "band"]
    assert [t["name"] for t in lines] == [f"web-{i}" for i in range(1, 7)]
    assert all(len(t["x"]) == 864 for t in lines)  # 4,320 minutes in 5-minute buckets
    assert fig["layout"]["title"]["text"] == "test: mean(cpu) per 5m, band: min–max"


@pytest.mark.parametrize("n, max_points", [(10_000, 200), (1001, 100), (50, 100)])
def test_thinning_keeps_every_extreme(n: int, max_points: int) -> None:
    rng = np.random.default_rng(n)
    x = np.arange(n, dtype=np.int64) * SECOND
    y = rng.normal(0, 1, n)
    y[n // 3] = 50.0  # one spike up, one down: both must survive
    y[2 * n // 3] = -50.0
    tx, ty = thin(x, y, max_points)
    assert len(tx) <= max_points
    assert 50.0 in ty and -50.0 in ty
    assert np.all(np.diff(tx) > 0)
    # Every slice of the time axis keeps its own min and max.
    if n > max_points:
        slices = np.array_split(np.arange(n), max_points // 2)
        kept = set(tx.tolist())
        assert all(int(x[s][np.argmax(y[s])]) in kept for s in slices[1:-1])


def test_raw_views_too_big_for_the_chart_are_thinned_and_never_extended() -> None:
    frame = pd.DataFrame({"timestamp": [MAY_1 + pd.Timedelta(seconds=s) for s in range(5000)],
                          "v": np.sin(np.arange(5000) / 50.0)})
    snap = snapshot(frame)
    fig = charts.build(snap, view_of(snap, "agg=raw"))
    [trace] = fig["data"]
    assert len(trace["x"]) <= 2000 and trace["meta"] == "thinned"
    assert extension(fig, fig) is None


@pytest.mark.parametrize("metric, values, unit", [
    ("latency_ms", [1.0, 900.0], "ms"), ("cpu", [5.0, 81.0], "%"), ("cpu", [0.5, 130.0], None),
    ("mem", [], None), ("request_bytes", [1.0], "B"), ("temperature", [20.0], None),
    ("duration_seconds", [0.1], "s"), ("load", [0.2], None),
])
def test_units_come_from_names_and_are_never_guessed(metric: str, values: list[float],
                                                     unit: str | None) -> None:
    assert charts.unit_of(metric, np.array(values)) == unit


def demo_like() -> Snapshot:
    rows: list[dict[str, Any]] = [
        {"timestamp": MAY_1 + pd.Timedelta(seconds=s), "host": h, "cpu": 10.0 + s + i,
         "mem": 50.0 + i, "latency_ms": 1200.5 + s}
        for s in range(20) for i, h in enumerate(("web-1", "web-2"))]
    return snapshot(pd.DataFrame(rows), "demo")


def test_metrics_in_other_units_get_a_row_of_their_own() -> None:
    snap = demo_like()
    fig = charts.build(snap, view_of(snap, "metric=cpu&metric=mem&metric=latency_ms"))
    layout = fig["layout"]
    assert layout["yaxis"]["title"]["text"] == "cpu, mem (%)"
    assert layout["yaxis2"]["title"]["text"] == "latency_ms (ms)"
    assert layout["yaxis"]["domain"][0] > layout["yaxis2"]["domain"][1]  # stacked, apart
    rows = {t["name"]: t["yaxis"] for t in fig["data"]}
    assert rows == {"cpu · web-1": "y", "cpu · web-2": "y", "latency_ms · web-1": "y2",
                    "latency_ms · web-2": "y2", "mem · web-1": "y", "mem · web-2": "y"}


def test_config_hover_and_number_formats() -> None:
    snap = demo_like()
    fig = charts.build(snap, view_of(snap, "metric=latency_ms"))
    config = fig["config"]
    assert config["displaylogo"] is False and config["responsive"] is True
    assert config["showSendToCloud"] is False and config["showEditInChartStudio"] is False
    layout = fig["layout"]
    assert layout["hovermode"] == "x unified"
    # Values near 1,200 ms: four significant digits, thousands separated, unit named.
    assert fig["data"][0]["hovertemplate"] == "%{y:,.0f} ms"
    assert layout["yaxis"]["tickformat"] == ",.0~f"
    assert layout["yaxis"]["separatethousands"] is True


def test_hover_values_keep_their_decimals() -> None:
    """cpu tops out below 100: two decimals, kept when they are zeros ("20.00" beside
    "25.94" in the hover box, as the rows table writes them); ticks drop them ("20")."""
    snap = demo_like()
    fig = charts.build(snap, view_of(snap, "metric=cpu"))
    assert {t["hovertemplate"].split("}")[0] for t in fig["data"]} == {"%{y:,.2f"}
    assert fig["layout"]["yaxis"]["tickformat"] == ",.2~f"


def test_the_chart_in_words_names_its_lines_span_and_last_values() -> None:
    snap = demo_like()
    fig = charts.build(snap, view_of(snap, "metric=cpu&tz=Europe/Berlin"))
    assert fig["summary"] == (
        "Chart of demo: cpu. 2 lines from 2024-05-01 02:00:00 CEST to 2024-05-01 02:00:19 "
        "CEST (Europe/Berlin). Last values: web-1 29.00%, web-2 30.00%.")


@pytest.mark.parametrize("value, text", [
    (None, ""), (0.0, "0"), (5.0, "5"), (41.52671, "41.53"), (5.8, "5.80"),
    (1234.5, "1,234.50"), (99_999.994, "99,999.99"), (1_234_567.8, "1,234,568"),
    (0.012345, "0.0123"), (-3.14159, "-3.14"), (float("nan"), "nan"),
])
def test_numbers_on_pages_line_up(value: float | None, text: str) -> None:
    from app.web.helpers import number

    assert number(value) == text
