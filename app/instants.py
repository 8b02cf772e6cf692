"""Instants and durations: int64 nanoseconds since the epoch, UTC, and their ISO-8601 text."""
from __future__ import annotations

import functools
import re
import zoneinfo

import numpy as np
import numpy.typing as npt
import pandas as pd

# Durations in int64 nanoseconds: the one definition data and engine code share.
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR
WEEK = 7 * DAY
# The whole years int64 nanoseconds hold (they reach 1677-09-21 .. 2262-04-11): instants
# from FIRST_INSTANT up to, not including, END_INSTANT are stored; others are refused.
FIRST_INSTANT = -9_214_560_000_000_000_000  # 1678-01-01T00:00:00Z
END_INSTANT = 9_214_646_400_000_000_000  # 2262-01-01T00:00:00Z
NS_PER_MS = 1_000_000
UTC = "UTC"


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names this machine knows (``Europe/Berlin``...), read once."""
    return frozenset(zoneinfo.available_timezones())


def is_time_zone(name: str) -> bool:
    """True if ``name`` is an IANA time zone name (case as the database spells it)."""
    return name == UTC or name in time_zones()


def time_zone_named(name: str) -> str | None:
    """The IANA name ``name`` spells in any case (``utc`` -> ``UTC``, ``europe/paris`` ->
    ``Europe/Paris``), so pages and links keep one canonical URL; None if it spells none.
    No two IANA names differ only by case (checked in tests), so this never guesses."""
    if is_time_zone(name):
        return name
    return _zones_by_lower_case().get(name.lower())


@functools.cache
def _zones_by_lower_case() -> dict[str, str]:
    """Lower-case IANA name -> the name as the database spells it (~600 entries, read once)."""
    return {name.lower(): name for name in (*time_zones(), UTC)}


def local_ns(ns: np.ndarray, tz: str) -> np.ndarray:
    """Wall-clock time in ``tz`` of instants (int64 ns, UTC), as int64 ns of a naive clock.

    Daylight saving is applied per instant: 2024-03-31T01:30Z in Europe/Berlin is 03:30.
    """
    values = np.asarray(ns, dtype=np.int64)
    if tz == UTC or len(values) == 0:
        return values
    local: np.ndarray = pd.DatetimeIndex(values.view("datetime64[ns]"), tz=UTC) \
        .tz_convert(tz).tz_localize(None).asi8
    return local


def wall_clock_ms(ns: np.ndarray, tz: str) -> np.ndarray:
    """Instants (int64 ns, UTC) as ``datetime64[ms]`` wall-clock times in ``tz``.

    JSON-encoded (orjson) they become ``"2024-05-01T21:00:00"``: strings without a
    zone, which plotly.js draws where they say in every browser (it reads numbers
    as the browser's local time).
    """
    return (local_ns(ns, tz) // NS_PER_MS).astype("datetime64[ms]")


DURATION_UNITS = {"s": SECOND, "m": MINUTE, "h": HOUR, "d": DAY, "w": WEEK}
DURATION = re.compile(r"([1-9][0-9]{0,8})([smhdw])")
MAX_DURATION = 100 * 365 * DAY  # a century: int64 ns hold ~292 years


def parse_duration(text: object) -> int:
    """``90s``, ``2h``, ``7d``, ``1w`` as int64 ns; ``ValueError`` saying the form otherwise
    (for any other value too: a dashboard document's JSON may hold a number)."""
    match = DURATION.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None or int(match[1]) * DURATION_UNITS[match[2]] > MAX_DURATION:
        quoted = repr(text)  # cut: a document may hold a megabyte where a duration goes
        quoted = quoted if len(quoted) <= 66 else quoted[:64] + "..."
        raise ValueError(f"{quoted} is not a duration: a whole number and a unit, s, m, h, d "
                         "or w (90s, 15m, 2h, 7d), at most 100 years")
    return int(match[1]) * DURATION_UNITS[match[2]]


def duration_or(value: object, keyword: str) -> str:
    """``keyword``, or a duration written canonically (``120m`` -> ``2h``); ``ValueError``
    naming both forms otherwise. The one reading of a view's and a dashboard's ``window``
    (keyword ``all``: a URL, a document) and of a view's ``bucket`` (``auto``)."""
    if value == keyword:
        return keyword
    try:
        return format_duration(parse_duration(value))
    except ValueError as exc:
        raise ValueError(f"{exc}; or {keyword}") from None


def format_duration(ns: int) -> str:
    """A duration written whole in the largest fitting unit, days from two days on:
    7200 s -> ``2h``, 24 h -> ``24h``, 48 h -> ``2d`` (one spelling per duration)."""
    if ns % DURATION_UNITS["d"] == 0 and ns >= 2 * DURATION_UNITS["d"]:
        return f"{ns // DURATION_UNITS['d']}d"
    for unit in ("h", "m"):
        if ns % DURATION_UNITS[unit] == 0:
            return f"{ns // DURATION_UNITS[unit]}{unit}"
    return f"{ns // SECOND}s" if ns % SECOND == 0 else f"{ns / SECOND:g}s"


def format_instant(ns: int) -> str:
    """ISO-8601 in UTC with a ``Z``, with only as many fraction digits as it needs."""
    text = pd.Timestamp(ns, unit="ns", tz="UTC").isoformat().replace("+00:00", "")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + "Z"


def format_instants(ns: np.ndarray) -> list[str]:
    """``format_instant`` for many instants (int64 ns) at once, one precision for all."""
    values = np.asarray(ns, dtype=np.int64)
    unit = next((u for u, step in (("s", SECOND), ("ms", 10**6), ("us", 10**3))
                 if not np.any(values % step)), "ns")
    stamps: npt.NDArray[np.datetime64] = values.astype("datetime64[ns]")
    text = np.datetime_as_string(stamps, unit=unit)  # type: ignore[call-overload]
    return [t + "Z" for t in text.tolist()]


@functools.cache
def keeps_daylight_saving(tz: str) -> bool:
    """True if ``tz``'s clocks change during the year (today's rules): its times need their
    abbreviation to be unambiguous (01:30 happens twice on the night clocks go back)."""
    zone = zoneinfo.ZoneInfo(tz)
    year = pd.Timestamp.now(tz=UTC).year
    return len({pd.Timestamp(f"{year}-{month:02d}-01", tz=zone).utcoffset()
                for month in range(1, 13)}) > 1


def clocks_change(first_ns: int, last_ns: int, tz: str) -> bool:
    """True if ``tz``'s clocks change between the two instants (a wall-clock axis then
    repeats or skips an hour). Offsets are compared every 15 days and at both ends."""
    if tz == UTC or not keeps_daylight_saving(tz) or last_ns <= first_ns:
        return False
    step = 15 * DAY
    probes = np.unique(np.append(np.arange(first_ns, last_ns, step, dtype=np.int64), last_ns))
    local = local_ns(probes, tz)
    return len(set((local - probes).tolist())) > 1


def format_local(ns: int, tz: str = UTC) -> str:
    """An instant for people in ``tz``: ``2024-05-01 21:00:00``, with the zone's abbreviation
    where clocks change (``2024-11-03 01:30:00 EDT``, then ``01:30:00 EST``)."""
    stamp = pd.Timestamp(ns, unit="ns", tz=UTC)
    if tz != UTC:
        stamp = stamp.tz_convert(tz)
    text = stamp.strftime("%Y-%m-%d %H:%M:%S")
    fraction = ns % SECOND
    if fraction:
        text += f".{fraction:09d}".rstrip("0")
    if tz != UTC and keeps_daylight_saving(tz):
        text += " " + stamp.strftime("%Z")
    return text


def format_instants_in(ns: np.ndarray, tz: str) -> list[str]:
    """ISO-8601 with the offset of ``tz`` (``2024-05-01T21:00:00+09:00``; ``Z`` in UTC)."""
    if tz == UTC:
        return format_instants(ns)
    values = np.asarray(ns, dtype=np.int64)
    index = pd.DatetimeIndex(values.view("datetime64[ns]"), tz=UTC).tz_convert(tz)
    if not np.any(values % SECOND):
        return [stamp.isoformat(timespec="seconds") for stamp in index]
    if not np.any(values % 10**6):
        return [stamp.isoformat(timespec="milliseconds") for stamp in index]
    if not np.any(values % 10**3):
        return [stamp.isoformat(timespec="microseconds") for stamp in index]
    return [stamp.isoformat() for stamp in index]


# A time, a space and an offset's digits: in a URL "+05:30" typed as is arrives as " 05:30"
# (a "+" is a space in a query), and pandas reads "01:30 05:30" as 05:30, not as an offset.
LOST_PLUS = re.compile(r"(.*\d:\d\d(?::\d\d(?:[.,]\d+)?)?)\s+(\d\d:?\d\d)")
TWO_TIMES = re.compile(r"\d:\d\d.*\s\d{1,2}:\d\d")


def as_typed(text: str) -> str:
    """``text`` stripped, with the ``+`` of an offset back where a URL's query turned it
    into a space (``01:30 05:30`` -> ``01:30+05:30``); every reading of a typed instant
    starts here, so none of them sees a wall-clock time where there is an offset."""
    text = text.strip()
    lost_plus = LOST_PLUS.fullmatch(text)
    return f"{lost_plus[1]}+{lost_plus[2]}" if lost_plus else text


def parse_instant(text: str) -> int:
    """One instant a person typed (a view's ``start``/``end`` in a URL) as int64 ns since
    the epoch: ISO-8601 in the forms pandas reads, naive means UTC.

    Raises ``ValueError`` saying what is accepted for anything else, including
    instants that int64 nanoseconds cannot hold (before 1678 or after 2261). Columns of
    files are ``app.data.timestamps``'s; the ingest API's ``timestamps.read_iso``.
    """
    return _read_typed(text)[0]


def _read_typed(text: str) -> tuple[int, bool]:
    """``parse_instant``'s reading of ``text``, and whether it names its own offset
    (``names_its_zone``): one pandas parse for both."""
    text = as_typed(text)
    try:
        if TWO_TIMES.search(text):  # pandas would keep the second time, silently
            raise ValueError(text)
        stamp = pd.Timestamp(text)
        if pd.isna(stamp) or not any(ch.isdigit() for ch in text):
            raise ValueError(text)
        named = stamp.tzinfo is not None
        stamp = stamp.tz_convert("UTC") if named else stamp.tz_localize("UTC")
        return int(stamp.as_unit("ns").value), named
    except (ValueError, TypeError, OverflowError):  # OutOfBoundsDatetime is a ValueError
        raise ValueError(f"{text!r} is not an ISO-8601 instant between the years 1678 "
                         "and 2261 (for example 2024-05-01T12:00:00Z)") from None


ABBREVIATED = re.compile(r"(.*\d)\s*([A-Za-z]{2,6})")  # "2024-11-03 01:30:00 EST"


def parse_instant_in(text: str, tz: str) -> int:
    """One instant a person typed (a view's or a dashboard's ``start``/``end``) as int64 ns:
    ``parse_instant``'s forms, but without an offset it is a wall-clock time in ``tz``, which
    may end in the zone's abbreviation as the pages write it (``01:30:00 EST``).

    ``ValueError`` saying what to write for text that is not one, and for a wall-clock time
    that ``tz`` skips (clocks go forward) or has twice (clocks go back) without saying
    which: never a guess.
    """
    abbreviated = ABBREVIATED.fullmatch(text.strip())
    if abbreviated and abbreviated[2].upper() not in ("Z", "UTC", "GMT") and tz != UTC:
        return _abbreviated(text, abbreviated[1], abbreviated[2], tz)
    ns, named = _read_typed(text)
    if tz == UTC or named:
        return ns
    readings = _readings(pd.Timestamp(ns, unit="ns"), tz)
    if len(readings) == 1:
        return int(readings[0].value)
    if not readings:
        raise ValueError(f"{text!r} does not exist in {tz}: the clocks go forward over it; "
                         "pick a time outside the gap")
    first, second = (f"{r.isoformat()} or {r.strftime('%Z')}" for r in readings)
    raise ValueError(f"{text!r} happens twice in {tz}: the clocks go back over it; say which "
                     f"with its offset or abbreviation, {first}; {second}")


def _readings(wall: pd.Timestamp, tz: str) -> list[pd.Timestamp]:
    """The instants a wall-clock time stands for in ``tz``: one, none (a gap) or two (a fold)."""
    try:
        return [wall.tz_localize(tz, ambiguous="raise", nonexistent="raise")]
    except ValueError:
        pass
    try:
        return [wall.tz_localize(tz, ambiguous=dst) for dst in (True, False)]
    except ValueError:
        return []


def _abbreviated(text: str, clock: str, abbreviation: str, tz: str) -> int:
    wall = pd.Timestamp(parse_instant(clock), unit="ns")
    readings = _readings(wall, tz)
    for reading in readings:
        if reading.strftime("%Z").upper() == abbreviation.upper():
            return int(reading.value)
    names = " or ".join(r.strftime("%Z") for r in readings) or "nothing (the clocks skip it)"
    raise ValueError(f"{text!r}: {tz} calls {clock} {names}, not {abbreviation}")


def names_its_zone(text: str) -> bool:
    """True if an instant ``parse_instant`` reads says its own offset (``Z``, ``+02:00``,
    ``UTC``): no ``tz`` changes what it means. ``ValueError`` as ``parse_instant``'s."""
    return _read_typed(text)[1]
