"""Template filters and globals: how instants, numbers and view URLs are written on pages."""
from __future__ import annotations

import math
from datetime import UTC as UTC_ZONE
from datetime import datetime

from flask import Flask, url_for

from ..engine.view import View
from ..instants import UTC, format_instant, format_local, parse_instant, time_zones


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


def wallclock(iso: str, tz: str | None = None) -> str:
    """An ISO-8601 instant with its offset as people read it: ``2024-05-01 21:00:00``; with
    ``tz``, as ``instant`` writes it (the zone's abbreviation where clocks change)."""
    if tz is not None:
        try:
            return format_local(parse_instant(iso), tz)
        except ValueError:
            pass
    text = iso.replace("T", " ")
    for mark in ("Z", "+", "-"):
        cut = text.rfind(mark)
        if cut > 10:  # past the date's own dashes
            return text[:cut]
    return text


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
    app.add_template_filter(wallclock)
    app.add_template_global(common_zones)
    app.add_template_global(with_current)
    app.add_template_global(view_url)
    app.add_template_global(export_url)
