"""Template filters and globals: how instants, numbers and view URLs are written on pages."""
from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC as UTC_ZONE
from datetime import datetime

from flask import Flask, url_for

from ..engine.view import View
from ..instants import SECOND, UTC, format_instant, format_local, parse_instant, time_zones


def isotime(seconds: float | None) -> str:
    """Epoch seconds as ISO-8601 UTC, to the second."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC_ZONE).strftime("%Y-%m-%dT%H:%M:%SZ")


def localinput(ns: int | None) -> str:
    """An instant (ns) as a ``datetime-local`` input value (UTC, no zone)."""
    return format_instant(ns)[:19] if ns is not None else ""


def instant(ns: int | None, tz: str = UTC) -> str:
    """An instant (ns) for people in ``tz``: ``2024-05-01 12:00:00`` (the page names the zone)."""
    return format_local(ns, tz) if ns is not None else ""


def number(value: float | None) -> str:
    """A value for people, thousands separated: whole numbers as they are, two decimals
    from 1 to 100,000 (a column's decimal points line up), none above, three
    significant digits below 1. ``41.52671`` -> ``41.53``, ``1234567.8`` -> ``1,234,568``."""
    if value is None:
        return ""
    if not math.isfinite(value):
        return str(value)
    size = abs(value)
    if value == int(value) and size < 1e15:
        return f"{value:,.0f}"
    if size >= 100_000:
        return f"{value:,.0f}"
    if size >= 1:
        return f"{value:,.2f}"
    return f"{value:,.3g}"


# The hint in every from/to box (view page and dashboard): the form of a time, not a time
# that looks typed. An empty box is the data's own start or end.
TIME_HINT = "YYYY-MM-DD hh:mm"
MAX_PLACES = 6  # decimals a column ever gets (three significant digits of 0.000123)


def places(value: float | None) -> int:
    """The decimals ``number`` writes ``value`` with: 0 for whole numbers, numbers from
    100,000 on and None/nan/inf; 2 from 1; below 1, three significant digits (at most 6)."""
    if value is None or not math.isfinite(value) or value == int(value):
        return 0
    size = abs(value)
    if size >= 100_000:
        return 0
    if size >= 1:
        return 2
    return min(MAX_PLACES, 2 - math.floor(math.log10(size)))


def numbers(values: Iterable[float | None]) -> list[str]:
    """A column of numbers written with one number of decimals, the most any of them needs
    (``number``'s rule), so that their decimal points line up: ``48`` beside ``45.22`` is
    ``48.00``; ``None`` is empty, nan and inf are written as Python does."""
    values = list(values)
    digits = max((places(v) for v in values), default=0)
    return ["" if v is None else str(v) if not math.isfinite(v) else f"{v:,.{digits}f}"
            for v in values]


def _fraction_digits(ns: int) -> int:
    """0, 3, 6 or 9: the digits of a second that the instant ``ns`` needs."""
    for digits, step in ((0, SECOND), (3, 10**6), (6, 10**3)):
        if ns % step == 0:
            return digits
    return 9


def instants(values: Iterable[int | str | None], tz: str = UTC) -> list[str]:
    """A column of instants (ns, or ISO-8601 text) as ``instant`` writes them in ``tz``, with
    one precision: whole seconds unless one needs more, then every one with as many digits
    (``12:00:00.500`` beside ``12:00:00.508``; never ``.000`` in a column of whole seconds)."""
    parsed = [parse_instant(v) if isinstance(v, str) else v for v in values]
    digits = max((_fraction_digits(ns) for ns in parsed if ns is not None), default=0)
    out = []
    for ns in parsed:
        if ns is None:
            out.append("")
            continue
        whole = ns - ns % SECOND
        text = format_local(whole, tz)
        if digits:  # the fraction goes after the seconds, before a zone abbreviation
            fraction = f".{ns % SECOND:09d}"[:digits + 1]
            text = text[:19] + fraction + text[19:]
        out.append(text)
    return out


# Offered in the time zone box; any IANA name can be typed.
COMMON_ZONES = ("UTC", "Europe/London", "Europe/Berlin", "Europe/Paris", "Europe/Moscow",
                "America/New_York", "America/Chicago", "America/Denver",
                "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Shanghai",
                "Asia/Tokyo", "Asia/Singapore", "Asia/Dubai", "Australia/Sydney",
                "Pacific/Auckland", "Africa/Johannesburg")


def common_zones(current: str) -> list[str]:
    """Zones to suggest, the current one first if it is not common."""
    known = [zone for zone in COMMON_ZONES if zone == UTC or zone in time_zones()]
    return known if current in known else [current, *known]


def with_current(choices: tuple[str, ...], current: str) -> tuple[str, ...]:
    """The choices a select offers, with the view's own value among them (``window=90s``)."""
    return choices if current in choices else (*choices, current)


def view_url(name: str, view: View) -> str:
    """The page URL of a view, with its canonical query."""
    query_string = view.query
    base = url_for("pages.view", name=name)
    return f"{base}?{query_string}" if query_string else base


def export_url(name: str, view: View, fmt: str) -> str:
    """The export URL of a view's rows."""
    return f"{url_for('api.rows', name=name)}?{view.at_page(1).query}&format={fmt}"


def register(app: Flask) -> None:
    """Make the filters and globals available to every template of ``app``."""
    app.add_template_filter(isotime)
    app.add_template_filter(localinput)
    app.add_template_filter(instant)
    app.add_template_filter(number)
    app.jinja_env.globals["time_hint"] = TIME_HINT
    app.add_template_global(numbers)
    app.add_template_global(instants)
    app.add_template_global(common_zones)
    app.add_template_global(with_current)
    app.add_template_global(view_url)
    app.add_template_global(export_url)
