"""Dashboards' data layer: validation, effective views, the file form and the file store."""
from __future__ import annotations

import ast
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from app.data.dashboards import (
    BrokenDashboard,
    Dashboard,
    DashboardListing,
    DashboardNotFound,
    DocumentError,
    FileDashboardStore,
    OverrideError,
    Overrides,
    Panel,
    Threshold,
    VersionConflict,
    decode_json,
    dump_document,
    effective_queries,
    effective_query,
    load_document,
    parse_document,
    parse_overrides,
    split_envelope,
)
from app.data.dashboards.fields import CSS_COLORS, instant_ns
from app.data.errors import Conflict

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {"demo": (("cpu", "mem", "latency_ms"), ("host", "region")),
            "stocks": (("price",), ("symbol",))}
VIEW_KEYS = ("metric", "agg", "by", "window", "start", "end", "tz", "page")


def check_query(dataset: str, query: str) -> str:
    """A stand-in for the app's view parser: sorted pairs are canonical; refuses what it
    does not know the way ``parse_view`` does (``param: message``)."""
    if dataset not in DATASETS:
        raise LookupError(dataset)
    labels = DATASETS[dataset][1]
    pairs = parse_qsl(query, keep_blank_values=True)
    for key, value in pairs:
        if key == "agg" and value not in ("mean", "p95"):
            raise ValueError(f"agg: {value!r} is not one of mean, p95")
        if key not in VIEW_KEYS and key not in labels:
            raise ValueError(f"{key}: unknown parameter")
    return urlencode(sorted(pairs))


def labels_of(dataset: str) -> tuple[str, ...]:
    """Label names of the stand-in datasets."""
    return DATASETS[dataset][1]


def base() -> dict[str, Any]:
    """A valid document with one panel of each type."""
    return {"title": "Fleet", "panels": [
        {"id": "cpu", "title": "CPU", "type": "timeseries", "dataset": "demo",
         "query": "metric=cpu", "thresholds": [{"value": 70, "color": "orange"}]},
        {"id": "mem", "type": "stat", "dataset": "demo", "query": "metric=mem"},
        {"id": "rows", "type": "table", "dataset": "demo"},
    ]}


DROP = object()
Mutation = Callable[[dict[str, Any]], None]


def _apply(target: dict[str, Any], changes: dict[str, Any]) -> None:
    for key, value in changes.items():
        if value is DROP:
            target.pop(key, None)
        else:
            target[key] = value


def top(**changes: Any) -> Mutation:
    """Set (or DROP) top-level fields."""
    return lambda doc: _apply(doc, changes)


def panel(index: int, **changes: Any) -> Mutation:
    """Set (or DROP) fields of panel ``index``."""
    return lambda doc: _apply(doc["panels"][index], changes)


def threshold(index: int, **changes: Any) -> Mutation:
    """Set (or DROP) fields of the first panel's threshold ``index``."""
    return lambda doc: _apply(doc["panels"][0]["thresholds"][index], changes)


DASH_KEYS = "title, description, window, start, end, tz, filters, panels"
PANEL_KEYS = "id, title, type, width, dataset, query, reduce, thresholds"
NAME_RULE = "is not 1 to 64 of the characters A-Z a-z 0-9 _ -"
INSTANT_RULE = ("is not an ISO-8601 instant between the years 1678 and 2261 "
                "(for example 2024-05-01T12:00:00Z)")
TZ_RULE = ("is not an IANA time zone; write it like UTC, Europe/Berlin, America/New_York or "
           "Asia/Kolkata")  # a view's words (tests/test_views.py)
# A view's window is refused in the same words (tests/test_errors.py).
DURATION_RULE = ("is not a duration: a whole number and a unit, s, m, h, d or w "
                 "(90s, 15m, 2h, 7d), at most 100 years; or all")
URL_RULE = ("a dashboard URL sets only window, start, end, tz and label filters; "
            "change the panel's query to change")
VERSION_RULE = "is not a version (a whole number from 1, as GET answered it)"
COLOR_RULE = "is not a CSS colour name (red, orange, seagreen...) or #rgb / #rrggbb"


@pytest.mark.parametrize("mutate, panel_id, field, message", [
    # the dashboard
    (top(colour="red"), None, "colour", f"unknown field; a dashboard has {DASH_KEYS}"),
    (top(title=DROP), None, "title", "is required"),
    (top(title=" "), None, "title", "must not be empty"),
    (top(title=7), None, "title", "must be a string, not a number"),
    (top(title="x" * 201), None, "title", "is 201 characters long; at most 200 are allowed"),
    (top(title="a\nb"), None, "title",
     "must not contain control characters such as tabs or line breaks"),
    (top(description="x" * 2001), None, "description",
     "is 2001 characters long; at most 2000 are allowed"),
    (top(description="a\x00b"), None, "description", "must not contain control characters"),
    (top(window="6 hours"), None, "window", f"'6 hours' {DURATION_RULE}"),
    (top(window="0s"), None, "window", f"'0s' {DURATION_RULE}"),
    (top(window=6), None, "window", f"6 {DURATION_RULE}"),
    (top(window="ALL"), None, "window", f"'ALL' {DURATION_RULE}"),
    (top(window="101000d"), None, "window", f"'101000d' {DURATION_RULE}"),  # > 100 years
    (top(window="7" * 1000), None, "window", f"'{'7' * 63}... {DURATION_RULE}"),  # cut
    (top(window="6h", start="2024-05-01"), None, "window",
     "give either window or start/end, not both"),
    (top(start="yesterday"), None, "start", f"'yesterday' {INSTANT_RULE}"),
    (top(start="1677-12-31T23:59:59Z"), None, "start", f"'1677-12-31T23:59:59Z' {INSTANT_RULE}"),
    (top(end="2262-01-01"), None, "end", f"'2262-01-01' {INSTANT_RULE}"),
    (top(end="2024-13-01"), None, "end", f"'2024-13-01' {INSTANT_RULE}"),
    (top(end="\u0662\u0660\u0662\u0664-05-01"), None, "end",
     f"'\u0662\u0660\u0662\u0664-05-01' {INSTANT_RULE}"),
    (top(end="2024-05-01 12:00"), None, "end", f"'2024-05-01 12:00' {INSTANT_RULE}"),
    (top(start="2024-05-02", end="2024-05-01T23:59:59.999999999Z"), None, "start",
     "2024-05-02 is after end (2024-05-01T23:59:59.999999999Z)"),
    (top(tz="Mars/Olympus_Mons"), None, "tz", f"'Mars/Olympus_Mons' {TZ_RULE}"),
    (top(tz="localtime"), None, "tz", f"'localtime' {TZ_RULE}"),
    (top(tz="posix/Europe/Berlin"), None, "tz", f"'posix/Europe/Berlin' {TZ_RULE}"),
    (top(tz="../../etc/passwd"), None, "tz", f"'../../etc/passwd' {TZ_RULE}"),
    (top(filters=["eu"]), None, "filters",
     'must be an object of label: [values], such as {"region": ["eu"]}, not a list'),
    (top(filters={"region": "eu"}), None, "filters.region",
     'must be a list of one or more values, such as ["eu"], not a string'),
    (top(filters={"region": []}), None, "filters.region",
     'must be a list of one or more values, such as ["eu"], not a list'),
    (top(filters={"region": ["eu", 3]}), None, "filters.region[1]",
     "must be a string, not a number"),
    (top(filters={"region": [""]}), None, "filters.region[0]", "must not be empty"),
    (top(filters={"window": ["6h"]}), None, "filters.window",
     "'window' is a view parameter, not a label"),
    (top(filters={"region": [f"r{i}" for i in range(33)]}), None, "filters.region",
     "has 33 values; at most 32 are allowed"),
    (top(filters={f"l{i}": ["x"] for i in range(17)}), None, "filters",
     "has 17 labels; at most 16 are allowed"),
    (top(panels={"cpu": {}}), None, "panels", "must be a list of panels, not an object"),
    (top(panels=[{"id": f"p{i}", "type": "table", "dataset": "demo"} for i in range(25)]),
     None, "panels", "has 25 panels; at most 24 are allowed"),
    # a panel without a usable id is named by its place
    (top(panels=["cpu"]), None, "panels[0]", "must be an object, not a string"),
    (panel(0, id=DROP), None, "panels[0].id", "is required"),
    (panel(0, id="cpu load"), None, "panels[0].id", f"'cpu load' {NAME_RULE}"),
    (panel(0, id="x" * 65), None, "panels[0].id", f"'{'x' * 63}... {NAME_RULE}"),
    (panel(1, id="cpu"), "cpu", "id",
     "'cpu' is also the id of panels[0]; panel ids are unique in a dashboard"),
    # each field of a panel
    (panel(0, colour="red"), "cpu", "colour", f"unknown field; a panel has {PANEL_KEYS}"),
    (panel(0, title="x" * 201), "cpu", "title", "is 201 characters long; at most 200 are allowed"),
    (panel(0, title=["CPU"]), "cpu", "title", "must be a string, not a list"),
    (panel(0, type=DROP), "cpu", "type", "is required: one of timeseries, stat, table"),
    (panel(0, type="pie"), "cpu", "type", "'pie' is not one of timeseries, stat, table"),
    (panel(0, width=13), "cpu", "width", "13 is not 1 to 12"),
    (panel(0, width=0), "cpu", "width", "0 is not 1 to 12"),
    (panel(0, width=6.5), "cpu", "width", "6.5 is not 1 to 12"),
    (panel(0, width="6"), "cpu", "width", '"6" is not 1 to 12'),
    (panel(0, width=True), "cpu", "width", "true is not 1 to 12"),
    (panel(0, dataset=DROP), "cpu", "dataset", "is required"),
    (panel(0, dataset=""), "cpu", "dataset", "must not be empty"),
    (panel(0, dataset="weather"), "cpu", "dataset", "'weather' is not a dataset"),
    (panel(0, query="metric=cpu&agg=p42"), "cpu", "query", "agg: 'p42' is not one of mean, p95"),
    (panel(0, query="metric=cpu&symbol=AAPL"), "cpu", "query", "symbol: unknown parameter"),
    (panel(0, query="metric=cpu&" + "x" * 1990), "cpu", "query",
     "is 2001 characters long; at most 2000 are allowed"),
    (panel(0, query=5), "cpu", "query", "must be a string, not a number"),
    (panel(0, reduce="last"), "cpu", "reduce",
     "only a stat panel has reduce; this one is a timeseries"),
    (panel(1, reduce="median"), "mem", "reduce",
     "'median' is not one of last, mean, min, max, sum, count"),
    (panel(2, thresholds=[{"value": 1, "color": "red"}]), "rows", "thresholds",
     "a table panel has no thresholds (charts draw them as lines, stats take their colour)"),
    (panel(0, thresholds={"value": 70}), "cpu", "thresholds",
     'must be a list such as [{"value": 90, "color": "red"}], not an object'),
    (panel(0, thresholds=[70]), "cpu", "thresholds[0]",
     'must be an object such as {"value": 90, "color": "red"}, not a number'),
    (panel(0, thresholds=[{"value": i, "color": "red"} for i in range(9)]), "cpu", "thresholds",
     "has 9 thresholds; at most 8 are allowed"),
    (panel(0, thresholds=[{"value": 70, "color": "red"}, {"value": 70.0, "color": "blue"}]),
     "cpu", "thresholds[1].value", "70.0 is also the value of thresholds[0]"),
    # each field of a threshold
    (threshold(0, label="hot"), "cpu", "thresholds[0].label",
     "unknown field; a threshold has value, color"),
    (threshold(0, value=DROP), "cpu", "thresholds[0].value", "is required"),
    (threshold(0, value="70"), "cpu", "thresholds[0].value",
     "must be a number, not a string ('70')"),
    (threshold(0, value=True), "cpu", "thresholds[0].value", "must be a number, not true/false"),
    (threshold(0, value=float("nan")), "cpu", "thresholds[0].value", "must be a finite number"),
    (threshold(0, value=1e400), "cpu", "thresholds[0].value", "must be a finite number"),
    # Whole numbers as ingest takes them: exact up to 2^53, refused past it (a float64
    # would keep 1.2345678901234568e+29 for this one, silently another number).
    (threshold(0, value=123456789012345678901234567890), "cpu", "thresholds[0].value",
     "123456789012345678901234567890 is a whole number too large to keep exactly "
     "(more than 2^53); write it as a decimal such as 1.5e29"),
    (threshold(0, value=2**53 + 1), "cpu", "thresholds[0].value",
     "9007199254740993 is a whole number too large to keep exactly (more than 2^53); "
     "write it as a decimal such as 1.5e29"),
    (threshold(0, color=DROP), "cpu", "thresholds[0].color", "is required"),
    (threshold(0, color="url(#x)"), "cpu", "thresholds[0].color", f"'url(#x)' {COLOR_RULE}"),
    (threshold(0, color='red" onload="alert(1)'), "cpu", "thresholds[0].color",
     f"'red\" onload=\"alert(1)' {COLOR_RULE}"),
    (threshold(0, color="#12345"), "cpu", "thresholds[0].color", f"'#12345' {COLOR_RULE}"),
    (threshold(0, color="transparent"), "cpu", "thresholds[0].color",
     f"'transparent' {COLOR_RULE}"),
])
def test_each_invalid_field_is_named_with_its_panel(mutate: Mutation, panel_id: str | None,
                                                    field: str, message: str) -> None:
    doc = base()
    mutate(doc)
    with pytest.raises(DocumentError) as caught:
        parse_document(doc, check_query)
    assert caught.value.errors == [{"panel": panel_id, "field": field, "message": message}]
    where = f"panel {panel_id!r}: " if panel_id else ""
    assert str(caught.value) == f"{where}{field}: {message}"


@pytest.mark.parametrize("doc, message", [
    ([], "document: must be a JSON object, not a list"),
    (None, "document: must be a JSON object, not null"),
])
def test_a_document_must_be_an_object(doc: Any, message: str) -> None:
    with pytest.raises(DocumentError, match=f"^{message}$"):
        parse_document(doc, check_query)


def test_every_problem_is_listed_not_only_the_first() -> None:
    doc = base()
    doc["window"] = "soon"
    doc["panels"][0].update(width=13, type="pie")
    doc["panels"][2].update(id="bad id", dataset="weather")
    with pytest.raises(DocumentError) as caught:
        parse_document(doc, check_query)
    assert [(e["panel"], e["field"]) for e in caught.value.errors] == [
        (None, "window"), ("cpu", "type"), ("cpu", "width"),
        (None, "panels[2].id"), (None, "panels[2].dataset")]
    assert str(caught.value).startswith(
        f"window: 'soon' {DURATION_RULE}; "
        "panel 'cpu': type: 'pie' is not one of timeseries, stat, table; "
        "panel 'cpu': width: 13 is not 1 to 12; panels[2].id: 'bad id' ")


@pytest.mark.parametrize("mutate, listed, more", [
    (top(**{f"x{i:03}": 1 for i in range(200)}), 100, 190),
    # panels past the limit are not checked one by one: 1 + 3 problems for each of 24
    (top(panels=[{}] * 1000), 73, 63),
    (top(panels=[{"id": "a", "type": "stat", "dataset": "demo",
                  "thresholds": [{"value": "x", "color": "red"}] * 1000}]), 9, 0),
])
def test_a_long_list_of_problems_is_cut(mutate: Mutation, listed: int, more: int) -> None:
    doc = base()
    mutate(doc)
    with pytest.raises(DocumentError) as caught:
        parse_document(doc, check_query)
    assert len(caught.value.errors) == listed
    assert str(caught.value).endswith(f"; and {more} more") == bool(more)


@pytest.mark.parametrize("mutate, expected", [
    (top(), Dashboard(title="Fleet", panels=(
        Panel(id="cpu", title="CPU", type="timeseries", dataset="demo", query="metric=cpu",
              thresholds=(Threshold(70.0, "orange"),)),
        Panel(id="mem", type="stat", dataset="demo", query="metric=mem"),
        Panel(id="rows", type="table", dataset="demo")))),
    # null is absent; canonical queries come from check_query
    (top(description=None, window=None, tz=None, filters=None), None),
    (panel(0, query="window=1h&metric=cpu"), ("panels", 0, "query", "metric=cpu&window=1h")),
    (panel(1, reduce="max", width=12), ("panels", 1, "reduce", "max")),
    (threshold(0, color=" Orange "), ("panels", 0, "thresholds", (Threshold(70.0, "orange"),))),
    (threshold(0, color="#A0b"), ("panels", 0, "thresholds", (Threshold(70.0, "#a0b"),))),
    (threshold(0, color="#a0b1c2", value=-2.5),
     ("panels", 0, "thresholds", (Threshold(-2.5, "#a0b1c2"),))),
    (threshold(0, value=2**53), ("panels", 0, "thresholds", (Threshold(2.0**53, "orange"),))),
    (threshold(0, value=1.2345678901234568e29),  # written as a decimal: taken as written
     ("panels", 0, "thresholds", (Threshold(1.2345678901234568e29, "orange"),))),
    (top(description="one\r\ntwo\tthree"), ("description", "one\ntwo\tthree")),
    (top(window="all"), ("window", "all")),
    (top(window="90s"), ("window", "90s")),
    (top(window="120m"), ("window", "2h")),  # canonical, as a view writes it
    (top(window="1w"), ("window", "7d")),
    (top(start="2024-05-01T12:00:00+02:00"), ("start", "2024-05-01T12:00:00+02:00")),
    (top(start="2024-05-01", end="2024-05-01"), ("end", "2024-05-01")),
    (top(tz="Europe/Berlin"), ("tz", "Europe/Berlin")),
    (top(tz="europe/berlin"), ("tz", "Europe/Berlin")),  # as the database spells it
    (top(tz="utc"), ("tz", "UTC")),
    # Labels and values sorted, repeats dropped: one file whatever order they came in.
    (top(filters={"region": ["us", "eu", "us"], "host": ["web-1"]}),
     ("filters", (("host", ("web-1",)), ("region", ("eu", "us"))))),
    (top(panels=[]), ("panels", ())),
    (top(title="Fleet <script>alert(1)</script>"), ("title", "Fleet <script>alert(1)</script>")),
])
def test_valid_documents(mutate: Mutation, expected: Any) -> None:
    doc = base()
    mutate(doc)
    dashboard = parse_document(doc, check_query)
    if isinstance(expected, Dashboard):
        assert dashboard == expected
    elif expected and expected[0] == "panels" and len(expected) == 4:
        _, index, field, value = expected
        assert getattr(dashboard.panels[index], field) == value
    elif expected:
        assert getattr(dashboard, expected[0]) == expected[1]


@pytest.mark.parametrize("text, ns", [
    ("1970-01-01", 0),
    ("1970-01-01T00:00:01Z", 10**9),
    ("1970-01-01T01:00+01:00", 0),
    ("1969-12-31T23:59:59.5Z", -500_000_000),
    ("2024-05-01T12:00:00.000000001", 1_714_564_800_000_000_001),
])
def test_instants_are_read_to_the_nanosecond(text: str, ns: int) -> None:
    assert instant_ns(text) == ns


def test_the_colour_names_are_the_148_of_css() -> None:
    # CSS Color 4 names (Plotly and browsers draw each of them).
    assert len(CSS_COLORS) == 148
    assert {"red", "orange", "rebeccapurple", "lightgoldenrodyellow"} <= CSS_COLORS


# Effective views: bottom to top, the panel's query, the document, the URL.

ON = "2024-05-01T00:00:00Z"
OFF = "2024-05-02T00:00:00Z"


@pytest.mark.parametrize("dashboard, panel_query, url, labels, expected", [
    ({}, "metric=cpu&window=1h", "", "host region", "metric=cpu&window=1h"),
    # time: each layer's range replaces the whole range below it
    ({"window": "6h"}, "metric=cpu&window=1h", "", "host", "metric=cpu&window=6h"),
    ({"window": "6h"}, f"metric=cpu&start={ON}&end={OFF}", "", "host", "metric=cpu&window=6h"),
    ({"start": ON}, "metric=cpu&window=1h", "", "host", f"metric=cpu&start={ON}"),
    ({"start": ON, "end": OFF}, "metric=cpu&window=1h&end=2020-01-01", "", "host",
     f"metric=cpu&start={ON}&end={OFF}"),
    ({"end": OFF}, f"metric=cpu&start={ON}", "", "host", f"metric=cpu&end={OFF}"),
    ({"start": ON, "end": OFF}, "metric=cpu", "window=24h", "host", "metric=cpu&window=24h"),
    ({"window": "6h"}, "metric=cpu", f"start={ON}", "host", f"metric=cpu&start={ON}"),
    ({"start": ON, "end": OFF}, "metric=cpu", "start=2024-05-01T12:00:00Z", "host",
     "metric=cpu&start=2024-05-01T12:00:00Z"),
    ({"window": "6h"}, "metric=cpu", f"window=1h&end={OFF}", "host", f"metric=cpu&end={OFF}"),
    # tz: the topmost one
    ({"tz": "Europe/Berlin"}, "metric=cpu&tz=UTC", "", "host",
     "metric=cpu&tz=Europe/Berlin"),
    ({"tz": "Europe/Berlin"}, "metric=cpu", "tz=UTC", "host", "metric=cpu&tz=UTC"),
    ({}, "metric=cpu&tz=Asia/Tokyo", "window=1h", "host", "metric=cpu&tz=Asia/Tokyo&window=1h"),
    # label filters: added where the dataset has the label, replacing that label's filter
    ({"filters": {"region": ["eu"]}}, "metric=cpu", "", "host region", "metric=cpu&region=eu"),
    ({"filters": {"region": ["eu"]}}, "metric=price", "", "symbol", "metric=price"),
    ({"filters": {"host": ["web-2", "web-3"]}}, "metric=cpu&host=web-1", "", "host region",
     "metric=cpu&host=web-2&host=web-3"),
    ({"filters": {"region": ["eu"]}}, "metric=cpu&host=web-1", "", "host region",
     "metric=cpu&host=web-1&region=eu"),
    ({"filters": {"region": ["eu"]}}, "metric=cpu", "region=us", "host region",
     "metric=cpu&region=us"),
    ({"filters": {"region": ["eu"]}}, "metric=cpu", "region=us&region=eu", "host region",
     "metric=cpu&region=eu&region=us"),
    ({"filters": {"region": ["eu"]}}, "metric=cpu&host=web-1", "region=", "host region",
     "metric=cpu&host=web-1"),
    ({}, "metric=cpu&region=eu", "region=", "host region", "metric=cpu"),
    ({}, "metric=price", "region=us", "symbol", "metric=price"),
    # everything at once
    ({"window": "6h", "tz": "UTC", "filters": {"region": ["eu"], "host": ["web-1"]}},
     "metric=cpu&agg=p95&by=host&window=1h&host=web-4",
     "window=24h&host=web-2&tz=Europe/Berlin", "host region",
     "metric=cpu&agg=p95&by=host&window=24h&tz=Europe/Berlin&region=eu&host=web-2"),
])
def test_effective_query(dashboard: dict[str, Any], panel_query: str, url: str, labels: str,
                         expected: str) -> None:
    doc = Dashboard(title="t", window=dashboard.get("window"), start=dashboard.get("start"),
                    end=dashboard.get("end"), tz=dashboard.get("tz"),
                    filters=tuple((k, tuple(v)) for k, v in dashboard.get("filters", {}).items()))
    shown = Panel(id="p", type="timeseries", dataset="any", query=panel_query)
    got = effective_query(doc, shown, parse_overrides(parse_qsl(url, keep_blank_values=True)),
                          lambda dataset: labels.split())
    # The app canonicalises the result: pair order is not part of the contract.
    assert sorted(parse_qsl(got, keep_blank_values=True)) == sorted(parse_qsl(expected))


@pytest.mark.parametrize("url, expected", [
    ("", Overrides()),
    ("window=24h&region=us&tz=UTC",
     Overrides(window="24h", tz="UTC", filters=(("region", ("us",)),))),
    ("window=&start=&end=&tz=", Overrides()),
    (f"window=6h&start={ON}", Overrides(start=ON)),
    (f"end={OFF}&end={OFF}", Overrides(end=OFF)),
    ("region=us&host=web-2&region=eu&region=us", Overrides(filters=(
        ("host", ("web-2",)), ("region", ("eu", "us"))))),
    ("region=", Overrides(filters=(("region", ()),))),
    ("region=&region=eu", Overrides(filters=(("region", ("eu",)),))),
    ("cursor=12&timeout=5&window=1h", Overrides(window="1h")),
    ("window=120m", Overrides(window="2h")),  # canonical, as a view writes it
    ("tz=utc", Overrides(tz="UTC")),  # a zone as the database spells it, as a view's tz
    ("tz=asia/KOLKATA", Overrides(tz="Asia/Kolkata")),
])
def test_parse_overrides(url: str, expected: Overrides) -> None:
    pairs = parse_qsl(url, keep_blank_values=True)
    assert parse_overrides(pairs, ignore=("cursor", "timeout")) == expected


@pytest.mark.parametrize("url, param, message", [
    ("window=6 hours", "window", f"'6 hours' {DURATION_RULE}"),
    ("window=1h&window=2h", "window", "given more than once with different values"),
    ("start=today", "start", f"'today' {INSTANT_RULE}"),
    (f"start={OFF}&end={ON}", "start", f"start ({OFF}) is after end ({ON})"),
    ("tz=Europe/Atlantis", "tz", f"'Europe/Atlantis' {TZ_RULE}"),
    ("agg=p95", "agg", f"{URL_RULE} its agg"),
    ("metric=cpu", "metric", f"{URL_RULE} its metric"),
    ("region=e%0Au", "region", "must not contain control characters such as tabs or line breaks"),
    ("&".join(f"host=h{i}" for i in range(33)), "host", "more than 32 values"),
    ("&".join(f"l{i:02}=x" for i in range(17)), "l16", "more than 16 labels are filtered"),
])
def test_parse_overrides_names_the_bad_parameter(url: str, param: str, message: str) -> None:
    with pytest.raises(OverrideError) as caught:
        parse_overrides(parse_qsl(url, keep_blank_values=True))
    assert (caught.value.param, caught.value.message) == (param, message)
    assert str(caught.value) == f"{param}: {message}"


BERLIN = "Europe/Berlin"
TWICE = ("'2024-10-27T02:30' happens twice in Europe/Berlin: the clocks go back over it; say "
         "which with its offset or abbreviation, 2024-10-27T02:30:00+02:00 or CEST; "
         "2024-10-27T02:30:00+01:00 or CET")


# A URL's start/end are read as a view page reads its own (space or T, seconds or not, an
# offset, Z, a zone abbreviation), wall-clock times in the URL's tz, else the document's
# (``zone``). Canonical: the instant in UTC with a Z, as a view's URL writes it; with no
# zone at all a wall-clock time stays one, for each panel to read in its own tz.
# Berlin is UTC+2 (CEST) in May and until 03:00 CEST on 2024-10-27, then UTC+1 (CET);
# Kolkata is UTC+5:30; New York is UTC-4 (EDT) until 2024-11-03 02:00 EDT, then UTC-5.
@pytest.mark.parametrize("url, zone, start, end", [
    ("start=2024-05-02 01:30", BERLIN, "2024-05-01T23:30:00Z", None),
    ("start=2024-05-02T01:30", BERLIN, "2024-05-01T23:30:00Z", None),
    ("start=2024-05-02 01:30:15", "Asia/Kolkata", "2024-05-01T20:00:15Z", None),
    ("start=2024-05-02", "Asia/Kolkata", "2024-05-01T18:30:00Z", None),
    ("start=2024-05-02 01:30&tz=Asia/Kolkata", BERLIN, "2024-05-01T20:00:00Z", None),
    ("start=2024-05-02 01:30Z", BERLIN, "2024-05-02T01:30:00Z", None),
    ("start=2024-05-02 01:30 UTC", BERLIN, "2024-05-02T01:30:00Z", None),
    ("start=2024-05-02 01:30%2B05:30", BERLIN, "2024-05-01T20:00:00Z", None),
    # "+05:30" typed unencoded: the query makes the + a space; still that offset
    ("start=2024-05-02T01:30+05:30", BERLIN, "2024-05-01T20:00:00Z", None),
    ("start=2024-05-02T01:30+0530", BERLIN, "2024-05-01T20:00:00Z", None),
    ("start=2024-05-02T01:30+05:30&tz=asia/kolkata", BERLIN, "2024-05-01T20:00:00Z", None),
    ("start=2024-05-02T01:30+05:30", None, "2024-05-01T20:00:00Z", None),
    ("start=2024-05-02T01:30:00.25", "UTC", "2024-05-02T01:30:00.25Z", None),
    ("start=2024-10-27 02:30 CEST", BERLIN, "2024-10-27T00:30:00Z", None),
    ("start=2024-10-27T02:30 CEST", BERLIN, "2024-10-27T00:30:00Z", None),
    ("start=2024-10-27 02:30 cet", BERLIN, "2024-10-27T01:30:00Z", None),
    ("end=2024-11-03 01:30 EST&tz=America/New_York", None, None, "2024-11-03T06:30:00Z"),
    ("start=2024-05-02 01:30&end=2024-05-02T00:00:00Z", BERLIN,
     "2024-05-01T23:30:00Z", "2024-05-02T00:00:00Z"),
    # no zone: a wall-clock time stays one (one spelling); an offset makes it an instant
    ("start=2024-05-02 01:30", None, "2024-05-02T01:30:00", None),
    ("start=2024-05-02T01:30:00", None, "2024-05-02T01:30:00", None),
    ("start=2024-05-02 01:30%2B02:00", None, "2024-05-01T23:30:00Z", None),
    (f"start={ON}", None, ON, None),
])
def test_url_times_are_read_as_a_view_reads_them(url: str, zone: str | None, start: str | None,
                                                 end: str | None) -> None:
    overrides = parse_overrides(parse_qsl(url, keep_blank_values=True), zone=zone)
    assert (overrides.start, overrides.end) == (start, end)


@pytest.mark.parametrize("url, zone, param, message", [
    ("start=2024-10-27T02:30", BERLIN, "start", TWICE),
    ("start=2024-10-27T02:30&tz=UTC", BERLIN, None, None),  # UTC has no fold
    ("start=2024-03-31 02:30", BERLIN, "start", "'2024-03-31 02:30' does not exist in "
     "Europe/Berlin: the clocks go forward over it; pick a time outside the gap"),
    ("end=2024-10-27 02:30 EST", BERLIN, "end",
     "'2024-10-27 02:30 EST': Europe/Berlin calls 2024-10-27 02:30 CEST or CET, not EST"),
    ("start=2024-05-02 01:30 CEST", None, "start", f"'2024-05-02 01:30 CEST' {INSTANT_RULE}"),
    ("start=yesterday&tz=Asia/Kolkata", None, "start", f"'yesterday' {INSTANT_RULE}"),
    ("start=2024-05-02 01:30&end=2024-05-02T00:00:00Z", None, "start",
     "start (2024-05-02 01:30) is after end (2024-05-02T00:00:00Z)"),  # 01:30 read in UTC
])
def test_url_times_are_refused_in_a_views_words(url: str, zone: str | None, param: str | None,
                                                message: str | None) -> None:
    pairs = parse_qsl(url, keep_blank_values=True)
    if param is None:
        parse_overrides(pairs, zone=zone)
        return
    with pytest.raises(OverrideError) as caught:
        parse_overrides(pairs, zone=zone)
    assert (caught.value.param, caught.value.message) == (param, message)


@pytest.mark.parametrize("url, canonical", [
    ("tz=UTC&region=us&window=24h", "window=24h&tz=UTC&region=us"),
    ("region=us&host=web-2&region=eu", "host=web-2&region=eu&region=us"),
    (f"end={OFF}&start={ON}&window=1h",
     "start=2024-05-01T00:00:00Z&end=2024-05-02T00:00:00Z"),
    ("region=", "region="),
])
def test_overrides_have_one_canonical_query(url: str, canonical: str) -> None:
    assert parse_overrides(parse_qsl(url, keep_blank_values=True)).query == canonical


def test_effective_queries_refuse_a_label_no_panel_has() -> None:
    dashboard = parse_document(base(), check_query)
    assert [query for _, query in effective_queries(
        dashboard, parse_overrides([("region", "us")]), labels_of)] == [
        "metric=cpu&region=us", "metric=mem&region=us", "region=us"]
    with pytest.raises(OverrideError, match=r"^regoin: no panel's dataset has this label; "
                                            r"labels are host, region$"):
        effective_queries(dashboard, parse_overrides([("regoin", "us")]), labels_of)


# The file form.

FULL = """\
{
  "title": "Fleet",
  "description": "Températures\\nand load",
  "start": "2024-05-01T00:00:00Z",
  "end": "2024-05-02T00:00:00Z",
  "tz": "Europe/Berlin",
  "filters": {
    "host": ["web-1"],
    "region": ["eu", "us"]
  },
  "panels": [
    {
      "id": "cpu",
      "title": "CPU p95",
      "type": "timeseries",
      "width": 8,
      "dataset": "demo",
      "query": "agg=p95&metric=cpu",
      "thresholds": [
        {"value": 70, "color": "orange"},
        {"value": 90.5, "color": "#ff0000"}
      ]
    },
    {
      "id": "mem",
      "type": "stat",
      "dataset": "demo",
      "query": "metric=mem",
      "reduce": "max"
    },
    {
      "id": "rows",
      "type": "table",
      "dataset": "stocks"
    }
  ]
}
"""


@pytest.mark.parametrize("text", [
    FULL,
    '{\n  "title": "Empty",\n  "panels": []\n}\n',
])
def test_dump_of_load_gives_back_the_same_bytes(text: str) -> None:
    data = text.encode("utf-8")
    assert dump_document(load_document(data, check_query)) == data


def test_dump_orders_keys_and_leaves_defaults_out() -> None:
    doc = {"panels": [{"thresholds": [{"color": "red", "value": 90.0}], "query": "metric=cpu",
                       "dataset": "demo", "width": 6, "type": "stat", "reduce": "last",
                       "title": "", "id": "cpu"}],
           "filters": {}, "tz": "UTC", "window": "all", "description": "", "title": "T"}
    text = dump_document(parse_document(doc, check_query)).decode()
    assert list(json.loads(text)) == ["title", "window", "tz", "panels"]
    assert list(json.loads(text)["panels"][0]) == ["id", "type", "dataset", "query", "thresholds"]
    assert '{"value": 90, "color": "red"}' in text


def test_a_round_trip_through_json_keeps_the_document() -> None:
    dashboard = load_document(FULL.encode(), check_query)
    assert parse_document(json.loads(dump_document(dashboard)), check_query) == dashboard
    assert dashboard.filter_values("region") == ("eu", "us")
    assert dashboard.panel("mem").reduce == "max"


@pytest.mark.parametrize("data, message", [
    (b'{"title": "a", "title": "b"}', "document: the key 'title' appears twice in one object"),
    (b'{"title": "a", "panels": [{"id": "x", "id": "y"}]}',
     "document: the key 'id' appears twice in one object"),
    (b'{"title": NaN}', "document: NaN is not a JSON number"),
    (b'{"title": -Infinity}', "document: -Infinity is not a JSON number"),
    (b'{"title": "\xff"}', "document: is not UTF-8 text (byte 11)"),
    (b'{"title": "a",}',
     ("document: is not JSON: Expecting property name enclosed in double quotes "
      "at line 1 column 15")),
    (b"[" * 100_000, "document: nests objects or lists too deeply"),
])
def test_decode_refuses_what_tools_would_read_differently(data: bytes, message: str) -> None:
    with pytest.raises(DocumentError) as caught:
        decode_json(data)
    assert str(caught.value) == message


def test_decode_skips_a_byte_order_mark() -> None:
    assert decode_json(b'\xef\xbb\xbf{"title": "a"}') == {"title": "a"}


@pytest.mark.parametrize("body, expected", [
    ({"title": "T", "version": 3}, ({"title": "T"}, 3)),
    ({"title": "T", "name": "fleet", "version": None}, ({"title": "T"}, None)),
    ({"title": "T", "version": "3"}, f'version: "3" {VERSION_RULE}'),
    ({"title": "T", "version": 0}, f"version: 0 {VERSION_RULE}"),
    ({"title": "T", "version": True}, f"version: true {VERSION_RULE}"),
    ({"title": "T", "name": "other"}, ("name: 'other' differs from the name in the URL ('fleet'); "
                                       "rename by saving under the new name and deleting the "
                                       "old one")),
])
def test_split_envelope(body: dict[str, Any], expected: Any) -> None:
    if isinstance(expected, str):
        with pytest.raises(DocumentError, match=f"^{expected}$".replace("(", r"\(")
                           .replace(")", r"\)")):
            split_envelope(body, "fleet")
    else:
        assert split_envelope(body, "fleet") == expected


def test_the_demo_dashboard_validates_against_the_demo_dataset() -> None:
    from app.data.demo import METRICS, SCHEMA
    from app.engine.view import parse_view

    def demo_query(dataset: str, query: str) -> str:
        if dataset != "demo":
            raise LookupError(dataset)
        return parse_view(parse_qsl(query, keep_blank_values=True), METRICS, SCHEMA.labels).query

    data = (ROOT / "data" / "dashboards" / "demo.json").read_bytes()
    dashboard = load_document(data, demo_query)
    assert [(p.id, p.type) for p in dashboard.panels] == [
        ("cpu", "timeseries"), ("mem", "stat"), ("latency", "timeseries"), ("latest-cpu", "table")]
    assert dashboard.panel("cpu").thresholds == (Threshold(70, "orange"), Threshold(90, "red"))
    assert dump_document(dashboard) == data


# The file store.

@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where the store keeps dashboards."""
    return tmp_path / "dashboards"


@pytest.fixture
def store(folder: Path) -> FileDashboardStore:
    """A store over an empty (not yet made) folder."""
    return FileDashboardStore(folder, check_query)


def files(folder: Path) -> list[str]:
    """Every file in ``folder`` and its version folder, temporary ones included."""
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def doc(title: str = "Fleet") -> dict[str, Any]:
    """A valid document with ``title``."""
    return {**base(), "title": title}


def test_put_creates_then_replaces_atomically(store: FileDashboardStore, folder: Path) -> None:
    assert store.list() == []
    assert store.put("fleet", doc(), None) == 1
    assert files(folder) == [".versions/.gitignore", ".versions/.lock", ".versions/fleet.json",
                             "fleet.json"]
    assert (folder / "fleet.json").read_bytes() == dump_document(parse_document(doc(),
                                                                                check_query))
    assert (folder / ".versions" / ".gitignore").read_text() == "*\n"
    assert store.put("fleet", doc("Fleet 2"), 1) == 2
    dashboard, version = store.get("fleet")
    assert (dashboard.title, version) == ("Fleet 2", 2)
    assert store.list() == [DashboardListing("fleet", 2, "Fleet 2", 3)]
    assert "fleet.json" in files(folder) and not [f for f in files(folder) if f.endswith(".tmp")]


@pytest.mark.parametrize("exists, expected, current", [
    (True, None, 1),     # creating over an existing dashboard
    (True, 7, 1),        # replacing with a stale version
    (False, 1, None),    # replacing a dashboard that is gone
])
def test_a_version_conflict_changes_nothing(store: FileDashboardStore, folder: Path,
                                            exists: bool, expected: int | None,
                                            current: int | None) -> None:
    if exists:
        store.put("fleet", doc(), None)
    def saved() -> dict[str, bytes]:
        return {name: (folder / name).read_bytes() for name in files(folder)
                if name.endswith(".json")}
    before = saved()
    with pytest.raises(VersionConflict) as caught:
        store.put("fleet", doc("Other"), expected)
    assert caught.value.current == current
    assert saved() == before


def test_an_invalid_document_or_name_saves_nothing(store: FileDashboardStore,
                                                   folder: Path) -> None:
    with pytest.raises(DocumentError, match=r"^panel 'cpu': width: 13 is not 1 to 12$"):
        store.put("fleet", {**doc(), "panels": [{**base()["panels"][0], "width": 13}]}, None)
    with pytest.raises(DocumentError, match=r"^name: 'my fleet' is not 1 to 64"):
        store.put("my fleet", doc(), None)
    assert not (folder / "fleet.json").exists()


def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(
        store: FileDashboardStore, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store.put("fleet", doc(), None)
    before = (folder / "fleet.json").read_bytes()

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.put("fleet", doc("Other"), 1)
    monkeypatch.undo()
    assert (folder / "fleet.json").read_bytes() == before
    assert not [name for name in files(folder) if name.endswith(".tmp")]
    assert store.get("fleet")[1] == 1


@pytest.mark.parametrize("stores", [1, 2])  # 2: two processes on one folder (flock)
def test_of_concurrent_saves_against_one_version_exactly_one_wins(folder: Path,
                                                                  stores: int) -> None:
    writers = [FileDashboardStore(folder, check_query) for _ in range(stores)]
    writers[0].put("fleet", doc(), None)
    start = threading.Barrier(8)
    results: list[int | str] = []

    def save(index: int) -> None:
        start.wait()
        try:
            results.append(writers[index % stores].put("fleet", doc(f"T{index}"), 1))
        except VersionConflict as exc:
            results.append(f"conflict {exc.current}")
    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results, key=str) == [2] + ["conflict 2"] * 7
    dashboard, version = writers[0].get("fleet")
    assert version == 2 and dashboard.title.startswith("T")


def test_hand_edits_are_found_by_scan_with_a_higher_version(store: FileDashboardStore,
                                                            folder: Path) -> None:
    store.put("fleet", doc(), None)
    store.put("ops", doc("Ops"), None)
    assert store.scan() == {}  # the app announces its own saves
    store = FileDashboardStore(folder, check_query)  # a restart
    assert store.scan() == {"fleet": 1, "ops": 1}  # the first scan names every dashboard
    assert store.scan() == {}
    path = folder / "fleet.json"
    path.write_bytes(path.read_bytes().replace(b'"Fleet"', b'"Fleet, by hand"'))
    assert store.scan() == {"fleet": 2}
    assert store.get("fleet")[0].title == "Fleet, by hand"
    assert store.get("fleet")[1] == 2
    assert store.scan() == {}
    os.utime(path, (1, 1))  # touched, same bytes: not a change
    assert store.scan() == {}
    path.write_bytes(path.read_bytes().replace(b'"Fleet, by hand"', b'"Again"'))
    assert store.get("fleet")[1] == 3  # a reader meets the edit first...
    assert store.scan() == {"fleet": 3}  # ...and the scan still announces it
    assert store.put("fleet", doc(), 3) == 4
    assert store.scan() == {}  # the app announces its own saves


def test_a_hand_edit_beats_a_save_from_an_older_version(store: FileDashboardStore,
                                                        folder: Path) -> None:
    store.put("fleet", doc(), None)
    (folder / "fleet.json").write_text(json.dumps(doc("By hand")))
    with pytest.raises(VersionConflict) as caught:
        store.put("fleet", doc("From the browser"), 1)
    assert caught.value.current == 2
    assert store.get("fleet")[0].title == "By hand"


def test_files_added_and_deleted_on_disk(store: FileDashboardStore, folder: Path) -> None:
    store.put("fleet", doc(), None)
    store.scan()
    (folder / "ops.json").write_text(json.dumps(doc("Ops")))
    assert store.scan() == {"ops": 1}
    assert store.get("ops")[1] == 1
    (folder / "fleet.json").unlink()
    assert store.scan() == {"fleet": None}
    with pytest.raises(DashboardNotFound):
        store.get("fleet")
    assert [entry.name for entry in store.list()] == ["ops"]
    (folder / "fleet.json").write_text(json.dumps(doc("Again")))
    assert store.get("fleet")[1] == 3  # 1 saved, 2 deleted by hand, 3 written again


def test_versions_survive_a_restart(store: FileDashboardStore, folder: Path) -> None:
    store.put("fleet", doc(), None)
    store.put("fleet", doc("Two"), 1)
    assert FileDashboardStore(folder, check_query).get("fleet")[1] == 2


def test_a_broken_file_is_listed_with_its_error_and_breaks_nothing_else(
        store: FileDashboardStore, folder: Path) -> None:
    store.put("fleet", doc(), None)
    (folder / "broken.json").write_text('{"title": "B", "panels": [{"id": "x", "type": "pie", '
                                        '"dataset": "demo"}]}')
    (folder / "half.json").write_text('{"title": ')
    (folder / "my dash.json").write_text(json.dumps(doc()))
    (folder / "dir.json").mkdir()
    os.mkfifo(folder / "fifo.json")  # opened blocking, it would hang every reader
    assert store.list() == [
        DashboardListing("broken", 1, error="panel 'x': type: 'pie' is not one of timeseries, "
                                            "stat, table"),
        DashboardListing("dir", 0, error="cannot be read: not a regular file"),
        DashboardListing("fifo", 0, error="cannot be read: not a regular file"),
        DashboardListing("fleet", 1, "Fleet", 3),
        DashboardListing("half", 1, error="document: is not JSON: Expecting value at line 1 "
                                          "column 11"),
        DashboardListing("my dash", 0, error="the file name is not <name>.json with a name of 1 "
                                             "to 64 of A-Z a-z 0-9 _ -"),
    ]
    with pytest.raises(BrokenDashboard) as caught:
        store.get("broken")
    assert (caught.value.version, str(caught.value)) == (
        1, "dashboards/broken.json: panel 'x': type: 'pie' is not one of timeseries, stat, table")
    assert store.get("fleet")[0].title == "Fleet"
    assert store.put("broken", doc("Fixed"), 1) == 2  # a broken file is replaced by version
    assert store.get("broken")[0].title == "Fixed"


def test_a_file_over_the_size_limit_is_listed_as_broken(folder: Path) -> None:
    store = FileDashboardStore(folder, check_query, max_bytes=100)
    folder.mkdir()
    (folder / "big.json").write_text(json.dumps({**doc(), "description": "x" * 200}))
    assert store.list() == [DashboardListing("big", 1, error="the file is larger than 100 bytes")]


def test_delete(store: FileDashboardStore, folder: Path) -> None:
    store.put("fleet", doc(), None)
    with pytest.raises(VersionConflict):
        store.delete("fleet", expected_version=5)
    assert (folder / "fleet.json").exists()
    store.delete("fleet")
    assert not (folder / "fleet.json").exists()
    with pytest.raises(DashboardNotFound):
        store.get("fleet")
    with pytest.raises(DashboardNotFound):
        store.delete("fleet")
    assert store.list() == []
    assert store.scan() == {}  # the app announces its own deletes
    # The version goes on above the deleted one: an editor holding version 1 cannot
    # overwrite the new dashboard.
    assert store.put("fleet", doc("New"), None) == 3


@pytest.mark.parametrize("module", sorted(
    (ROOT / "app" / "data" / "dashboards").glob("*.py"), key=str))
def test_the_data_layer_imports_nothing_of_flask(module: Path) -> None:
    tree = ast.parse(module.read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name.split(".")[0] in ("flask", "flask_socketio")}


def test_links_are_not_followed_and_nothing_not_a_file_is_replaced(
        store: FileDashboardStore, folder: Path, tmp_path: Path) -> None:
    secret = tmp_path / "passwd"
    secret.write_text(json.dumps(doc("Not a dashboard of this folder")))
    store.put("fleet", doc(), None)
    (folder / "link.json").symlink_to(secret)
    (folder / "dir.json").mkdir()
    rule = ("cannot be read: a symbolic link, which is not followed: put the file itself in "
            "dashboards/")
    assert [(e.name, e.error) for e in store.list()] == [
        ("dir", "cannot be read: not a regular file"), ("fleet", None), ("link", rule)]
    with pytest.raises(BrokenDashboard) as caught:
        store.get("link")
    assert "Not a dashboard" not in str(caught.value)
    for name in ("link", "dir"):
        with pytest.raises(Conflict) as refused:
            store.put(name, doc(), None)
        assert f"dashboards/{name}.json cannot be read" in refused.value.message
        with pytest.raises(Conflict):
            store.delete(name)
    assert (folder / "link.json").is_symlink() and secret.read_text().count("Not a") == 1


def test_a_dashboard_on_a_dataset_not_loaded_still_loads(store: FileDashboardStore,
                                                         folder: Path) -> None:
    # Saving checks every dataset; a file saved while "gone" was there (or written by
    # hand) loads whole, with the query as written, and its panel says why it is empty.
    folder.mkdir()
    saved = {"title": "T", "panels": [
        {"id": "a", "type": "stat", "dataset": "demo", "query": "metric=cpu"},
        {"id": "b", "type": "stat", "dataset": "gone", "query": "metric=x&agg=max"}]}
    (folder / "t.json").write_text(json.dumps(saved))
    dashboard, version = store.get("t")
    assert [(p.dataset, p.query) for p in dashboard.panels] == [
        ("demo", "metric=cpu"), ("gone", "metric=x&agg=max")]
    with pytest.raises(DocumentError) as caught:
        store.put("t", saved, version)
    assert caught.value.errors == [
        {"panel": "b", "field": "dataset", "message": "'gone' is not a dataset"}]
