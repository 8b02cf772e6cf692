"""Timestamps as people write them -> int64 UTC nanoseconds: one format per column, decided
from all its values (day/month order, 12-hour clocks, zone abbreviations, epoch units)."""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .schema import NAT, SchemaError, objects_or_none

SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
# int64 nanoseconds hold 1677-09-21 .. 2262-04-11; whole years inside that are kept.
FIRST_NS = int(pd.Timestamp("1678-01-01T00:00:00Z").value)
END_NS = int(pd.Timestamp("2262-01-01T00:00:00Z").value)  # exclusive
DATE_ORDERS = ("MDY", "DMY")

# Why a cell gave no instant (one code per row).
OK, EMPTY, UNREADABLE, OUT_OF_RANGE, OTHER_UNIT = 0, 1, 2, 3, 4

# Zone abbreviations with one meaning (minutes east of UTC). Daylight names are their own
# entries: CEST is +02:00 whatever the date says.
ZONES = {
    "Z": 0, "UT": 0, "UTC": 0, "GMT": 0, "WET": 0, "WEST": 60,
    "CET": 60, "CEST": 120, "MET": 60, "MEST": 120, "EET": 120, "EEST": 180, "MSK": 180,
    "EST": -300, "EDT": -240, "MST": -420, "MDT": -360, "PST": -480, "PDT": -420,
    "AKST": -540, "AKDT": -480, "HST": -600, "NST": -210, "NDT": -150,
    "JST": 540, "KST": 540, "HKT": 480, "SGT": 480, "PHT": 480, "WIB": 420, "PKT": 300,
    "AWST": 480, "ACST": 570, "ACDT": 630, "AEST": 600, "AEDT": 660, "NZST": 720, "NZDT": 780,
    "WAT": 60, "CAT": 120, "EAT": 180, "SAST": 120, "BRT": -180, "ART": -180,
}
# Abbreviations that name several zones: refused by name, never guessed.
AMBIGUOUS_ZONES = {
    "CST": "US Central -06:00, China +08:00, Cuba -05:00",
    "CDT": "US Central -05:00, Cuba -04:00",
    "IST": "India +05:30, Ireland +01:00, Israel +02:00",
    "BST": "British Summer Time +01:00, Bangladesh +06:00",
    "AST": "Atlantic -04:00, Arabia +03:00",
    "ADT": "Atlantic -03:00, Arabia +04:00",
    "SST": "Samoa -11:00, Singapore +08:00",
    "GST": "Gulf +04:00, South Georgia -02:00",
    "ECT": "Ecuador -05:00, Eastern Caribbean -04:00",
    "AMT": "Amazon -04:00, Armenia +04:00",
}
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
LineOf = Callable[[int], int]  # row index -> line number in the file, for messages


class ReadingChanged(SchemaError):
    """New lines settle what the pinned schema had only assumed (the day/month order, the
    decimal separator): read the whole file again without the pinned schema."""


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


def _zone_minutes(token: str | None) -> int | None:
    """Minutes east of UTC for a zone token; None when it is no zone we know."""
    if token is None:
        return 0
    if token[0] in "+-":
        sign = -1 if token[0] == "-" else 1
        digits = token[1:].replace(":", "")
        return sign * (int(digits[:2]) * 60 + int(digits[2:4] or 0))
    upper = token.upper()
    if upper[:3] in ("UTC", "GMT") and len(upper) > 3:
        sign = -1 if upper[3] == "-" else 1
        hours, _, minutes = upper[4:].partition(":")
        if not minutes and len(hours) > 2:
            hours, minutes = hours[:-2], hours[-2:]
        return sign * (int(hours) * 60 + int(minutes or 0))
    return ZONES.get(token) if token.isupper() or token == "z" else None


def _refuse_zone(token: str, column: str, line: int) -> None:
    upper = token.upper()
    if upper in AMBIGUOUS_ZONES:
        raise SchemaError(
            f"column {column!r} gives times in {upper} (line {line}), which names several "
            f"zones ({AMBIGUOUS_ZONES[upper]}): write the UTC offset instead, "
            f"e.g. 2024-05-01T12:00:00+05:30 rather than 12:00 {upper}")
    if token.isupper():
        raise SchemaError(
            f"column {column!r} gives times in {token!r} (line {line}), a time zone this "
            "reader does not know: write the UTC offset instead, "
            "e.g. 2024-05-01T12:00:00+05:30")


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
        minutes[token] = _zone_minutes(token)
        if minutes[token] is None:
            _refuse_zone(token, column, first_line.get(token, 0))
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
    in_range = (ns >= FIRST_NS) & (ns < END_NS)
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
    if layout in ("?/?/%Y", "?-?-%Y"):
        a, b = _number(parts["a"], 0), _number(parts["b"], 0)
        mdy = ok & (a >= 1) & (a <= 12) & (b >= 1) & (b <= _days_in_month(year, a))
        dmy = ok & (b >= 1) & (b <= 12) & (a >= 1) & (a <= _days_in_month(year, b))
        only_dmy, only_mdy = dmy & ~mdy, mdy & ~dmy
        if order:
            against = only_dmy if order == "MDY" else only_mdy
            if pinned_assumed and against.any():
                raise ReadingChanged(
                    f"column {column!r}: {uniques[int(np.argmax(against))]!r} settles the "
                    "day/month order the file was read with")
        elif only_dmy.any() and only_mdy.any():
            d_at, m_at = int(np.argmax(only_dmy)), int(np.argmax(only_mdy))
            raise SchemaError(
                f"column {column!r} mixes day/month/year ({uniques[d_at]!r}, line "
                f"{line_of_unique(d_at)}) and month/day/year ({uniques[m_at]!r}, line "
                f"{line_of_unique(m_at)}): write every date the same way, best as 2024-05-01")
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
    scale = {"s": SECOND, "ms": 1_000_000, "us": 1_000, "ns": 1}[unit]
    ticks = values.view("int64")
    good = ~np.isnat(values)
    inside = good & (ticks >= FIRST_NS // scale) & (ticks < END_NS // scale)
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


def read_times_of_day(values: pd.Series, column: str, line_of: LineOf
                      ) -> tuple[np.ndarray, np.ndarray]:
    """A time-of-day column -> (ns after midnight UTC, ok) per row; its zone is applied."""
    codes, raw = pd.factorize(values)
    parts = _components([u.strip() for u in raw], TIME_OF_DAY)
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


def _epoch_numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(exact int64 where integral, float64, integral?) per row; NaN where not a number.

    ``values`` is text, or Int64 when the CSV reader could take the column as integers.
    """
    if str(values.dtype) == "Int64":
        integral = values.notna().to_numpy()
        exact = values.fillna(0).to_numpy(dtype=np.int64)
        floats = np.where(integral, exact.astype("float64"), np.nan)
        return exact, floats, integral
    as_int = pd.to_numeric(values, errors="coerce", dtype_backend="numpy_nullable")
    if str(as_int.dtype) != "Int64":
        whole = values.where(~values.str.contains(r"[.eE]", regex=True, na=False))
        as_int = pd.to_numeric(whole, errors="coerce", dtype_backend="numpy_nullable")
        if str(as_int.dtype) != "Int64":
            as_int = pd.Series(pd.array([pd.NA] * len(values), dtype="Int64"))
    integral = as_int.notna().to_numpy()
    exact = as_int.fillna(0).to_numpy(dtype=np.int64)
    floats = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    return exact, floats, integral


def epoch_unit(values: pd.Series) -> str:
    """The unit most of a numeric time column's magnitudes fit ("" when they are too small)."""
    _, floats, _ = _epoch_numbers(values)
    size = np.abs(floats[np.isfinite(floats)])
    counts = [int(((size >= low) & (size < high)).sum()) for _, _, low, high in EPOCH_UNITS]
    if not size.size or max(counts) * 2 <= size.size:
        return ""
    return EPOCH_UNITS[int(np.argmax(counts))][0]


def read_epochs(values: pd.Series, unit: str) -> Instants:
    """A numeric time column in ``unit`` (``epoch_unit`` decides it from all values) -> ns.

    Integers are exact (nanoseconds need all 19 digits); values of another magnitude
    than the unit's are OTHER_UNIT, never scaled by a guess.
    """
    exact, floats, integral = _epoch_numbers(values)
    scale = UNIT_SCALE[unit]
    low, high = next((lo, hi) for u, _, lo, hi in EPOCH_UNITS if u == unit)
    size = np.abs(floats)
    fits = np.isfinite(floats) & (size >= low) & (size < high)
    ns = np.zeros(len(values), dtype=np.int64)
    rough = fits & ~integral  # a fraction of the unit: float64 is as close as it gets
    ns[rough] = np.round(floats[rough] * scale).astype(np.int64)
    whole = fits & integral  # integers stay exact (np.where with floats would not)
    ns[whole] = exact[whole] * scale
    inside = fits & (ns >= FIRST_NS) & (ns < END_NS)
    reason = np.where(values.isna().to_numpy(), EMPTY,
                      np.where(~np.isfinite(floats), UNREADABLE,
                               np.where(~fits, OTHER_UNIT,
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
