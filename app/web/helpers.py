"""Template filters and globals: how instants, numbers and view URLs are written on pages."""
from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, url_for

from ..engine.view import View
from ..instants import format_instant


def isotime(seconds: float | None) -> str:
    """Epoch seconds as ISO-8601 UTC, to the second."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def localinput(ns: int | None) -> str:
    """An instant (ns) as a ``datetime-local`` input value (UTC, no zone)."""
    return format_instant(ns)[:19] if ns is not None else ""


def instant(ns: int | None) -> str:
    """An instant (ns) for people: ``2024-05-01 12:00:00`` (UTC)."""
    return format_instant(ns)[:19].replace("T", " ") if ns is not None else ""


def number(value: float | None) -> str:
    """A value for people: up to 6 significant digits, no float noise."""
    return "" if value is None else f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"


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
    app.add_template_global(view_url)
    app.add_template_global(export_url)
