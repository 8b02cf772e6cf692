"""HTML pages and their HTMX fragments."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from flask import Blueprint, Response, current_app, make_response, redirect, render_template, \
    request, url_for
from jinja2_fragments.flask import render_block, render_blocks

from . import browse, svg
from .state import Dash, dash
from .store import Snapshot, UnknownDataset
from .views import AGGREGATIONS, BUCKETS, WINDOWS, View, ViewError, format_instant, parse_view

bp = Blueprint("pages", __name__)
# The blocks of view.html that an HTMX request gets back; each swaps itself in by id.
FRAGMENTS = ["controls", "meta", "facets", "stats", "table"]
# The blocks that change with the data alone, refreshed live as new versions arrive.
LIVE_FRAGMENTS = ["facets", "stats", "table"]


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


@bp.app_template_filter("instant")
def instant(ns: int | None) -> str:
    """An instant for people: ``2024-05-01 12:00:00`` (UTC)."""
    return format_instant(ns)[:19].replace("T", " ") if ns is not None else ""


@bp.app_template_filter("number")
def number(value: float | None) -> str:
    """A value for people: up to 6 significant digits, no float noise."""
    return "" if value is None else f"{value:,.6g}" if abs(value) < 1e6 else f"{value:,.0f}"


@bp.app_template_global("view_url")
def view_url(name: str, view: View) -> str:
    """The page URL of a view, with its canonical query."""
    query_string = view.query
    base = url_for("pages.view", name=name)
    return f"{base}?{query_string}" if query_string else base


@bp.app_template_global("export_url")
def export_url(name: str, view: View, fmt: str) -> str:
    """The export URL of a view's rows."""
    return f"{url_for('api.rows', name=name)}?{view.at_page(1).query}&format={fmt}"


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


def browse_context(state: Dash, snap: Snapshot, view: View) -> dict[str, Any]:
    """Facets, stats and one page of rows for a view, from a single selection.

    The numpy work runs through ``live.offload`` (eventlet's thread pool under the
    real server), so a big dataset does not stall other clients' heartbeats.
    """
    return state.live.offload(_browse, state, snap, view, current_app.config["TABLE_PAGE_SIZE"])


def _browse(state: Dash, snap: Snapshot, view: View, size: int) -> dict[str, Any]:
    sel, result = state.analyse(snap, view)
    table = browse.rows(snap, view, sel, result)
    return {
        "facets": browse.facets(snap, view),
        "stats": browse.stats(snap, sel),
        "table": table,
        "page_rows": table.page(view.page, size),
        "pages": table.pages(size),
    }


def lenient_view(pairs: list[tuple[str, str]], metrics: tuple[str, ...],
                 labels: tuple[str, ...]) -> View:
    """The view without the parameters that are wrong, so the form keeps the user's choices."""
    for _ in range(len(pairs) + 1):
        try:
            return parse_view(pairs, metrics, labels)
        except ViewError as exc:
            pairs = [(k, v) for k, v in pairs if k != exc.param]
    return parse_view((), metrics, labels)


@bp.get("/d/<name>")
def view(name: str) -> Response:
    """A dataset's view page (or its fragments for HTMX); a bad parameter is a 400 page."""
    state = dash()
    dataset = state.store.get(name)
    context: dict[str, Any] = {
        "name": name, "error": None, "oob": is_htmx(), "svg": None,
        "facets": [], "stats": [], "table": None, "page_rows": [], "pages": 1,
        "metrics": tuple(dataset.metrics.values), "labels": dataset.label_names,
        "windows": tuple(WINDOWS), "aggs": AGGREGATIONS, "buckets": tuple(BUCKETS),
    }
    status = 200
    try:
        _, snap, current = state.view(name, request.args.items(multi=True))
    except ViewError as exc:
        context["error"], status = exc, 400
        current = lenient_view(list(request.args.items(multi=True)), context["metrics"],
                               context["labels"])
    else:
        canonical = view_url(name, current)
        if request.query_string and not is_htmx() and \
                request.script_root + request.full_path.rstrip("?") != canonical:
            return _vary(redirect(canonical, 302))  # one URL per view: bookmarks and rooms agree
        context.update(state.memo(("browse", name, current.query, snap.version, snap.epoch),
                                  lambda: browse_context(state, snap, current)))
        if not is_htmx():
            figure = state.live.payload(name, current)["figure"]
            context["svg"] = svg.render(figure, f"{name}: {', '.join(current.metrics)}")
    context["view"] = current
    if is_htmx():
        # On a mistake only the controls (with the message) change; the URL stays.
        # A live refresh (new data, same view) leaves the controls and the URL alone.
        refresh = bool(request.headers.get("X-Dash-Refresh"))
        if status != 200:
            blocks = [] if refresh else ["controls"]
        else:
            blocks = LIVE_FRAGMENTS if refresh else FRAGMENTS
        if refresh and status == 200:  # every watcher of this view asks: render it once
            body = state.memo(("live", name, current.query, snap.version, snap.epoch),
                              lambda: render_blocks("view.html", blocks, **context))
        else:
            body = render_blocks("view.html", blocks, **context)
        response = make_response(body, status)
        if not refresh:
            response.headers["HX-Push-Url"] = view_url(name, current) if status == 200 else "false"
        response.vary.add("X-Dash-Refresh")
    else:
        response = make_response(render_template("view.html", **context), status)
    return _vary(response)
