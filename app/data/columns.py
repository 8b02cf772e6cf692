"""Each column's role, decided from a sample of the file's rows: which column is time
(by the SPEC's names, else the first that holds dates), how it is written, its time of
day and zone partners, long or wide form, metrics and labels, the decimal separator.
Every cell is read afterwards with these decisions (``app.data.reader``)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import pandas as pd

from . import numbers as num
from . import timestamps, zones
from .dialect import Dialect
from .numbers import MISSING, PLAIN
from .schema import Schema, SchemaError

LABEL_NOTE_SHARE = 0.25  # a label this share of whose cells are numbers says why it is one
TIMESTAMP_NAMES = ("timestamp", "time", "date", "datetime", "ts")  # in this order
TIME_OF_DAY_NAMES = frozenset({"time", "hour", "clock", "time of day", "time_of_day",
                               "timeofday", "heure", "uhrzeit", "zeit", "hora", "ora", "tijd"})
# Columns that may hold the hour of day as a whole number (13) next to a date column.
HOUR_NAMES = frozenset({"hour", "hr", "hour of day", "hour_of_day", "stunde",
                        "heure", "hora", "ora", "uur"})
DATE_NAMES = ("date", "day", "datum", "fecha", "data", "jour", "tag")
MINUTE_NAMES = ("minute", "minutes", "min", "minute of hour", "minuten", "minuto", "minutos")


def filled_cells(values: pd.Series) -> list[str]:
    """The sample's cells that hold something (not empty, not a missing marker)."""
    stripped = (v.strip() for v in values.dropna().tolist())
    return [v for v in stripped if v and v.lower() not in MISSING]


def is_metric(numbers: int, words: int) -> bool:
    """A column is a metric when most of its filled cells (markers aside) are numbers."""
    return numbers > words


@dataclass(frozen=True)
class _Time:
    """How the timestamp is written, as found in the sample."""

    column: str
    time_of_day: str = ""
    layout: str = "ISO8601"
    numeric: bool = False


def _bare(name: str) -> str:
    """A column name compared: lower case, without a trailing unit or zone in brackets
    ("Time (UTC)" is "time")."""
    return re.sub(r"\s*[(\[][^()\[\]]*[)\]]\s*$", "", name).strip().lower()


def _hourly(name: str, values: Sequence[str]) -> bool:
    """True if ``name`` may hold the hour of day and its values are whole hours."""
    key = _bare(name)
    return key in HOUR_NAMES | TIME_OF_DAY_NAMES and timestamps.hours_of_day(values)


def _with_hours(sample: dict[str, list[str]], found: _Time) -> _Time:
    """``found``, refused when its hour column has a minute column beside it."""
    if not found.time_of_day or not timestamps.hours_of_day(sample[found.time_of_day]):
        return found
    for name, values in sample.items():
        if _bare(name) in MINUTE_NAMES and \
                values and all(v.isdigit() and int(v) < 60 for v in values):
            raise SchemaError(
                f"columns {found.time_of_day!r} and {name!r} split the time of day: write it "
                "in one column (13:05), or the date and time in one cell (2024-05-01 13:05)")
    return found


def _numbers_only(values: Sequence[str]) -> bool:
    """True if every value is a plain number (bare numbers are values, not dates)."""
    return all(PLAIN["."].fullmatch(v) or PLAIN[","].fullmatch(v) for v in values)


def _mostly(count: int, total: int, share: float = 0.9) -> bool:
    return total > 0 and count >= share * total


def _date_only(values: Sequence[str]) -> str:
    """The layout of a column of dates without times, or ""."""
    layout, count, clock = timestamps.date_layout(values)
    return layout if _mostly(count, len(values)) and not clock else ""


def _find_time(sample: dict[str, list[str]]) -> _Time:
    """The timestamp column by the SPEC's rule, how it is written, and its time-of-day
    partner; ``SchemaError`` naming what to change when there is none."""
    lower = {_bare(name): name for name in reversed(list(sample))}
    named = [lower[n] for n in TIMESTAMP_NAMES if n in lower]
    chosen = named[0] if named else ""
    if not chosen:
        for name, values in sample.items():
            layout, count, _ = timestamps.date_layout(values)
            if _mostly(count, len(values)) and not _numbers_only(values):
                chosen = name
                break
            if _mostly(timestamps.times_of_day(values), len(values)) and \
                    _bare(name) in TIME_OF_DAY_NAMES:
                chosen = name
                break
    if not chosen:
        raise SchemaError(
            "no timestamp column: name one 'timestamp', 'time', 'date', 'datetime' or 'ts', "
            "or put ISO-8601 dates in a column")
    values = sample[chosen]
    if not values:
        return _Time(chosen)  # no rows yet
    layout, count, _ = timestamps.date_layout(values)
    # An hour of day written as a whole number (a logger's "Hour" 13) in a column named
    # for it goes with a date column, as 13:00 does.
    clock = _mostly(timestamps.times_of_day(values), len(values))
    partners: list[str] = []
    if clock or _hourly(chosen, values):
        partners = [n for n in sample if n != chosen and _date_only(sample[n])]
        partners.sort(key=lambda n: _bare(n) not in DATE_NAMES)
    if clock or (_hourly(chosen, values) and partners):
        if not partners:
            raise SchemaError(
                f"column {chosen!r} holds times of day ({values[0]!r}) without dates: add a "
                "'date' column, or write the date in each cell (2024-05-01 12:00:00)")
        return _Time(partners[0], chosen, _date_only(sample[partners[0]]))
    if layout and _mostly(count, len(values), 0.5) and not _numbers_only(values):
        if _date_only(values):
            for name, other in sample.items():
                if name != chosen and ((_bare(name) in TIME_OF_DAY_NAMES and _mostly(
                        timestamps.times_of_day(other), len(other))) or _hourly(name, other)):
                    return _Time(chosen, name, layout)
        return _Time(chosen, layout=layout)
    if all(PLAIN["."].fullmatch(v) for v in values):
        series = pd.Series(values, dtype="str")
        if timestamps.compact_dates(series):
            return _Time(chosen, layout="%Y%m%d")
        return _Time(chosen, layout="", numeric=True)
    raise SchemaError(
        f"column {chosen!r} holds no dates this reader knows ({values[0]!r}): write ISO-8601 "
        "(2024-05-01T12:00:00Z), day/month/year, month/day/year or epoch seconds")


def infer_schema(texts: dict[str, list[str]], dialect: Dialect, encoding: str
                 ) -> tuple[Schema, tuple[str, ...], list[str]]:
    """The schema a sample implies (time, long or wide form, metrics, labels, formats),
    the labels that hold numbers enough for all their cells to be counted, and notes.

    ``texts`` maps each named column to its sample's filled cells (``filled_cells``).
    ``SchemaError`` naming what to change when the sample has no timestamp column or
    (wide form) no rows.
    """
    if not texts:
        raise SchemaError("the file has no header row")
    time = _with_hours(texts, _find_time(texts))
    zone = header_zone = ""
    notes: list[str] = []
    if not time.numeric and texts[time.column]:
        with_zone, without = timestamps.zoned(texts[time.column], time.layout)
        if time.time_of_day:
            clock_zone, _ = timestamps.zoned(texts[time.time_of_day], "time")
            with_zone = with_zone or clock_zone
        if with_zone and without:
            # naive is UTC by rule; beside zoned values it may well be meant otherwise
            notes.append(f"some times in {time.column!r} name their zone "
                         f"({with_zone!r}) and some do not ({without!r}): those without "
                         "were read as UTC")
        if not with_zone:
            zone = zones.zone_column(texts, (time.column, time.time_of_day))
            header_zone = "" if zone else (zones.header_zone(time.column) or (
                zones.header_zone(time.time_of_day) if time.time_of_day else ""))
    taken = {time.column, time.time_of_day, zone}
    others = [n for n in texts if n not in taken]
    counts = {n: num.is_numeric(texts[n]) for n in others}
    total = num.Votes()
    for n in others:
        if is_metric(*counts[n]):  # words ("v1.2") say nothing about the decimal separator
            total.add(num.votes(texts[n]))
    decimal, either, _ = num.decide_decimal(total, dialect.delimiter)
    found = Schema(
        time.column, "wide", (), (), numeric_time=time.numeric, time_of_day=time.time_of_day,
        time_format="" if time.layout == "ISO8601" else time.layout,
        delimiter=dialect.delimiter, quotechar=dialect.quotechar, decimal=decimal,
        encoding=encoding, zone_column=zone, time_zone=header_zone,
        # no value in the sample settled the separator: all the values will try
        assumed=("decimal",) if either or (total.comma and total.point) else ())
    if "metric" in others and "value" in others:
        labels = tuple(c for c in others if c not in ("metric", "value"))
        return replace(found, kind="long", labels=labels), (), notes
    if not any(texts.values()):
        raise SchemaError("no rows yet: the header is there, the data is not")
    metrics = tuple(c for c in others if is_metric(*counts[c]))
    # Labels with numbers among their words: every cell decides, and a label says why.
    check = tuple(c for c in others if c not in metrics and counts[c][0]
                  and counts[c][0] >= LABEL_NOTE_SHARE * sum(counts[c]))
    labels = tuple(c for c in others if c not in metrics)
    return replace(found, metrics=metrics, labels=labels), check, notes
