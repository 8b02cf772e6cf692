"""HTML pages and their HTMX fragments."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, make_response, render_template, request
from jinja2_fragments.flask import render_block, render_blocks

from .state import dash
from .store import UnknownDataset
from .views import AGGREGATIONS, BUCKETS, WINDOWS, ViewError, format_instant, parse_view

bp = Blueprint("pages", __name__)
# The blocks of view.html that an HTMX request gets back, in page order.
FRAGMENTS = ["controls", "chart"]


@bp.app_template_filter("isotime")
def isotime(seconds: float | None) -> str:
    """Epoch seconds as ISO-8601 UTC, to the second."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@bp.app_template_filter("localinput")
def localinput(ns: int | None) -> str:
    """An instant as a ``datetime-local`` input value (UTC, no zone)."""
    return format_instant(ns)[:19] if ns is not None else ""


def is_htmx() -> bool:
    """True for a request HTMX made (it wants fragments, not a page)."""
    return request.headers.get("HX-Request") == "true"


def _vary(response: Response) -> Response:
    response.vary.add("HX-Request")
    return response


@bp.errorhandler(UnknownDataset)
def unknown_dataset(exc: UnknownDataset) -> tuple[str, int]:
    """404 page for a dataset that does not exist."""
    return render_template("missing.html", name=exc.args[0]), 404


@bp.get("/")
def index() -> Response:
    """The datasets, with links to their views."""
    context = {"datasets": dash().describe()}
    if is_htmx():
        return _vary(make_response(render_block("index.html", "datasets", **context)))
    return _vary(make_response(render_template("index.html", **context)))


@bp.get("/d/<name>")
def view(name: str) -> Response:
    """A dataset's view page; a bad parameter gives 400 with the controls kept."""
    state = dash()
    dataset = state.store.get(name)
    status = 200
    error: ViewError | None = None
    try:
        _, _, current = state.view(name, request.args.items(multi=True))
    except ViewError as exc:
        error, status = exc, 400
        current = parse_view((), tuple(dataset.metrics.values), dataset.label_names)
    context: dict[str, Any] = {
        "name": name,
        "view": current,
        "error": error,
        "metrics": tuple(dataset.metrics.values),
        "labels": dataset.label_names,
        "windows": tuple(WINDOWS),
        "aggs": AGGREGATIONS,
        "buckets": tuple(BUCKETS),
    }
    if is_htmx():
        body = render_blocks("view.html", FRAGMENTS, **context)
    else:
        body = render_template("view.html", **context)
    return _vary(make_response(body, status))

