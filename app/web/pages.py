"""HTML pages and their HTMX fragments."""
from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
)
from jinja2_fragments.flask import render_block, render_blocks
from werkzeug.wrappers import Response as BaseResponse

from ..data.store import Snapshot
from ..engine import browse, svg
from ..engine.compute import Limits, analyse
from ..engine.view import AGGREGATIONS, BUCKETS, WINDOWS, View, ViewError, parse_view
from ..state import AppState, app_state
from .catalog import describe
from .helpers import view_url

bp = Blueprint("pages", __name__)
# The blocks of view.html that an HTMX request gets back; each swaps itself in by id.
FRAGMENTS = ["controls", "notes", "meta", "addpanel", "facets", "stats", "table"]
# The blocks that change with the data alone, refreshed live as new versions arrive.
LIVE_FRAGMENTS = ["notes", "facets", "stats", "table"]


def is_htmx() -> bool:
    """True for a request HTMX made (it wants fragments, not a page)."""
    return request.headers.get("HX-Request") == "true"


def _vary(response: BaseResponse) -> BaseResponse:
    response.vary.add("HX-Request")
    return response


@bp.get("/")
def index() -> BaseResponse:
    """The datasets, with links to their views."""
    context = {"datasets": describe(app_state().store)}
    if is_htmx():
        return _vary(make_response(render_block("index.html", "datasets", **context)))
    return _vary(make_response(render_template("index.html", **context)))


def browse_context(state: AppState, snap: Snapshot, view: View) -> dict[str, Any]:
    """Facets, stats and one page of rows for a view, from a single selection.

    The numpy work runs through ``live.offload`` (eventlet's thread pool under the
    real server), so a big dataset does not stall other clients' heartbeats.
    """
    context: dict[str, Any] = state.offload(_browse, snap, view, state.limits,
                                            current_app.config["TABLE_PAGE_SIZE"])
    return context


def _browse(snap: Snapshot, view: View, limits: Limits, size: int) -> dict[str, Any]:
    sel, result = analyse(snap, view, limits)
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
def view(name: str) -> BaseResponse:
    """A dataset's view page (or its fragments for HTMX); a bad parameter is a 400 page."""
    state = app_state()
    dataset = state.store.get(name)
    context: dict[str, Any] = {
        "name": name, "error": None, "oob": is_htmx(), "svg": None,
        "facets": [], "stats": [], "table": None, "page_rows": [], "pages": 1,
        "metrics": tuple(dataset.metrics.values), "labels": dataset.label_names,
        "windows": tuple(WINDOWS), "aggs": AGGREGATIONS, "buckets": tuple(BUCKETS),
        # What reading the file left out or assumed, and why it has no fresh data.
        "skipped": dataset.skipped, "notes": dataset.warnings,
        "file_error": state.store.error(name),
    }
    status = 200
    try:
        snap, current = state.view_of(name, request.args.items(multi=True))
    except ViewError as exc:
        context["error"], status = exc, 400
        current = lenient_view(list(request.args.items(multi=True)), context["metrics"],
                               context["labels"])
    else:
        canonical = view_url(name, current)
        if request.query_string and not is_htmx() and \
                request.script_root + request.full_path.rstrip("?") != canonical:
            return _vary(redirect(canonical, 302))  # one URL per view: bookmarks and rooms agree
        context.update(state.memo.get(("browse", name, current.query, snap.version, snap.epoch),
                                      lambda: browse_context(state, snap, current)))
        if not is_htmx():
            figure = state.live.figures.payload(name, current)["figure"]
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
            body = state.memo.get(("live", name, current.query, snap.version, snap.epoch),
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
