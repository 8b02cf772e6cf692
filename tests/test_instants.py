"""Instants written in a time zone: the same instant everywhere, daylight saving per instant."""
from __future__ import annotations

import numpy as np
import pytest

from app.instants import (
    clocks_change,
    format_instant,
    format_instants_in,
    format_local,
    is_time_zone,
    parse_instant,
    parse_instant_in,
    wall_clock_ms,
)

NOON = 1714564800 * 10**9  # 2024-05-01T12:00:00Z
BERLIN_SPRING = 1711848600 * 10**9  # 2024-03-31T01:30:00Z, half an hour after clocks went on


@pytest.mark.parametrize("ns, tz, iso, local, chart_x", [
    (NOON, "UTC", "2024-05-01T12:00:00Z", "2024-05-01 12:00:00", "2024-05-01T12:00:00.000"),
    (NOON, "Asia/Kolkata", "2024-05-01T17:30:00+05:30", "2024-05-01 17:30:00",
     "2024-05-01T17:30:00.000"),
    (NOON, "America/Los_Angeles", "2024-05-01T05:00:00-07:00", "2024-05-01 05:00:00 PDT",
     "2024-05-01T05:00:00.000"),
    (NOON, "Asia/Tokyo", "2024-05-01T21:00:00+09:00", "2024-05-01 21:00:00",
     "2024-05-01T21:00:00.000"),
    (BERLIN_SPRING, "Europe/Berlin", "2024-03-31T03:30:00+02:00", "2024-03-31 03:30:00 CEST",
     "2024-03-31T03:30:00.000"),
    (BERLIN_SPRING - 3600 * 10**9, "Europe/Berlin", "2024-03-31T01:30:00+01:00",
     "2024-03-31 01:30:00 CET", "2024-03-31T01:30:00.000"),
    (NOON + 250_000_000, "Asia/Kolkata", "2024-05-01T17:30:00.250+05:30",
     "2024-05-01 17:30:00.25", "2024-05-01T17:30:00.250"),
])
def test_an_instant_written_in_a_zone(ns: int, tz: str, iso: str, local: str,
                                      chart_x: str) -> None:
    assert format_instants_in(np.array([ns]), tz) == [iso]
    assert format_local(ns, tz) == local
    # What the chart's x says: the wall clock to the millisecond, without a zone.
    assert wall_clock_ms(np.array([ns]), tz).astype(str).tolist() == [chart_x]


@pytest.mark.parametrize("name, known", [
    ("UTC", True), ("Europe/Berlin", True), ("Asia/Kolkata", True),
    ("europe/berlin", False), ("CET ", False), ("Mars/Olympus", False), ("", False),
    ("../../etc/passwd", False),
])
def test_time_zone_names(name: str, known: bool) -> None:
    assert is_time_zone(name) is known


@pytest.mark.parametrize("ns, tz, local", [
    # New York, the night clocks went back: 01:30 twice, told apart by the abbreviation
    (1730611800 * 10**9, "America/New_York", "2024-11-03 01:30:00 EDT"),
    (1730615400 * 10**9, "America/New_York", "2024-11-03 01:30:00 EST"),
    (BERLIN_SPRING, "Europe/Berlin", "2024-03-31 03:30:00 CEST"),
    (NOON, "Asia/Kolkata", "2024-05-01 17:30:00"),  # no daylight saving: no abbreviation
    (NOON, "UTC", "2024-05-01 12:00:00"),
])
def test_times_in_zones_with_daylight_saving_name_the_abbreviation(ns: int, tz: str,
                                                                   local: str) -> None:
    assert format_local(ns, tz) == local


@pytest.mark.parametrize("first, last, tz, changes", [
    ("2024-11-02T12:00:00Z", "2024-11-04T12:00:00Z", "America/New_York", True),
    ("2024-11-04T12:00:00Z", "2024-11-05T12:00:00Z", "America/New_York", False),
    ("2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z", "Europe/Berlin", True),
    ("2024-04-01T00:00:00Z", "2024-10-01T00:00:00Z", "Europe/Berlin", False),
    ("2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z", "Asia/Kolkata", False),
    ("2024-01-01T00:00:00Z", "2024-12-31T00:00:00Z", "UTC", False),
])
def test_clocks_change_between_two_instants(first: str, last: str, tz: str,
                                            changes: bool) -> None:
    assert clocks_change(parse_instant(first), parse_instant(last), tz) is changes


@pytest.mark.parametrize("text, utc", [
    # An unencoded "+" in a typed URL arrives as a space: " 05:30" after a time is that
    # offset (01:30 at +05:30 is 20:00 the day before), not a second time of day.
    ("2024-05-02 01:30 05:30", "2024-05-01T20:00:00Z"),
    ("2024-05-02T01:30:15 0530", "2024-05-01T20:00:15Z"),
    ("2024-05-02 01:30+05:30", "2024-05-01T20:00:00Z"),
    ("2024-05-02 01:30 -05:30", "2024-05-02T07:00:00Z"),
    ("2024-05-02 01:30", "2024-05-02T01:30:00Z"),
])
def test_an_offset_whose_plus_a_url_turned_into_a_space(text: str, utc: str) -> None:
    assert format_instant(parse_instant(text)) == utc


@pytest.mark.parametrize("text", ["2024-05-02 01:30:00 05:30:00", "2024-05-02 01:30 5:30:00"])
def test_two_times_of_day_are_refused_not_the_second_kept(text: str) -> None:
    with pytest.raises(ValueError, match="is not an ISO-8601 instant"):
        parse_instant(text)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin", "Asia/Kolkata", "America/New_York"])
@pytest.mark.parametrize("text", ["2024-05-02T01:30 05:30", "2024-05-02 01:30 0530"])
def test_an_offset_that_lost_its_plus_is_an_offset_in_any_zone(text: str, tz: str) -> None:
    """Read in a page's zone, the offset still decides: 01:30 at +05:30 is 20:00Z."""
    assert format_instant(parse_instant_in(text, tz)) == "2024-05-01T20:00:00Z"
