"""Time zones as files write them: abbreviations with one meaning, UTC offsets, IANA names;
and a zone column (``tz``) that says per row which zone a naive timestamp is local to."""
from __future__ import annotations

import re
import zoneinfo
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..instants import MINUTE
from .lines import LineOf
from .schema import NAT, SchemaError

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
    "MEZ": 60, "MESZ": 120,  # German exports: Mitteleuropäische (Sommer)zeit
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
# Column names that say a column holds each row's zone (compared lower-case).
ZONE_COLUMNS = frozenset({"tz", "timezone", "time_zone", "time zone", "time-zone", "zone",
                          "tzname", "tz_name", "utc_offset", "utc offset", "utcoffset",
                          "tz_offset", "zeitzone", "fuseau horaire"})
# Only these may write an offset as a bare number of hours ("2", "-5"): a "zone" column
# of 1, 2, 3 is more likely numbered areas than offsets.
OFFSET_COLUMNS = frozenset({"utc_offset", "utc offset", "utcoffset", "tz_offset"})
OFFSET = re.compile(r"(?:UTC|GMT|UT)?\s*(?P<sign>[+-])(?P<h>\d{1,2})(?::?(?P<m>\d{2}))?",
                    re.IGNORECASE)
BARE_HOURS = re.compile(r"(?P<sign>[+-]?)(?P<h>\d{1,2})")
Zone = int | zoneinfo.ZoneInfo  # fixed minutes east of UTC, or a zone with its rules


def zone_minutes(token: str | None) -> int | None:
    """Minutes east of UTC for a zone token in a timestamp; None when it is no zone we know."""
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


def refuse_zone(token: str, column: str, line: int) -> None:
    """Raise the ``SchemaError`` for an ambiguous zone name, or an unknown upper-case one
    (a lower-case word is no zone: its cell is unreadable)."""
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


def _iana(token: str) -> zoneinfo.ZoneInfo | None:
    """The IANA zone ``token`` names (any case), or None."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+\-/]*", token):
        return None
    try:
        return zoneinfo.ZoneInfo(token)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        pass
    if "/" not in token:
        return None
    # Exports write "europe/berlin" too; the table of names is read only for them.
    names = {name.lower(): name for name in zoneinfo.available_timezones()}
    return zoneinfo.ZoneInfo(names[token.lower()]) if token.lower() in names else None


def zone_of(token: str, bare_hours: bool = False) -> Zone | None:
    """A zone column's cell -> fixed minutes east of UTC or an IANA zone; None if unknown.

    Abbreviations with one meaning (``CEST``), offsets (``+02:00``, ``UTC+2``, ``-0500``),
    IANA names (``Europe/Berlin``); with ``bare_hours``, ``2`` and ``-5`` are hours.
    """
    text = token.strip()
    if text.upper() in ZONES:
        return ZONES[text.upper()]
    match = OFFSET.fullmatch(text) or (BARE_HOURS.fullmatch(text) if bare_hours else None)
    if match:
        minutes = int(match.group("h")) * 60 + int(match.groupdict().get("m") or 0)
        if int(match.group("h")) > 14 or int(match.groupdict().get("m") or 0) >= 60:
            return None
        return -minutes if match.group("sign") == "-" else minutes
    if text.upper() in AMBIGUOUS_ZONES:
        return None
    return _iana(text)


HEADER_ZONE = re.compile(r".*?[(\[]\s*(?P<z>[^()\[\]]+?)\s*[)\]]\s*")
LOCAL = frozenset({"local", "local time", "localtime", "lokal", "lokalzeit", "ortszeit",
                   "heure locale", "hora local", "ora locale"})


def header_zone(name: str) -> str:
    """The zone a column's name gives its times (``Time (CET)``, ``Zeit [Europe/Berlin]``),
    or "". ``SchemaError`` for a zone that is ambiguous, or merely "local"."""
    match = HEADER_ZONE.fullmatch(name)
    if match is None:
        return ""
    token = match.group("z")
    if token.lower() in LOCAL:
        raise SchemaError(
            f"column {name!r} holds local times without saying where: name the zone in the "
            "header (Time (Europe/Berlin)), or write the UTC offset in each cell "
            "(2024-05-01T12:00:00+02:00)")
    if token.upper() in AMBIGUOUS_ZONES:
        raise SchemaError(
            f"column {name!r} gives times in {token.upper()}, which names several zones "
            f"({AMBIGUOUS_ZONES[token.upper()]}): name the zone by its UTC offset "
            "(Time (UTC+05:30)) or its IANA name (Time (Asia/Kolkata))")
    return token if zone_of(token) is not None else ""  # "Time (s)" names a unit


def zone_column(sample: dict[str, list[str]], taken: Sequence[str]) -> str:
    """The column of ``sample`` that names each row's zone ("" when none): named as one
    (``ZONE_COLUMNS``), most of its cells zones (an ambiguous abbreviation counts: it is
    refused by name). A "zone" of areas (north, south) stays a label."""
    for name, values in sample.items():
        key = name.strip().lower()
        if name in taken or key not in ZONE_COLUMNS or not values:
            continue
        bare = key in OFFSET_COLUMNS
        known = {v for v in set(values)
                 if zone_of(v, bare) is not None or v.strip().upper() in AMBIGUOUS_ZONES}
        if sum(1 for v in values if v in known) * 2 > len(values):
            return name
    return ""


def localize(naive: np.ndarray, tokens: pd.Series, column: str, line_of: LineOf,
             bare_hours: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Wall-clock ns (read as if UTC; NAT where none) in the zones ``tokens`` names, per row.

    Returns (UTC ns, NAT where not read; rows without a zone; rows whose local time a
    daylight-saving change skips or repeats; the zones used, as shown in warnings).
    ``SchemaError`` naming the cell for an ambiguous or unknown zone.
    """
    codes, raw = pd.factorize(tokens)
    ns = np.full(len(naive), NAT, dtype=np.int64)
    gap = np.zeros(len(naive), dtype=bool)
    used: list[str] = []
    for k, token in enumerate(str(t) for t in raw):
        rows = np.flatnonzero((codes == k) & (naive != NAT))
        zone = zone_of(token, bare_hours)
        if zone is None:
            line = line_of(int(np.argmax(codes == k)))
            upper = token.strip().upper()
            if upper in AMBIGUOUS_ZONES:
                raise SchemaError(
                    f"column {column!r} gives the zone {upper} (line {line}), which names "
                    f"several zones ({AMBIGUOUS_ZONES[upper]}): write the UTC offset "
                    "(-06:00) or the zone's IANA name (America/Chicago) instead")
            raise SchemaError(
                f"column {column!r} holds {token.strip()!r} (line {line}), a time zone this "
                "reader does not know: write the zone's IANA name (Europe/Berlin) or the "
                "UTC offset (+02:00)")
        if len(used) < 3:
            shown = _offset_text(zone) if isinstance(zone, int) else ""
            used.append(token.strip() if shown in ("", token.strip())
                        else f"{token.strip()} {shown}")
        if isinstance(zone, int):
            ns[rows] = naive[rows] - zone * MINUTE
            continue
        local = pd.DatetimeIndex(naive[rows].astype("datetime64[ns]"))
        utc = local.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        values = utc.tz_convert("UTC").tz_localize(None).to_numpy().view("int64")
        missing = np.asarray(utc.isna())
        gap[rows] = missing
        ns[rows] = np.where(missing, NAT, values)
    if len(raw) > len(used):
        used.append("...")
    return ns, (codes < 0) & (naive != NAT), gap, used


def _offset_text(minutes: int) -> str:
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
