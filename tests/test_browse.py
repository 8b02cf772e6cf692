"""Facets, stats, the rows table and exports, against pandas references; escaping of data."""
from __future__ import annotations

import csv
import io
import json
import re
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
import pytest
from flask.testing import FlaskClient

from app.data.schema import Schema
from app.data.store import Dataset, Snapshot
from app.engine import browse
from app.engine import compute as query
from app.engine.view import parse_view
from tests.samples import read_table

HOSTS = ["web-1", "web-2", "web-3"]
REGION = {"web-1": "eu", "web-2": "eu", "web-3": "us"}


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """600 seconds x 3 hosts, wide, with cpu and mem; web-3 misses every 7th second of cpu."""
    rng = np.random.default_rng(3)
    rows = []
    for second in range(600):
        for host in HOSTS:
            cpu = float(rng.normal(50, 10)) if not (host == "web-3" and second % 7 == 0) else None
            rows.append({"timestamp": pd.Timestamp("2024-05-01", tz="UTC")
                         + pd.Timedelta(seconds=second), "cpu": cpu,
                         "mem": float(rng.normal(30, 3)), "host": host, "region": REGION[host]})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def snap(frame: pd.DataFrame) -> Snapshot:
    schema = Schema("timestamp", "wide", ("cpu", "mem"), ("host", "region"))
    dataset = Dataset("hosts", schema)
    text = frame.assign(timestamp=frame.timestamp.dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    dataset.append(read_table(text, schema).batch)
    return dataset.snapshot()


def view_of(snap: Snapshot, query_string: str) -> Any:
    return parse_view(parse_qsl(query_string), snap.metrics, snap.label_values)


def reference(frame: pd.DataFrame, metric: str, window_s: int | None = None,
              **filters: list[str]) -> pd.DataFrame:
    """The view's points by the obvious pandas route."""
    long = frame.dropna(subset=[metric])
    if window_s is not None:
        long = long[long.timestamp >= frame.timestamp.max() - pd.Timedelta(seconds=window_s)]
    for label, values in filters.items():
        long = long[long[label].isin(values)]
    return long


@pytest.mark.parametrize("query_string, metric, window, filters", [
    ("metric=cpu", "cpu", None, {}),
    ("metric=mem&window=5m", "mem", 300, {}),
    ("metric=cpu&region=eu", "cpu", None, {"region": ["eu"]}),
    ("metric=cpu&host=web-1&host=web-3", "cpu", None, {"host": ["web-1", "web-3"]}),
])
def test_facet_counts_match_pandas(snap: Snapshot, frame: pd.DataFrame, query_string: str,
                                   metric: str, window: int | None,
                                   filters: dict[str, list[str]]) -> None:
    view = view_of(snap, query_string)
    got = {f.label: {v.value: v.count for v in f.values} for f in browse.facets(snap, view)}
    for label in ("host", "region"):
        # A label's own filter does not narrow its own counts (so more values can be added).
        others = {k: v for k, v in filters.items() if k != label}
        expected = reference(frame, metric, window, **others)[label].value_counts().to_dict()
        assert got[label] == expected


def test_facets_mark_selected_values_and_keep_selected_values_with_no_points(
        snap: Snapshot) -> None:
    view = view_of(snap, "metric=cpu&host=web-2&host=nope")
    [host, region] = browse.facets(snap, view)
    assert [(v.value, v.selected) for v in host.values] == [
        ("web-1", False), ("web-2", True), ("web-3", False), ("nope", True)]
    assert host.values[-1].count == 0
    assert [v.value for v in region.values] == ["eu"]  # only web-2's region has points


@pytest.mark.parametrize("query_string, by, filters", [
    ("metric=cpu&by=none", None, {}),
    ("metric=cpu&by=host", "host", {}),
    ("metric=cpu&by=host&host=web-3&host=web-1", "host", {"host": ["web-1", "web-3"]}),
    ("metric=mem&by=region&window=5m", "region", {}),
])
def test_stats_match_pandas(snap: Snapshot, frame: pd.DataFrame, query_string: str,
                            by: str | None, filters: dict[str, list[str]]) -> None:
    view = view_of(snap, query_string)
    metric = view.metrics[0]
    ref = reference(frame, metric, 300 if "window" in query_string else None, **filters)
    groups = ref.groupby(by) if by else [(metric, ref)]
    expected = {name: (len(g), g[metric].min(), g[metric].mean(), g[metric].max(),
                       g[metric].iloc[-1]) for name, g in groups}
    got = {s.name: (s.count, s.min, s.mean, s.max, s.last)
           for s in browse.stats(snap, query.select(snap, view))}
    assert got.keys() == expected.keys()
    for name in got:
        assert got[name] == pytest.approx(expected[name])


def test_raw_rows_are_newest_first_and_paginated(snap: Snapshot, frame: pd.DataFrame) -> None:
    view = view_of(snap, "metric=cpu&host=web-1&agg=raw")
    sel = query.select(snap, view)
    table = browse.rows(snap, view, sel, query.run(snap, view, sel=sel))
    ref = reference(frame, "cpu", host=["web-1"])
    assert table.columns == ("timestamp", "metric", "value", "host", "region")
    assert table.total == len(ref) and table.pages(50) == 12
    first = table.page(1, 50)
    assert len(first) == 50
    assert first[0] == ("2024-05-01T00:09:59Z", "cpu", pytest.approx(ref.cpu.iloc[-1]),
                        "web-1", "eu")
    assert table.page(12, 50)[-1][0] == "2024-05-01T00:00:00Z"
    assert len(table.page(12, 50)) == 0 or len(table.page(12, 50)) <= 50
    assert table.page(13, 50) == []


def test_aggregated_rows_match_pandas(snap: Snapshot, frame: pd.DataFrame) -> None:
    view = view_of(snap, "metric=cpu&agg=max&bucket=1m&by=region")
    sel = query.select(snap, view)
    table = browse.rows(snap, view, sel, query.run(snap, view, sel=sel))
    assert table.columns == ("timestamp", "series", "max")
    ref = reference(frame, "cpu")
    expected = ref.groupby([ref.timestamp.dt.floor("1min"), "region"]).cpu.max()
    got = [row for chunk in table.chunks(7) for row in chunk]
    assert len(got) == len(expected) == 20
    assert got[0][:2] == ("2024-05-01T00:09:00Z", "eu")
    for ts, series, value in got:
        assert value == pytest.approx(expected[(pd.Timestamp(ts), series)])


NASTY = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "{{7*7}}",
         "=cmd|' /C calc'!A0"]


@pytest.fixture
def nasty_client(write_csv: Any, app_config: dict[str, Any]) -> FlaskClient:
    from app import create_app
    lines = ["timestamp,value,tag"] + [
        f'2024-05-01T00:0{i}:00Z,{i},"{v.replace(chr(34), chr(34) * 2)}"'
        for i, v in enumerate(NASTY)]
    write_csv("nasty", "\n".join(lines) + "\n")
    return create_app(app_config).test_client()


def test_data_is_escaped_in_html_and_attributes(nasty_client: FlaskClient) -> None:
    for url in ("/", "/d/nasty?metric=value&by=tag", "/d/nasty?metric=value&tag=%7B%7B7*7%7D%7D"):
        response = nasty_client.get(url, follow_redirects=True)
        assert response.status_code == 200, url
        html = response.get_data(as_text=True)
        assert "<script>alert" not in html and "<img src=x" not in html
        assert ">49<" not in html and "=49" not in html  # {{7*7}} is shown, never evaluated
    html = nasty_client.get("/d/nasty?metric=value&by=tag").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "{{7*7}}" in html


def test_data_is_escaped_in_json_and_chart_names(nasty_client: FlaskClient) -> None:
    body = nasty_client.get("/api/d/nasty/figure?metric=value&by=tag").json
    names = [t["name"] for t in body["figure"]["data"]]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in names  # Plotly reads names as HTML-ish
    assert all("<" not in n for n in names)


def test_csv_export_neutralises_formulas(nasty_client: FlaskClient) -> None:
    response = nasty_client.get("/api/d/nasty/rows?metric=value&format=csv&agg=raw")
    assert response.mimetype == "text/csv"
    assert 'filename="nasty.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["timestamp", "metric", "value", "tag"]
    assert rows[1] == ["2024-05-01T00:03:00Z", "value", "3.0", "'=cmd|' /C calc'!A0"]
    assert [r[3] for r in rows[2:]] == ["{{7*7}}", '"><img src=x onerror=alert(1)>',
                                        "<script>alert(1)</script>"]


def test_json_export_has_every_row_of_the_view(client: FlaskClient) -> None:
    response = client.get("/api/d/hosts/rows?metric=cpu&host=web-2&format=json&page=3")
    body = json.loads(response.get_data())
    assert body["query"] == "metric=cpu&host=web-2"
    assert body["columns"] == ["timestamp", "metric", "value", "host", "region"]
    assert [r["value"] for r in body["rows"]] == [22.0, 21.0, 20.0]
    assert body["rows"][0] == {"timestamp": "2024-05-01T00:02:00Z", "metric": "cpu",
                               "value": 22.0, "host": "web-2", "region": "us"}


def test_export_format_is_validated(client: FlaskClient) -> None:
    response = client.get("/api/d/hosts/rows?format=xlsx")
    assert response.status_code == 400
    assert response.json["error"] == "format: 'xlsx' is not one of csv, json"


def test_page_never_renders_more_than_one_page_of_rows(client: FlaskClient, app: Any) -> None:
    app.config["TABLE_PAGE_SIZE"] = 4
    html = client.get("/d/hosts?metric=cpu&agg=raw").get_data(as_text=True)
    table = html[html.index('id="table"'):]
    assert table.count("<tr>") == 1 + 4  # header + one page
    assert "page 1 of 2" in table
    assert 'rel="next" hx-swap="none" href="/d/hosts?metric=cpu&amp;agg=raw&amp;page=2"' in table
    html = client.get("/d/hosts?metric=cpu&agg=raw&page=2").get_data(as_text=True)
    table = html[html.index('id="table"'):]
    assert table.count("<tr>") == 1 + 2 and 'rel="prev"' in table


def test_facet_links_toggle_filters(client: FlaskClient) -> None:
    html = client.get("/d/hosts?metric=cpu&host=web-1").get_data(as_text=True)
    facets = html[html.index('id="facets"'):html.index('id="stats"')]
    flat = facets.replace("\n", "").replace("           ", " ")
    assert ('href="/d/hosts?metric=cpu" aria-current="true"><span aria-hidden="true">✓ </span>'
            'web-1</a>') in flat
    assert 'href="/d/hosts?metric=cpu&amp;host=web-1&amp;host=web-2"' in facets


def test_page_has_an_svg_chart_under_the_live_one(client: FlaskClient) -> None:
    html = client.get("/d/hosts?metric=cpu&by=host").get_data(as_text=True)
    # Painted at once, with or without JavaScript; Plotly draws over it when it can.
    noscript = html[html.index('<div class="chart-placeholder'):html.index("</svg>")]
    assert noscript.count('<polyline class="trace"') == 2
    assert "<title>web-1</title>" in noscript and "<title>web-2</title>" in noscript
    assert 'class="x-ticks"' in noscript and 'class="y-ticks"' in noscript
    assert "00:01" in noscript  # a time tick


def test_svg_chart_escapes_names_once_and_marks_single_points() -> None:
    from app.engine import charts, svg

    figure = {"data": [
        {"name": "empty", "x": [], "y": []},
        {"name": "a&lt;b&amp;c", "x": [0, 60_000], "y": [1.0, 2.0]},  # as Plotly gets it
        {"name": "solo", "x": [30_000], "y": [5.0]},
    ], "layout": {}}
    out = str(svg.render(figure, "t"))
    assert "<title>a&lt;b&amp;c</title>" in out and "&amp;lt;" not in out
    assert out.count('<polyline class="trace"') == 1
    assert '<circle class="trace"' in out and "<title>solo</title></circle>" in out
    # Colours follow the trace's place in the figure, as in the live chart.
    assert f'stroke="{charts.COLOURS[1]}"' in out and f'fill="{charts.COLOURS[2]}"' in out


def test_aggregated_rows_are_complete_when_the_chart_keeps_only_the_newest(
        snap: Snapshot, frame: pd.DataFrame) -> None:
    view = view_of(snap, "metric=cpu&agg=count&bucket=1m&by=region")
    sel = query.select(snap, view)
    full = browse.rows(snap, view, sel, query.run(snap, view, sel=sel))
    cut = query.run(snap, view, raw_max_points=3, sel=sel)
    assert cut.truncated and all(len(t.x) == 3 for t in cut.traces)
    rows = browse.rows(snap, view, sel, cut)
    assert rows.total == full.total == 20
    assert list(rows.chunks()) == list(full.chunks())


@pytest.mark.parametrize("duration, words", [
    ("6h", "6 h"), ("90s", "90 s"), ("15m", "15 min"), ("24h", "24 h"), ("2d", "2 d"),
    ("7d", "7 d"), ("1w", "7 d"), ("120m", "2 h"), ("3601s", "3,601 s"), ("all", "all"),
    ("auto", "auto"),
])
def test_duration_words(duration: str, words: str) -> None:
    assert browse.duration_words(duration) == words


@pytest.mark.parametrize("seconds, words", [
    (0, "just now"), (1.9, "just now"), (-1.9, "just now"), (2, "2 s ago"), (2.9, "2 s ago"),
    (59.9, "59 s ago"), (60, "1 min ago"), (3599, "59 min ago"), (3600, "1 h ago"),
    (2 * 86400 - 1, "47 h ago"), (2 * 86400, "2 d ago"), (400 * 86400, "400 d ago"),
    (-300, "5 min from now"),
])
def test_age_words(seconds: float, words: str) -> None:
    assert browse.age_words(seconds) == words


def test_facet_ids_are_stable_valid_and_distinct() -> None:
    first = browse.facet_id("host", "web 1 <b>")
    assert first == browse.facet_id("host", "web 1 <b>")
    assert re.fullmatch(r"facet-[0-9a-f]{12}", first)
    assert browse.facet_id("a-b", "c") != browse.facet_id("a", "b-c")
