"""Dashboard fields: the limits and the allow-list check of each kind of value.

Each ``check_*`` returns the clean value or raises ``ValueError`` whose text says what
is allowed; the document parser and the URL overrides share them, so a value valid
in a file is valid in a URL and the other way round.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ...instants import END_INSTANT, FIRST_INSTANT, SECOND, duration_or, time_zone_named

NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # dashboard names and panel ids
PANEL_TYPES = ("timeseries", "stat", "table")
REDUCERS = ("last", "mean", "min", "max", "sum", "count")
DEFAULT_WIDTH = 6
COLUMNS = 12
# A dashboard page watches one view per panel on one connection (the live layer's
# per-connection room limit must be at least this, plus the dashboard's own room).
MAX_PANELS = 24
MAX_THRESHOLDS = 8
MAX_FILTER_LABELS = 16
MAX_FILTER_VALUES = 32
MAX_TITLE = 200  # characters: titles of dashboards and panels
MAX_DESCRIPTION = 2000
MAX_QUERY = 2000
MAX_TEXT = 200  # label names, label values, dataset names
TOP_KEYS = ("title", "description", "window", "start", "end", "tz", "filters", "panels")
PANEL_KEYS = ("id", "title", "type", "width", "dataset", "query", "reduce", "thresholds")
THRESHOLD_KEYS = ("value", "color")
# View parameters that are not labels: a filter on one of these names could never be
# written into a view's query string as a label filter.
VIEW_PARAMETERS = ("metric", "window", "start", "end", "tz", "agg", "bucket", "by", "page")

# Only the ISO-8601 forms that every parser in the product reads alike (datetime and
# pandas): a date, optionally a time to the minute, second or nanosecond, and a zone.
INSTANT = re.compile(r"(?P<date>\d{4}-\d{2}-\d{2})"
                     r"(?:T(?P<time>\d{2}:\d{2}(?::\d{2})?)(?:\.(?P<fraction>\d{1,9}))?"
                     r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?", re.ASCII)  # "٢٠٢٤" is \d too
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ZONE = re.compile(r"[A-Za-z0-9_+-]{1,32}(?:/[A-Za-z0-9_+-]{1,32}){0,3}")
NOT_IANA = ("localtime", "posixrules", "Factory")  # files in zoneinfo folders, not zones
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
HEX_COLOR = re.compile(r"#(?:[0-9a-f]{3}|[0-9a-f]{6})")
# The 148 named colours of CSS Color 4: the only words that reach a style or an SVG
# attribute, so no document text can.
CSS_COLORS = frozenset("""
    aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue
    blueviolet brown burlywood cadetblue chartreuse chocolate coral cornflowerblue
    cornsilk crimson cyan darkblue darkcyan darkgoldenrod darkgray darkgrey darkgreen
    darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon
    darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet
    deeppink deepskyblue dimgray dimgrey dodgerblue firebrick floralwhite forestgreen
    fuchsia gainsboro ghostwhite gold goldenrod gray grey green greenyellow honeydew
    hotpink indianred indigo ivory khaki lavender lavenderblush lawngreen lemonchiffon
    lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgrey lightgreen
    lightpink lightsalmon lightseagreen lightskyblue lightslategray lightslategrey
    lightsteelblue lightyellow lime limegreen linen magenta maroon mediumaquamarine
    mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue mediumspringgreen
    mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin navajowhite
    navy oldlace olive olivedrab orange orangered orchid palegoldenrod palegreen
    paleturquoise palevioletred papayawhip peachpuff peru pink plum powderblue purple
    rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown seagreen seashell
    sienna silver skyblue slateblue slategray slategrey snow springgreen steelblue tan
    teal thistle tomato turquoise violet wheat white whitesmoke yellow yellowgreen
""".split())


def kind_of(value: Any) -> str:
    """What a JSON value is, for messages: ``a string``, ``a number``, ``null``..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def shown(value: Any) -> str:
    """``repr(value)`` for a message, cut after 64 characters."""
    text = repr(value)
    return text if len(text) <= 66 else text[:64] + "..."


def check_text(value: Any, limit: int, *, multiline: bool = False,
               required: bool = False) -> str:
    """A string of at most ``limit`` characters without control characters."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {kind_of(value)}")
    text = value.replace("\r\n", "\n") if multiline else value  # a textarea sends CRLF
    if required and not text.strip():
        raise ValueError("must not be empty")
    if len(text) > limit:
        raise ValueError(f"is {len(text)} characters long; at most {limit} are allowed")
    if (CONTROL_BUT_LINES if multiline else CONTROL).search(text):
        raise ValueError("must not contain control characters"
                         + ("" if multiline else " such as tabs or line breaks"))
    return text


def check_name(value: Any) -> str:
    """A dashboard name or panel id: 1 to 64 of A-Z a-z 0-9 _ -."""
    if not isinstance(value, str):
        raise ValueError(f"must be a string, not {kind_of(value)}")
    if not NAME.fullmatch(value):
        raise ValueError(f"{shown(value)} is not 1 to 64 of the characters A-Z a-z 0-9 _ -")
    return value


def check_window(value: Any) -> str:
    """``all`` or a duration, canonical (``120m`` -> ``2h``): read, and refused in the same
    words, as a view reads its ``window`` (``app.instants.duration_or``)."""
    return duration_or(value, "all")


def instant_ns(value: Any) -> int:
    """A dashboard document's ``start``/``end``: an ISO-8601 instant (naive means UTC) as
    int64 ns since the epoch, in the forms ``INSTANT`` allows; ``ValueError`` if not one, or
    outside the years 1678 to 2261. Stored files stay this strict; a URL (a view's, a
    dashboard's) takes what people type: ``overrides.url_instant``."""
    match = INSTANT.fullmatch(value) if isinstance(value, str) else None
    error = ValueError(f"{shown(value)} is not an ISO-8601 instant between the years 1678 and 2261 "
                       "(for example 2024-05-01T12:00:00Z)")
    if match is None:
        raise error
    zone = match["zone"] or ""  # only with a time
    time = f"T{match['time']}{zone.replace('Z', '+00:00')}" if match["time"] else ""
    text = match["date"] + time
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise error from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = moment - EPOCH
    seconds = since.days * 86400 + since.seconds
    ns = seconds * SECOND + int((match["fraction"] or "").ljust(9, "0"))
    if not FIRST_INSTANT <= ns < END_INSTANT:
        raise error
    return ns


def check_tz(value: Any) -> str:
    """An IANA time zone name that zoneinfo knows (``Europe/Berlin``, ``UTC``), as the
    database spells it (``utc`` -> ``UTC``, as a view's ``tz`` is), refused in a view's words
    (``app.engine.view``, which this layer may not import)."""
    error = ValueError(f"{shown(value)} is not an IANA time zone; write it like UTC, "
                       "Europe/Berlin, America/New_York or Asia/Kolkata")
    if isinstance(value, str):
        value = time_zone_named(value) or value
    if (not isinstance(value, str) or not ZONE.fullmatch(value) or value in NOT_IANA
            or value.startswith(("posix/", "right/"))):
        raise error
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise error from None
    return value


def check_color(value: Any) -> str:
    """A CSS colour name or ``#rgb``/``#rrggbb``, in lower case."""
    color = value.strip().lower() if isinstance(value, str) else None
    if color is None or not (color in CSS_COLORS or HEX_COLOR.fullmatch(color)):
        raise ValueError(f"{shown(value)} is not a CSS colour name (red, orange, seagreen...) "
                         "or #rgb / #rrggbb")
    return color


def check_label(value: Any) -> str:
    """A label name for a filter: text, and not one of the view's own parameters."""
    label = check_text(value, MAX_TEXT, required=True)
    if label in VIEW_PARAMETERS:
        raise ValueError(f"{label!r} is a view parameter, not a label")
    return label

