"""Timestamp columns of files, as people write them -> int64 UTC nanoseconds: one format
per column, decided from all its values (day/month order, 12-hour clocks, zone
abbreviations, epoch units); ``read_iso`` for ISO-8601 alone, as the ingest API takes it.

One instant a person types (a view's start in a URL) is ``app.instants.parse_instant``'s.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..instants import DAY, END_INSTANT, FIRST_INSTANT, HOUR, MINUTE, SECOND
from .lines import LineOf
from .numbers import STRAY_SHARE
from .schema import NAT, ReadingChanged, SchemaError, objects_or_none
from .zones import refuse_zone, zone_minutes

DATE_ORDERS = ("MDY", "DMY")
# ISO-8601 as the ingest API takes it: a date, optionally a time and a zone ("now" is not
# one, though pandas reads it): what ``read_iso`` reads.
ISO_INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?)?"
                         r"(Z|[+-]\d{2}(:?\d{2})?)?")

# Why a cell gave no instant (one code per row). OTHER_ORDER: a date only the other
# day/month order reads, among many that settled the order (a stray line).
OK, EMPTY, UNREADABLE, OUT_OF_RANGE, OTHER_UNIT, OTHER_ORDER = 0, 1, 2, 3, 4, 5
# A zone column's reasons: the row names no zone; its local time a daylight-saving change
# skips (02:30 on a spring-forward night) or repeats (an autumn night's 02:30).
NO_ZONE, LOCAL_GAP = 6, 7

MONTHS = {name: number for number, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december")), start=1) for name in names}

_CLOCK = (r"(?:(?:T|\s+)(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
          r"(?:\s*(?P<p>[AaPp])\.?\s?[Mm]\.?)?)?")
_ZONE = (r"(?:\s*(?P<z>[Zz]|[+-]\d{2}(?::?\d{2})?|(?:UTC|GMT)[+-]\d{1,2}(?::?\d{2})?"
         r"|[A-Za-z]{2,5}))?")
_TIME_OF_DAY = (r"(?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:[.,](?P<f>\d{1,9}))?)?"
                r"(?:\s*(?P<p>[AaPp])\.?\s?[Mm]\.?)?")
# Each date layout a column may use; the key is stored in the schema (``time_format``).
# "?" layouts leave day and month open: the column's values (or ``date_order``) settle it.
_DATES = {
    "ISO8601": r"(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})",
    "%Y/%m/%d": r"(?P<y>\d{4})/(?P<mo>\d{1,2})/(?P<d>\d{1,2})",
    "%Y.%m.%d": r"(?P<y>\d{4})\.(?P<mo>\d{1,2})\.(?P<d>\d{1,2})",
    "?/?/%Y": r"(?P<a>\d{1,2})/(?P<b>\d{1,2})/(?P<y>\d{4}|\d{2})",
    "?-?-%Y": r"(?P<a>\d{1,2})-(?P<b>\d{1,2})-(?P<y>\d{4}|\d{2})",
    "%d.%m.%Y": r"(?P<d>\d{1,2})\.(?P<mo>\d{1,2})\.(?P<y>\d{4}|\d{2})",
    "%d %b %Y": r"(?P<d>\d{1,2})[- ](?P<mon>[A-Za-z]{3,9})\.?[- ](?P<y>\d{4}|\d{2})",
    "%b %d %Y": r"(?P<mon>[A-Za-z]{3,9})\.? (?P<d>\d{1,2}),? (?P<y>\d{4})",
}
PATTERNS = {key: re.compile(date + _CLOCK + _ZONE) for key, date in _DATES.items()}
PATTERNS["%Y%m%d"] = re.compile(r"(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})"
                                r"(?:(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2}))?")
TIME_OF_DAY = re.compile(_TIME_OF_DAY + _ZONE)
# A resolved "?" layout: the format written to the schema for each date order.
RESOLVED = {("?/?/%Y", "MDY"): "%m/%d/%Y", ("?/?/%Y", "DMY"): "%d/%m/%Y",
            ("?-?-%Y", "MDY"): "%m-%d-%Y", ("?-?-%Y", "DMY"): "%d-%m-%Y"}
OPEN = {resolved: (layout, order) for (layout, order), resolved in RESOLVED.items()}
DESCRIBED = {"MDY": "month/day/year", "DMY": "day/month/year"}
FIELDS = ("y", "mo", "d", "a", "b", "mon", "H", "M", "S", "f", "p", "z")


@dataclass
class Instants:
    """A timestamp column read: instants, why each missing one is missing, how it was read."""

    ns: np.ndarray  # int64 UTC nanoseconds, NAT where ``reason`` is not OK
    reason: np.ndarray  # int8 per row: OK, EMPTY, UNREADABLE, OUT_OF_RANGE, OTHER_UNIT
    time_format: str = "ISO8601"  # the layout used (a key of ``PATTERNS`` or a resolved one)
    epoch_unit: str = ""
    assumed: bool = False  # day/month order taken from ``date_order``, no value settled it
    notes: tuple[str, ...] = ()  # sentences for the reading's warnings


def _matches(pattern: re.Pattern[str], values: Sequence[str]) -> int:
    return sum(1 for v in values if pattern.fullmatch(v))


def date_layout(sample: Sequence[str]) -> tuple[str, int, bool]:
    """The date layout most of ``sample`` fits, how many fit, and whether any has a clock."""
    best, count = "", 0
    for key, pattern in PATTERNS.items():
        if key == "%Y%m%d":
            continue  # bare digits are numbers unless the column is named as time
        n = _matches(pattern, sample)
        if n > count:
            best, count = key, n
    if not count:
        return "", 0, False
    pattern = PATTERNS[best]
    clock = any((m := pattern.fullmatch(v)) is not None and m.group("H") is not None
                for v in sample)
    return best, count, clock


def times_of_day(sample: Sequence[str]) -> int:
    """How many of ``sample`` are a time of day alone (``13:45``, ``1:45:10 PM``)."""
    return _matches(TIME_OF_DAY, sample)


def hours_of_day(sample: Sequence[str]) -> bool:
    """True if every value of ``sample`` is a whole hour, 0 to 24 (24 is read as no hour)."""
    return bool(sample) and all(v.isdigit() and len(v) <= 2 and int(v) <= 24 for v in sample)


def zoned(sample: Sequence[str], layout: str) -> tuple[str, str]:
    """(the first value of ``sample`` that names its zone or offset, the first that names
    none), "" where there is none; ``layout`` as ``date_layout`` gives it, "time" for
    times of day."""
    pattern = PATTERNS.get(layout or "ISO8601") if layout != "time" else TIME_OF_DAY
    with_zone = without = ""
    for value in sample:
        m = pattern.fullmatch(value) if pattern is not None else None
        if m is None:
            continue
        if m.groupdict().get("z") is not None:
            with_zone = with_zone or value
        else:
            without = without or value
        if with_zone and without:
            break
    return with_zone, without


def _components(uniques: Sequence[str], pattern: re.Pattern[str]) -> pd.DataFrame:
    """One row per value: the pattern's named fields as text (None where absent)."""
    # m.groups() hands over every field in one call: 12 m.group() calls per value cost
    # 3.3 s of 7.6 s on a million distinct day/month/year timestamps.
    names = sorted(pattern.groupindex, key=pattern.groupindex.__getitem__)
    none = (None,) * len(names)
    rows = [none if (m := pattern.fullmatch(value)) is None else m.groups()
            for value in uniques]
    parts = pd.DataFrame(rows, columns=names, dtype=object)
    for name in FIELDS:
        if name not in parts:
            parts[name] = None
    return parts


def _number(column: pd.Series, default: float = np.nan) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").fillna(default).to_numpy(dtype="float64")


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    lengths = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
    days = lengths[np.clip(month, 0, 12).astype(np.int64)]
    return np.where((month == 2) & leap, 29, days)


def _days_from_civil(y: np.ndarray, m: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 of proleptic Gregorian dates (H. Hinnant's algorithm)."""
    y = y - (m <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    doy = (153 * (m + np.where(m > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days: np.ndarray = era * 146_097 + doe - 719_468
    return days


def _clock_ns(parts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Nanoseconds since midnight and whether the clock reads right, per row."""
    hour, minute, second = _number(parts["H"], 0), _number(parts["M"], 0), _number(parts["S"], 0)
    frac = _number(parts["f"].where(parts["f"].isna(), parts["f"].astype(str).str.ljust(9, "0")),
                   0)
    half = objects_or_none(parts["p"].str.lower())
    twelve = half != None  # noqa: E711 - elementwise
    ok = (minute < 60) & (second < 60) & np.where(twelve, (hour >= 1) & (hour <= 12), hour < 24)
    hour = np.where(twelve, hour % 12 + np.where(half == "p", 12, 0), hour)
    ns = (hour.astype(np.int64) * HOUR + minute.astype(np.int64) * MINUTE
          + second.astype(np.int64) * SECOND + frac.astype(np.int64))
    return ns, ok


def _offsets(parts: pd.DataFrame, column: str, first_line: dict[str, int]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Per row: nanoseconds to subtract for the zone, and whether the zone is readable."""
    tokens = objects_or_none(parts["z"])
    minutes: dict[str | None, int | None] = {}
    for token in set(tokens.tolist()):
        minutes[token] = zone_minutes(token)
        if minutes[token] is None:
            refuse_zone(token, column, first_line.get(token, 0))
    offset = np.array([minutes[t] if minutes[t] is not None else 0 for t in tokens],
                      dtype=np.int64) * MINUTE
    known = np.array([minutes[t] is not None for t in tokens], dtype=bool)
    return offset, known


def _years(raw: np.ndarray) -> np.ndarray:
    # Two-digit years pivot as strptime's %y does: 69-99 are 19xx, 00-68 are 20xx.
    return np.where(raw < 100, np.where(raw >= 69, 1900 + raw, 2000 + raw), raw)


def _assemble(year: np.ndarray, month: np.ndarray, day: np.ndarray, clock: np.ndarray,
              offset: np.ndarray, ok: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Instants (NAT where not ``ok``) and their reasons from calendar parts."""
    ok = ok & (month >= 1) & (month <= 12) & (day >= 1)
    ok &= day <= _days_in_month(year, month)
    in_years = (year >= 1678) & (year <= 2261)
    safe = ok & in_years
    y, m, d = (np.where(safe, v, 1970).astype(np.int64) for v in (year, month, day))
    ns = _days_from_civil(y, m, d) * DAY + np.where(safe, clock - offset, 0)
    in_range = (ns >= FIRST_INSTANT) & (ns < END_INSTANT)
    reason = np.where(~ok, UNREADABLE, np.where(in_years & in_range, OK, OUT_OF_RANGE))
    return np.where(reason == OK, ns, NAT).astype(np.int64), reason.astype(np.int8)


def _spread(values: pd.Series, codes: np.ndarray, ns_u: np.ndarray, reason_u: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """Per-unique results back to one per row (rows without a value are EMPTY)."""
    present = codes >= 0
    ns = np.full(len(values), NAT, dtype=np.int64)
    reason = np.full(len(values), EMPTY, dtype=np.int8)
    ns[present] = ns_u[codes[present]]
    reason[present] = reason_u[codes[present]]
    return ns, reason


def _parse_layout(values: pd.Series, layout: str, column: str, line_of: LineOf,
                  date_order: str, order: str = "", pinned_assumed: bool = False
                  ) -> Instants:
    """Read ``values`` (stripped text, NA when empty) with one date layout of ``PATTERNS``.

    For a layout that leaves day and month open, ``order`` fixes it (a pinned schema);
    without it the values settle it, or ``date_order`` does when none can.
    """
    codes, raw = pd.factorize(values)
    uniques = [u.strip() for u in raw]  # stripping the few distinct values, not every cell
    parts = _components(uniques, PATTERNS[layout])

    def line_of_unique(k: int) -> int:
        return line_of(int(np.argmax(codes == k)))

    first_zone = {token: line_of_unique(int(k)) for k, token in  # type: ignore[call-overload]
                  parts["z"].dropna().drop_duplicates().items()}
    offset, zone_ok = _offsets(parts, column, first_zone)
    clock, clock_ok = _clock_ns(parts)
    ok = parts["y"].notna().to_numpy() & clock_ok & zone_ok
    year = _years(_number(parts["y"], 0))
    notes: tuple[str, ...] = ()
    assumed, resolved = False, layout
    stray = np.zeros(len(uniques), dtype=bool)
    if layout in ("?/?/%Y", "?-?-%Y"):
        a, b = _number(parts["a"], 0), _number(parts["b"], 0)
        mdy = ok & (a >= 1) & (a <= 12) & (b >= 1) & (b <= _days_in_month(year, a))
        dmy = ok & (b >= 1) & (b <= 12) & (a >= 1) & (a <= _days_in_month(year, b))
        only_dmy, only_mdy = dmy & ~mdy, mdy & ~dmy
        if order:
            # Lines appended to a file contradict the order it was read with: the whole
            # file is read again, so that it reads the same appended or loaded at once.
            against = only_dmy if order == "MDY" else only_mdy
            if against.any():
                raise ReadingChanged(
                    f"column {column!r}: {uniques[int(np.argmax(against))]!r} does not fit "
                    f"the {DESCRIBED[order]} order the file was read with")
        elif only_dmy.any() and only_mdy.any():
            rows = np.bincount(codes[codes >= 0], minlength=len(uniques))
            d_rows, m_rows = int(rows[only_dmy].sum()), int(rows[only_mdy].sum())
            if min(d_rows, m_rows) > STRAY_SHARE * max(d_rows, m_rows):
                d_at, m_at = int(np.argmax(only_dmy)), int(np.argmax(only_mdy))
                raise SchemaError(
                    f"column {column!r} mixes day/month/year ({uniques[d_at]!r}, line "
                    f"{line_of_unique(d_at)}) and month/day/year ({uniques[m_at]!r}, line "
                    f"{line_of_unique(m_at)}): write every date the same way, best as "
                    "2024-05-01")
            # A few stray lines among many that settle the order: skipped and named.
            order = "DMY" if d_rows > m_rows else "MDY"
            stray = only_mdy if order == "DMY" else only_dmy
        elif only_dmy.any() or only_mdy.any():
            order = "DMY" if only_dmy.any() else "MDY"
        else:
            order, assumed = date_order, True
            differ = mdy & dmy & (a != b)
            if differ.any():
                k = int(np.argmax(differ))
                notes = ((f"dates in {column!r} fit both day/month/year and month/day/year; "
                          f"read as {DESCRIBED[order]} (DASH_DATE_ORDER={order}), so "
                          f"{uniques[k]!r} is {_iso_date(year[k], a[k], b[k], order)}"),)
        month, day = (a, b) if order == "MDY" else (b, a)
        resolved = RESOLVED[(layout, order)]
    elif layout in ("%d %b %Y", "%b %d %Y"):
        month = parts["mon"].str.lower().map(MONTHS).fillna(0).to_numpy(dtype="float64")
        day = _number(parts["d"], 0)
    else:
        month, day = _number(parts["mo"], 0), _number(parts["d"], 0)
    ns_u, reason_u = _assemble(year, month, day, clock, offset, ok)
    ns_u[stray] = NAT
    reason_u[stray] = OTHER_ORDER
    reason_u[np.array([not u for u in uniques], dtype=bool)] = EMPTY
    ns, reason = _spread(values, codes, ns_u, reason_u)
    return Instants(ns, reason, resolved, assumed=assumed or pinned_assumed, notes=notes)


def _iso_date(year: float, a: float, b: float, order: str) -> str:
    month, day = (a, b) if order == "MDY" else (b, a)
    return f"{int(year):04d}-{int(month):02d}-{int(day):02d}"


def _utc_ns(parsed: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A tz-aware datetime Series -> int64 UTC ns and reasons (NaT is UNREADABLE)."""
    values = parsed.dt.tz_localize(None).to_numpy()
    unit = np.datetime_data(values.dtype)[0]
    scale = UNIT_SCALE[unit]
    ticks = values.view("int64")
    good = ~np.isnat(values)
    inside = good & (ticks >= FIRST_INSTANT // scale) & (ticks < END_INSTANT // scale)
    ns = np.where(inside, ticks * scale, NAT).astype(np.int64)
    reason = np.where(inside, OK, np.where(good, OUT_OF_RANGE, UNREADABLE)).astype(np.int8)
    return ns, reason


def read_dates(values: pd.Series, time_format: str, column: str, line_of: LineOf,
               date_order: str = "MDY", pinned_assumed: bool = False) -> Instants:
    """Read a date or date-time column (text, NA when empty) in ``time_format``.

    Cells are stripped where needed. ``time_format`` is a layout from ``date_layout``
    (``?/?/%Y`` leaves the day/month order to the values, else to ``date_order``) or one
    a schema pinned (``%d/%m/%Y``). ISO-8601
    goes through pandas' fast parser; cells it refuses get the general one (zone names,
    ``+0200`` after a space, 12-hour clocks). ``SchemaError`` for an ambiguous zone name or
    a column that mixes day-first and month-first dates.
    """
    if time_format in ("", "ISO8601"):
        parsed = pd.to_datetime(values, format="ISO8601", utc=True, errors="coerce")
        ns, reason = _utc_ns(parsed)
        reason[values.isna().to_numpy()] = EMPTY
        retry = np.flatnonzero(reason == UNREADABLE)
        if len(retry):
            again = _parse_layout(values.iloc[retry], "ISO8601", column,
                                  lambda i: line_of(int(retry[i])), date_order)
            ns[retry], reason[retry] = again.ns, again.reason
        return Instants(ns, reason, "ISO8601")
    if time_format in OPEN:
        layout, order = OPEN[time_format]
        return _parse_layout(values, layout, column, line_of, date_order, order, pinned_assumed)
    return _parse_layout(values, time_format, column, line_of, date_order)


def read_iso(values: pd.Series) -> np.ndarray:
    """The ingest API's timestamps -> int64 UTC ns per value: zoned values converted to
    UTC, naive ones UTC, ``NAT`` for an impossible date or time, or one outside the years
    1678 to 2261.

    Each value must match ``ISO_INSTANT`` (stripped): ingest checks every point first, to
    name the bad ones, and pandas' parser here would also read forms outside it ("now").
    """
    text = values.astype("string").str.strip()
    ns, _ = _utc_ns(pd.to_datetime(text, utc=True, format="ISO8601", errors="coerce"))
    return ns


def read_times_of_day(values: pd.Series, column: str, line_of: LineOf
                      ) -> tuple[np.ndarray, np.ndarray]:
    """A time-of-day column -> (ns after midnight UTC, ok) per row; its zone is applied.

    A whole number of hours (``13``, as loggers write an hour column) is that hour.
    """
    codes, raw = pd.factorize(values)
    uniques = [u.strip() for u in raw]
    parts = _components([f"{u}:00" if u.isdigit() and len(u) <= 2 else u for u in uniques],
                        TIME_OF_DAY)
    first_zone = {token: line_of(int(np.argmax(codes == k))) for k, token in
                  parts["z"].dropna().drop_duplicates().items()}
    offset, zone_ok = _offsets(parts, column, first_zone)
    clock, clock_ok = _clock_ns(parts)
    ok_u = parts["H"].notna().to_numpy() & clock_ok & zone_ok
    ns = np.zeros(len(values), dtype=np.int64)
    ok = np.zeros(len(values), dtype=bool)
    present = codes >= 0
    ns[present] = (clock - offset)[codes[present]]
    ok[present] = ok_u[codes[present]]
    return ns, ok


# Epoch numbers by magnitude: each unit covers 1973-03-03 .. 5138-11-16 of its own scale.
EPOCH_UNITS = (("s", SECOND, 1e8, 1e11), ("ms", 1_000_000, 1e11, 1e14),
               ("us", 1_000, 1e14, 1e17), ("ns", 1, 1e17, 9.3e18))
UNIT_SCALE = {unit: scale for unit, scale, _, _ in EPOCH_UNITS}
UNIT_NAMES = {"s": "seconds", "ms": "milliseconds", "us": "microseconds", "ns": "nanoseconds"}


EPOCH_TEXT = re.compile(r"(?P<sign>[+-]?)(?P<whole>\d+)(?:\.(?P<frac>\d*))?")


def epoch_floats(values: pd.Series) -> np.ndarray:
    """A numeric time column (text, or Int64 from the CSV reader) as float64 magnitudes,
    NaN where a cell is no number: enough to tell its unit, not to read its instants."""
    if str(values.dtype) == "Int64":
        return values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")


def epoch_counts(floats: np.ndarray) -> list[int]:
    """How many of ``floats`` fit each unit of ``EPOCH_UNITS`` by magnitude."""
    size = np.abs(floats[np.isfinite(floats)])
    return [int(((size >= low) & (size < high)).sum()) for _, _, low, high in EPOCH_UNITS]


def epoch_unit(values: pd.Series) -> str:
    """The unit most of a numeric time column's magnitudes fit; "" when they are too small,
    or when another unit holds more than a few strays (the column mixes units)."""
    floats = epoch_floats(values)
    counts = epoch_counts(floats)
    size = int(np.isfinite(floats).sum())
    best = max(counts)
    if not size or best * 2 <= size or sum(counts) - best > STRAY_SHARE * best:
        return ""
    return EPOCH_UNITS[counts.index(best)][0]


def _decimal_ns(text: str, scale: int, floats: float) -> int | None:
    """One cell of epoch ``scale`` (ns per unit) -> exact ns: digits beyond a nanosecond
    round half up; exponent forms (1.7e9) go through float64; None when no number."""
    match = EPOCH_TEXT.fullmatch(text.strip())
    if match is None:
        return round(floats * scale) if np.isfinite(floats) else None
    digits = len(str(scale)) - 1  # fraction digits a unit holds: 9 for seconds
    frac = match.group("frac") or ""
    ns = int(match.group("whole")) * scale + int((frac + "0" * digits)[:digits] or 0)
    if len(frac) > digits and frac[digits] >= "5":
        ns += 1
    return -ns if match.group("sign") == "-" else ns


def _digits_ns(values: pd.Series, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Cells written ``[+-]digits[.digits]`` -> exact ns (``scale`` ns per unit), and which
    cells are written so; digits past a nanosecond round half up.

    Vectorised over the characters (one byte column at a time): a Python call per value
    took 4.3 s of CPU for a million time.time() stamps.
    """
    count = len(values)
    ns = np.zeros(count, dtype=np.int64)
    ok = np.zeros(count, dtype=bool)
    short = np.flatnonzero(values.str.len().to_numpy(dtype="float64", na_value=0) <= 40)
    try:
        raw = values.iloc[short].to_numpy(dtype=object).astype("S")
    except (UnicodeEncodeError, ValueError):  # not ASCII: no number of ours
        return ns, ok
    width = raw.dtype.itemsize
    chars = raw.view(np.uint8).reshape(len(raw), width)
    length = np.where((chars == 0).any(axis=1), np.argmax(chars == 0, axis=1), width)
    signed = (chars[:, 0] == ord("-")) | (chars[:, 0] == ord("+"))
    start = signed.astype(np.int64)
    column = np.arange(width)[None, :]
    body = (column >= start[:, None]) & (column < length[:, None])
    digit = (chars >= ord("0")) & (chars <= ord("9"))
    dot = (chars == ord(".")) & body
    point = np.where(dot.any(axis=1), np.argmax(dot, axis=1), length)
    good = (digit | dot | ~body).all(axis=1) & (dot.sum(axis=1) <= 1) & (point > start)
    whole = np.zeros(len(raw), dtype=np.int64)
    for j in range(width):
        take = good & (j >= start) & (j < point)
        whole = np.where(take, whole * 10 + chars[:, j].astype(np.int64) - ord("0"), whole)
    places = len(str(scale)) - 1  # fraction digits a unit holds: 9 for seconds
    rows = np.arange(len(raw))
    frac = np.zeros(len(raw), dtype=np.int64)
    for k in range(places + 1):
        at = point + 1 + k
        there = good & (at < length)
        d = np.where(there, chars[rows, np.minimum(at, width - 1)].astype(np.int64) - ord("0"),
                     0)
        if k < places:
            frac = frac * 10 + d
        else:
            frac += d >= 5  # the first digit past a nanosecond rounds
    exact = whole * scale + frac
    ns[short] = np.where(chars[:, 0] == ord("-"), -exact, exact)
    ok[short] = good
    return ns, ok


def read_epochs(values: pd.Series, unit: str) -> Instants:
    """A numeric time column in ``unit`` (``epoch_unit`` decides it from all values) -> ns.

    Integers and decimal fractions are read exactly from their digits (time.time()'s
    ``1714564800.123456`` is that microsecond; a float64 would be 240 ns off); values of
    another magnitude than the unit's are OTHER_UNIT, never scaled by a guess.
    """
    floats = epoch_floats(values)
    scale = UNIT_SCALE[unit]
    low, high = next((lo, hi) for u, _, lo, hi in EPOCH_UNITS if u == unit)
    size = np.abs(floats)
    fits = np.isfinite(floats) & (size >= low) & (size < high)
    # int64 nanoseconds wrap past 2262: 5e10 seconds (year 3554) would come out as 1800
    late = fits & (size * scale >= 9.2e18)
    fits &= ~late
    ns = np.zeros(len(values), dtype=np.int64)
    if str(values.dtype) == "Int64":
        exact = values.fillna(0).to_numpy(dtype=np.int64)
        ns[fits] = exact[fits] * scale
    else:
        # Integers and decimal fractions from their digits, exactly; the rest (1.7e9)
        # through float64, one distinct value at a time.
        rest = np.flatnonzero(fits)
        if len(rest):
            exact, written = _digits_ns(values.iloc[rest], scale)
            ns[rest[written]] = exact[written]
            rest = rest[~written]
        if len(rest):  # exponent forms (1.7e9), one distinct value at a time
            codes, uniques = pd.factorize(values.iloc[rest])
            _, first = np.unique(codes, return_index=True)  # each value's first row
            parts = [_decimal_ns(str(u), scale, float(floats[rest[first[k]]]))
                     for k, u in enumerate(uniques)]
            ns[rest] = np.array([p if p is not None else 0 for p in parts],
                                dtype=np.int64)[codes]
    inside = fits & (ns >= FIRST_INSTANT) & (ns < END_INSTANT)
    reason = np.where(values.isna().to_numpy(), EMPTY,
                      np.where(~np.isfinite(floats), UNREADABLE,
                               np.where(~fits & ~late, OTHER_UNIT,
                                        np.where(inside, OK, OUT_OF_RANGE)))).astype(np.int8)
    return Instants(np.where(reason == OK, ns, NAT).astype(np.int64), reason, "",
                    epoch_unit=unit)


def compact_dates(values: pd.Series) -> bool:
    """True if every value is ``YYYYMMDD`` or ``YYYYMMDDhhmmss`` digits of a real date."""
    sample = values.dropna()
    if sample.empty or not sample.str.fullmatch(r"\d{8}|\d{14}").all():
        return False
    parsed = _parse_layout(sample, "%Y%m%d", "", lambda i: 0, "MDY")
    return bool((parsed.reason == OK).all())
