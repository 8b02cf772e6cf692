"""The view parser: every parameter, every error, and one canonical query per meaning."""
from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from app.engine.view import View, ViewError, parse_view
from app.instants import time_zones

METRICS = ("cpu", "mem")
LABELS = ("host", "region")
# 2024-05-01T00:00:00Z in ns since the epoch.
MAY_1 = 1_714_521_600_000_000_000
HOUR = 3600 * 1_000_000_000


def parse(query: str, metrics: tuple[str, ...] = METRICS,
          labels: tuple[str, ...] = LABELS) -> View:
    """Parse a query string the way the routes do (blank values kept, as a form sends them)."""
    return parse_view(parse_qsl(query, keep_blank_values=True), metrics, labels)


@pytest.mark.parametrize("query, expected", [
    # metric: default is the dataset's first metric; repeatable; duplicates collapse.
    ("", View(metrics=("cpu",))),
    ("metric=mem", View(metrics=("mem",))),
    ("metric=mem&metric=cpu", View(metrics=("cpu", "mem"))),
    ("metric=mem&metric=mem", View(metrics=("mem",))),
    ("metric=", View(metrics=("cpu",))),
    # label filters: OR within a label, AND across labels.
    ("host=web-1", View(metrics=("cpu",), filters=(("host", ("web-1",)),))),
    ("host=web-2&host=web-1&region=eu",
     View(metrics=("cpu",), filters=(("host", ("web-1", "web-2")), ("region", ("eu",))))),
    ("region=eu&host=web-1&host=web-1",
     View(metrics=("cpu",), filters=(("host", ("web-1",)), ("region", ("eu",))))),
    # window
    ("window=5m", View(metrics=("cpu",), window="5m")),
    ("window=15m", View(metrics=("cpu",), window="15m")),
    ("window=1h", View(metrics=("cpu",), window="1h")),
    ("window=6h", View(metrics=("cpu",), window="6h")),
    ("window=24h", View(metrics=("cpu",), window="24h")),
    ("window=7d", View(metrics=("cpu",), window="7d")),
    ("window=30d", View(metrics=("cpu",), window="30d")),
    ("window=all", View(metrics=("cpu",), window="all")),
    # start / end: ISO-8601, zones converted to UTC, naive means UTC.
    ("start=2024-05-01T00:00:00Z", View(metrics=("cpu",), start=MAY_1)),
    ("start=2024-05-01", View(metrics=("cpu",), start=MAY_1)),
    ("start=2024-05-01T00:00:00", View(metrics=("cpu",), start=MAY_1)),
    ("start=2024-05-01T02:00:00%2B02:00", View(metrics=("cpu",), start=MAY_1)),
    ("start=2024-04-30T19:00:00-05:00", View(metrics=("cpu",), start=MAY_1)),
    ("end=2024-05-01T01:00:00Z", View(metrics=("cpu",), end=MAY_1 + HOUR)),
    ("start=2024-05-01T00:00:00Z&end=2024-05-01T01:00:00Z",
     View(metrics=("cpu",), start=MAY_1, end=MAY_1 + HOUR)),
    ("start=2024-05-01T00:00:00Z&end=2024-05-01T00:00:00Z",
     View(metrics=("cpu",), start=MAY_1, end=MAY_1)),
    ("start=2024-05-01T00:00:00.000000123Z", View(metrics=("cpu",), start=MAY_1 + 123)),
    # agg
    *[(f"agg={agg}", View(metrics=("cpu",), agg=agg))
      for agg in ("auto", "raw", "mean", "sum", "min", "max", "count", "p50", "p90", "p95",
                  "p99")],
    # bucket (raw has no bucket)
    *[(f"bucket={bucket}", View(metrics=("cpu",), bucket=bucket))
      for bucket in ("auto", "1s", "10s", "1m", "5m", "15m", "1h", "24h", "2m", "90s")],
    # any duration, one spelling each
    ("window=2h", View(metrics=("cpu",), window="2h")),
    ("window=120m", View(metrics=("cpu",), window="2h")),
    ("window=7200s", View(metrics=("cpu",), window="2h")),
    ("window=1d", View(metrics=("cpu",), window="24h")),
    ("window=48h", View(metrics=("cpu",), window="2d")),
    ("window=1w", View(metrics=("cpu",), window="7d")),
    ("window=90s", View(metrics=("cpu",), window="90s")),
    ("bucket=60s", View(metrics=("cpu",), bucket="1m")),
    # time zones: only how times are written
    ("tz=Asia/Tokyo", View(metrics=("cpu",), tz="Asia/Tokyo")),
    ("tz=UTC", View(metrics=("cpu",))),
    # any case, when it spells exactly one IANA name: kept as the database spells it
    ("tz=utc", View(metrics=("cpu",))),
    ("tz=europe/paris", View(metrics=("cpu",), tz="Europe/Paris")),
    ("tz=ASIA/TOKYO", View(metrics=("cpu",), tz="Asia/Tokyo")),
    ("tz=america/argentina/buenos_aires", View(metrics=("cpu",),
                                               tz="America/Argentina/Buenos_Aires")),
    ("agg=raw&bucket=1m", View(metrics=("cpu",), agg="raw")),
    # by and page
    ("by=host", View(metrics=("cpu",), by="host")),
    ("by=region&metric=mem&metric=cpu", View(metrics=("cpu", "mem"), by="region")),
    ("page=1", View(metrics=("cpu",))),
    ("page=3", View(metrics=("cpu",), page=3)),
    ("page=07", View(metrics=("cpu",), page=7)),
    # the same single parameter twice with the same value is fine
    ("window=1h&window=1h", View(metrics=("cpu",), window="1h")),
    # empty values from an HTML GET form count as absent
    ("window=&start=&end=&agg=&bucket=&by=&page=", View(metrics=("cpu",))),
    ("by=&by=host", View(metrics=("cpu",), by="host")),
])
def test_parse_view(query: str, expected: View) -> None:
    assert parse(query) == expected


@pytest.mark.parametrize("query, param, mentions", [
    ("colour=red", "colour", ["unknown parameter", "host, region",
                              "agg, bucket, by, end, metric, page, start, tz, window"]),
    ("Host=web-1", "Host", ["unknown parameter", "host, region"]),
    ("metric=disk", "metric", ["'disk'", "cpu, mem"]),
    ("metric=cpu&metric=disk", "metric", ["'disk'", "cpu, mem"]),
    ("window=3x", "window", ["'3x'", "is not a duration", "s, m, h, d or w", "or all"]),
    ("window=ALL", "window", ["'ALL'", "is not a duration", "or all"]),
    ("window=0h", "window", ["'0h'", "is not a duration"]),
    ("window=-1h", "window", ["'-1h'"]),
    ("window=1.5h", "window", ["'1.5h'"]),
    ("window=101000d", "window", ["at most 100 years"]),
    ("agg=median", "agg", ["'median'",
                           "auto, raw, mean, sum, min, max, count, p50, p90, p95, p99"]),
    ("agg=p75", "agg", ["'p75'", "p50, p90, p95, p99"]),
    ("bucket=2", "bucket", ["'2'", "is not a duration", "or auto"]),
    ("tz=Mars/Olympus", "tz", ["'Mars/Olympus'", "IANA time zone", "Europe/Berlin"]),
    ("tz=mars/olympus", "tz", ["'mars/olympus'", "IANA time zone", "Europe/Berlin"]),
    ("tz=europe/paris ", "tz", ["'europe/paris '", "IANA time zone"]),
    ("tz=europe_paris", "tz", ["'europe_paris'", "IANA time zone"]),
    ("by=zone", "by", ["'zone'", "host, region"]),
    ("by=metric", "by", ["'metric'", "host, region"]),
    ("start=yesterday", "start", ["'yesterday'", "ISO-8601", "2024-05-01T12:00:00Z"]),
    ("start=2024-13-01", "start", ["'2024-13-01'", "ISO-8601"]),
    ("end=1714521600", "end", ["'1714521600'", "ISO-8601"]),
    ("end=now", "end", ["'now'", "ISO-8601"]),
    ("start=2024-05-02&end=2024-05-01", "start", ["start (2024-05-02)", "after end (2024-05-01)"]),
    ("start=2024-05-01T00:00:01Z&end=2024-05-01T02:00:00%2B02:00", "start", ["after end"]),
    ("page=0", "page", ["'0'", "page number (1, 2, 3...)"]),
    ("page=x", "page", ["'x'", "page number (1, 2, 3...)"]),
    ("page=-1", "page", ["'-1'", "page number (1, 2, 3...)"]),
    ("page=1.5", "page", ["'1.5'", "page number"]),
    ("window=1h&window=5m", "window", ["more than once", "different values"]),
    ("agg=sum&agg=max", "agg", ["more than once"]),
    ("by=host&by=region", "by", ["more than once"]),
    ("page=1&page=2", "page", ["more than once"]),
    ("start=2024-05-01&start=2024-05-02", "start", ["more than once"]),
])
def test_parse_view_errors_name_the_parameter_and_what_is_allowed(
        query: str, param: str, mentions: list[str]) -> None:
    with pytest.raises(ViewError) as raised:
        parse(query)
    assert raised.value.param == param
    assert str(raised.value).startswith(f"{param}: ")
    for text in mentions:
        assert text in str(raised.value)


def test_parse_view_error_on_a_dataset_without_labels_says_so() -> None:
    with pytest.raises(ViewError) as raised:
        parse("by=host", labels=())
    assert str(raised.value) == ("by: 'host' is not series, none or a label of this dataset; "
                                 "labels are (none)")


@pytest.mark.parametrize("query, param", [
    pytest.param("page=\u00b2", "page"),
    pytest.param("start=9999-01-01", "start"),
    pytest.param("end=0001-01-01", "end"),
])
def test_parse_view_rejects_odd_input_with_a_view_error(query: str, param: str) -> None:
    with pytest.raises(ViewError) as raised:
        parse(query)
    assert raised.value.param == param


def test_ignored_parameters_belong_to_the_endpoint() -> None:
    pairs = [("since", "4"), ("epoch", "abc"), ("metric", "mem"), ("format", "csv")]
    view = parse_view(pairs, METRICS, LABELS, ignore=("since", "epoch", "format"))
    assert view == View(metrics=("mem",))
    with pytest.raises(ViewError) as raised:
        parse_view(pairs, METRICS, LABELS)
    assert raised.value.param == "since"


@pytest.mark.parametrize("query, canonical", [
    ("", "metric=cpu"),
    ("metric=mem&metric=cpu", "metric=cpu&metric=mem"),
    ("region=eu&host=web-2&host=web-1", "metric=cpu&host=web-1&host=web-2&region=eu"),
    ("window=1h", "metric=cpu&window=1h"),
    ("start=2024-05-01T02:00:00%2B02:00&end=2024-05-01T01:00:00",
     "metric=cpu&start=2024-05-01T00:00:00Z&end=2024-05-01T01:00:00Z"),
    ("agg=p95&bucket=1m&by=host&page=2", "metric=cpu&agg=p95&bucket=1m&by=host&page=2"),
    ("host=a%26b%3Dc", "metric=cpu&host=a%26b%3Dc"),
])
def test_canonical_query(query: str, canonical: str) -> None:
    view = parse(query)
    assert view.query == canonical
    assert parse(view.query) == view  # the canonical query parses back to the same view


@pytest.mark.parametrize("first, second", [
    ("metric=cpu&by=host", "by=host&metric=cpu"),
    ("", "metric=cpu&window=all&agg=auto&bucket=auto&page=1"),
    ("", "metric=&window=&start=&end=&agg=&bucket=&by=&page="),
    ("host=web-2&host=web-1", "host=web-1&host=web-2&host=web-1"),
    ("host=web-1&region=eu", "region=eu&host=web-1"),
    ("metric=mem&metric=cpu&metric=mem", "metric=cpu&metric=mem"),
    ("start=2024-05-01", "start=2024-05-01T02:00:00%2B02:00"),
    ("start=2024-05-01&window=1h", "start=2024-05-01"),
    ("end=2024-05-01&window=7d", "end=2024-05-01T00:00:00Z"),
    ("agg=raw&bucket=1h", "agg=raw"),
    ("agg=mean&bucket=1m", "bucket=1m&agg=mean"),
])
def test_same_meaning_same_query(first: str, second: str) -> None:
    assert parse(first).query == parse(second).query


@pytest.mark.parametrize("first, second", [
    ("metric=cpu", "metric=mem"),
    ("window=1h", "window=6h"),
    ("host=web-1", "region=web-1"),
    ("agg=mean", "agg=auto"),
    ("bucket=1m", "bucket=auto"),
    ("page=2", ""),
    ("by=host", ""),
])
def test_different_meaning_different_query(first: str, second: str) -> None:
    assert parse(first).query != parse(second).query


def test_chart_identity_ignores_the_table_page() -> None:
    assert parse("page=4&by=host").chart.query == parse("by=host").query


@pytest.mark.parametrize("query, newest, expected", [
    ("", MAY_1, (None, None)),
    ("window=1h", MAY_1, (MAY_1 - HOUR, None)),
    ("window=24h", MAY_1, (MAY_1 - 24 * HOUR, None)),
    ("window=1h", None, (None, None)),  # an empty dataset has no newest point
    ("window=1h&start=2024-04-01", MAY_1, (MAY_1 - 30 * 24 * HOUR, None)),
    ("end=2024-05-01T01:00:00Z&window=5m", MAY_1, (None, MAY_1 + HOUR)),
])
def test_time_range(query: str, newest: int | None,
                    expected: tuple[int | None, int | None]) -> None:
    assert parse(query).time_range(newest) == expected


def test_filter_values() -> None:
    view = parse("host=web-2&host=web-1")
    assert view.filter_values("host") == ("web-1", "web-2")
    assert view.filter_values("region") == ()


@pytest.mark.parametrize("query, by", [
    ("by=series", "series"), ("by=none", "none"), ("by=host", "host"), ("", "series")])
def test_by_takes_series_none_or_a_label(query: str, by: str) -> None:
    assert parse(query).by == by


@pytest.mark.parametrize("query, canonical", [
    ("", "metric=cpu"), ("by=series", "metric=cpu"), ("by=none", "metric=cpu&by=none"),
    ("by=host", "metric=cpu&by=host")])
def test_by_series_is_the_default_and_left_out_of_the_canonical_query(query: str,
                                                                      canonical: str) -> None:
    assert parse(query).query == canonical


# -- every bad parameter at once, in the order the URL gives them ------------------------

@pytest.mark.parametrize("query, params, mentions", [
    ("window=3x&agg=median&colour=red&page=0", ("window", "agg", "colour", "page"),
     ["'3x' is not a duration", "'median' is not one of", "unknown parameter",
      "'0' is not a page"]),
    ("agg=median&window=3x", ("agg", "window"), []),
    ("metric=disk&metric=gpu&metric=cpu", ("metric",),
     ["'disk', 'gpu' are not metrics of this dataset; metrics are cpu, mem"]),
    ("start=2024-05-02&end=2024-05-01&by=zone", ("start", "by"), ["after end", "'zone'"]),
    ("tz=Mars/Olympus&start=2024-05-01 12:00", ("tz",), ["IANA time zone"]),
    ("window=1h&window=5m&agg=sum&agg=max", ("window", "agg"), ["more than once"]),
])
def test_parse_view_names_every_bad_parameter(query: str, params: tuple[str, ...],
                                              mentions: list[str]) -> None:
    with pytest.raises(ViewError) as raised:
        parse(query)
    error = raised.value
    assert error.params == params
    assert [p for p, _ in error.problems] == list(params)
    assert (error.param, error.message) == error.problems[0]
    assert str(error) == "; ".join(f"{p}: {m}" for p, m in error.problems)
    for text in mentions:
        assert text in str(error)


# -- start and end without an offset are wall-clock times in the view's zone ---------------

JAN_15 = MAY_1 - 107 * 24 * HOUR  # 2024-01-15T00:00:00Z (leap year: 17 + 29 + 31 + 30 days)


@pytest.mark.parametrize("query, start, end", [
    ("start=2024-05-01 12:00&tz=Europe/Berlin", MAY_1 + 10 * HOUR, None),  # CEST, UTC+2
    ("start=2024-05-01 12:00&tz=Asia/Kolkata", MAY_1 + 6 * HOUR + HOUR // 2, None),  # +5:30
    ("end=2024-01-15 08:00&tz=America/New_York", None, JAN_15 + 13 * HOUR),  # EST, UTC-5
    ("start=2024-05-01T12:00:00Z&tz=Asia/Tokyo", MAY_1 + 12 * HOUR, None),  # offset given
    ("start=2024-05-01T12:00:00%2B02:00&tz=Asia/Tokyo", MAY_1 + 10 * HOUR, None),
    ("start=2024-05-01 12:00", MAY_1 + 12 * HOUR, None),  # the default zone is UTC
    ("tz=Europe/Berlin&start=2024-10-27T02:30:00%2B01:00", MAY_1 + 179 * 24 * HOUR
     + HOUR + HOUR // 2, None),  # the second 02:30 of the night the clocks go back
    # as the page writes times in zones whose clocks change: with the abbreviation
    ("tz=Europe/Berlin&start=2024-10-27 02:30:00 CET", MAY_1 + 179 * 24 * HOUR
     + HOUR + HOUR // 2, None),
    ("tz=Europe/Berlin&start=2024-10-27 02:30:00 CEST", MAY_1 + 179 * 24 * HOUR
     + HOUR // 2, None),
    ("tz=Europe/Berlin&end=2024-05-01 12:00:00 CEST", None, MAY_1 + 10 * HOUR),
])
def test_start_and_end_without_an_offset_are_in_the_views_zone(
        query: str, start: int | None, end: int | None) -> None:
    view = parse(query)
    assert (view.start, view.end) == (start, end)
    assert parse(view.query) == view  # the canonical query writes UTC instants


@pytest.mark.parametrize("query, mentions", [
    ("start=2024-10-27 02:30&tz=Europe/Berlin",
     ["happens twice in Europe/Berlin", "2024-10-27T02:30:00+02:00", "2024-10-27T02:30:00+01:00"]),
    ("end=2024-03-31 02:30&tz=Europe/Berlin", ["does not exist in Europe/Berlin"]),
    ("start=2024-05-01 12:00 CET&tz=Europe/Berlin",
     ["Europe/Berlin calls 2024-05-01 12:00 CEST, not CET"]),
])
def test_a_wall_clock_time_a_zone_skips_or_repeats_is_refused(query: str,
                                                             mentions: list[str]) -> None:
    with pytest.raises(ViewError) as raised:
        parse(query)
    assert raised.value.param == query.split("=")[0]
    for text in mentions:
        assert text in raised.value.message


def test_start_or_end_replace_the_window() -> None:
    assert parse("window=6h&start=2024-05-01") == View(metrics=("cpu",), start=MAY_1)
    assert parse("end=2024-05-01&window=6h").window == "all"


# -- stepping back and forward by the range's own length -----------------------------------

DAY_END = MAY_1 + 24 * HOUR  # the newest point of the data below; the oldest is MAY_1


@pytest.mark.parametrize("query, direction, expected", [
    ("window=6h", -1, "metric=cpu&start=2024-05-01T12:00:00Z&end=2024-05-01T18:00:00Z"),
    ("window=6h", +1, None),  # already at the newest point
    ("start=2024-05-01T06:00:00Z&end=2024-05-01T12:00:00Z", +1,
     "metric=cpu&start=2024-05-01T12:00:00Z&end=2024-05-01T18:00:00Z"),
    ("start=2024-05-01T06:00:00Z&end=2024-05-01T12:00:00Z", -1,
     "metric=cpu&start=2024-05-01T00:00:00Z&end=2024-05-01T06:00:00Z"),
    ("start=2024-05-01T00:00:00Z&end=2024-05-01T06:00:00Z", -1, None),  # nothing before
    # reaching the newest point follows it again
    ("start=2024-05-01T12:00:00Z&end=2024-05-01T18:00:00Z", +1, "metric=cpu&window=6h"),
    ("start=2024-05-01T21:00:00Z&end=2024-05-01T22:30:00Z", +1, "metric=cpu&window=90m"),
    ("start=2024-05-01T22:00:00Z&end=2024-05-01T23:00:00.5Z", +1, "metric=cpu&window=3601s"),
    # live data moved on while a step back was shown: "later" follows it again, not a
    # range 5 s short of the newest point; two steps back, "later" is the step between
    ("start=2024-05-01T11:59:55Z&end=2024-05-01T17:59:55Z", +1, "metric=cpu&window=6h"),
    ("start=2024-05-01T05:59:55Z&end=2024-05-01T11:59:55Z", +1,
     "metric=cpu&start=2024-05-01T11:59:55Z&end=2024-05-01T17:59:55Z"),
    ("start=2024-05-01T06:00:00Z&end=2024-05-01T12:00:00Z", +1,  # exactly two steps back
     "metric=cpu&start=2024-05-01T12:00:00Z&end=2024-05-01T18:00:00Z"),
    ("", -1, None),  # all data: nothing before or after
    ("", +1, None),
    ("start=2024-05-01T18:00:00Z", -1,  # open end: up to the newest point, 6 h
     "metric=cpu&start=2024-05-01T12:00:00Z&end=2024-05-01T18:00:00Z"),
    ("end=2024-05-01T06:00:00Z", +1,
     "metric=cpu&start=2024-05-01T06:00:00Z&end=2024-05-01T12:00:00Z"),
    ("window=6h&page=3&host=web-1", -1,  # filters stay, the table goes back to page 1
     "metric=cpu&host=web-1&start=2024-05-01T12:00:00Z&end=2024-05-01T18:00:00Z"),
])
def test_stepped(query: str, direction: int, expected: str | None) -> None:
    stepped = parse(query).stepped(direction, MAY_1, DAY_END)
    assert (stepped.query if stepped else None) == expected


def test_stepping_without_data_goes_nowhere() -> None:
    assert parse("window=6h").stepped(-1, None, None) is None


@pytest.mark.parametrize("query, span", [
    ("", (MAY_1, DAY_END)),
    ("window=48h", (DAY_END - 48 * HOUR, DAY_END)),  # as long as it says
    ("start=2024-05-01T06:00:00Z", (MAY_1 + 6 * HOUR, DAY_END)),
    ("end=2024-05-01T06:00:00Z", (MAY_1, MAY_1 + 6 * HOUR)),
])
def test_span(query: str, span: tuple[int, int]) -> None:
    assert parse(query).span(MAY_1, DAY_END) == span


def test_with_window_drops_the_range_and_the_page() -> None:
    view = parse("start=2024-05-01&end=2024-05-02&page=4").with_window("15m")
    assert view.query == "metric=cpu&window=15m"


def test_no_two_iana_zones_differ_only_by_case() -> None:
    # A lower-case tz is read as the one zone it spells; two such zones would be a guess.
    lower = [name.lower() for name in time_zones()]
    assert len(lower) == len(set(lower))
