"""Dashboard pages: the list, a dashboard (or its fragments for HTMX), one panel's fragment.

Every panel is drawn by the server (an SVG chart with its threshold lines, a stat's
numbers in their threshold colour, a table's newest rows), so a page without JavaScript
is whole and a wall screen never shows an empty box; ``static/dashboard.js`` then makes
the panels live.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from flask import Blueprint, Flask, make_response, redirect, render_template, request, url_for
from jinja2_fragments.flask import render_block, render_blocks
from markupsafe import Markup
from werkzeug.wrappers import Response as BaseResponse

from ..data.dashboards import (
    Dashboard,
    OverrideError,
    Overrides,
    Panel,
    parse_overrides,
)
from ..data.store import Snapshot
from ..engine import browse, panels, svg
from ..engine.compute import Limits, analyse
from ..engine.view import WINDOWS, View
from ..state import AppState, app_state
from .pages import is_htmx

bp = Blueprint("dashboards", __name__)
# The blocks of dashboard.html an HTMX request gets back; each swaps itself in by id.
FRAGMENTS = ["heading", "overrides", "panels"]
TABLE_ROWS = 10  # newest rows a table panel shows; the view page has them all
LABEL_CHOICES = 50  # values of one label offered in the overrides form


def vary(response: BaseResponse) -> BaseResponse:
    """Pages and their fragments share URLs: caches must keep them apart."""
    response.vary.add("HX-Request")
    return response


@dataclass
class Box:
    """One panel as the page draws it: its effective view and what the server drew."""

    panel: Panel
    view: View
    version: int
    epoch: str
    svg: Markup | None = None  # timeseries
    stats: list[panels.StatValue] = field(default_factory=list)  # stat: one per trace
    sparks: list[Markup] = field(default_factory=list)  # stat: a trend line per number
    more: int = 0  # stat numbers not shown (past panels.MAX_STATS)
    columns: tuple[str, ...] = ()  # table
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    total: int = 0

    @property
    def thresholds(self) -> list[dict[str, Any]]:
        """The panel's thresholds for the browser (``data-thresholds``)."""
        return [{"value": t.value, "color": t.color} for t in self.panel.thresholds]


def _levels(panel: Panel) -> tuple[tuple[float, str], ...]:
    return tuple((t.value, t.color) for t in panel.thresholds)


def _stat(snap: Snapshot, view: View, limits: Limits, reduce: str,
          levels: tuple[tuple[float, str], ...]) -> list[panels.StatValue]:
    sel, _ = analyse(snap, view, limits)
    return panels.stat_values(snap, sel, reduce, levels)


def _table(snap: Snapshot, view: View, limits: Limits
           ) -> tuple[tuple[str, ...], list[tuple[Any, ...]], int]:
    sel, result = analyse(snap, view, limits)
    table = browse.rows(snap, view, sel, result)
    return table.columns, table.page(1, TABLE_ROWS), table.total


def draw(state: AppState, panel: Panel, view: View) -> Box:
    """What the server draws of ``panel`` showing ``view`` now.

    The figure is the view's shared one (``Figures``: once per version for every page,
    dashboard and socket); stat numbers and table rows are kept per view and version in
    the memo, so a hundred wall screens showing one dashboard compute them once.
    """
    payload = state.live.figures.payload(panel.dataset, view)
    version, epoch = payload["version"], payload["epoch"]
    box = Box(panel, view, version, epoch)
    key = (panel.dataset, view.chart.query, version, epoch)
    title = panel.title or panel.id
    if panel.type == "timeseries":
        box.svg = state.memo.get(("svg", *key, title, _levels(panel)), lambda: svg.render(
            payload["figure"], title, _levels(panel)))
        return box
    snap = state.store.get(panel.dataset).snapshot()
    if panel.type == "stat":
        stats = state.memo.get(("stat", *key, panel.reduce, _levels(panel)), lambda: state.offload(
            _stat, snap, view, state.limits, panel.reduce, _levels(panel)))
        traces = payload["figure"]["data"]
        box.stats = stats[:panels.MAX_STATS]
        box.more = max(0, len(stats) - panels.MAX_STATS)
        box.sparks = [panels.sparkline(traces[i] if i < len(traces) else {}, stat.color)
                      for i, stat in enumerate(box.stats)]
    else:
        box.columns, box.rows, box.total = state.memo.get(("table", *key), lambda: state.offload(
            _table, snap, view, state.limits))
    return box


def overrides_of(args: Iterable[tuple[str, str]]) -> tuple[Overrides, OverrideError | None]:
    """The URL's overrides; on a bad one, none (the document's own settings) and the error."""
    try:
        return parse_overrides(args), None
    except OverrideError as exc:
        return Overrides(), exc


def tidy(overrides: Overrides, dashboard: Dashboard) -> Overrides:
    """The overrides without what the document says already: the form sends every field
    (the saved window, each label's saved values), the shared URL keeps only changes."""
    window = overrides.window
    if window is not None and window == dashboard.window:
        window = None
    tz = None if overrides.tz == dashboard.tz else overrides.tz
    filters = tuple((label, values) for label, values in overrides.filters
                    if tuple(sorted(dashboard.filter_values(label))) != values)
    return replace(overrides, window=window, tz=tz, filters=filters)


def dashboard_url(name: str, overrides: Overrides) -> str:
    """The page URL of a dashboard with these overrides (canonical order)."""
    base = url_for("dashboards.show", name=name)
    return f"{base}?{overrides.query}" if overrides.query else base


def form_choices(state: AppState, dashboard: Dashboard, overrides: Overrides
                 ) -> dict[str, Any]:
    """What the overrides form offers and shows: windows, each label's values, the
    effective window/tz, and each label's effective selection."""
    labels: dict[str, set[str]] = {}
    for dataset in dict.fromkeys(panel.dataset for panel in dashboard.panels):
        found = state.store.find(dataset)
        if found is None:
            continue
        for label, values in found.snapshot().label_values.items():
            labels.setdefault(label, set()).update(values)
    url_filters = dict(overrides.filters)
    selected = {label: url_filters[label] if label in url_filters
                else dashboard.filter_values(label) for label in labels}
    return {
        "windows": tuple(WINDOWS),
        # "" is "as saved": the document's range, or each panel's own window.
        "window": overrides.window or dashboard.window or "",
        "tz": overrides.tz or dashboard.tz or "",
        "labels": {label: sorted(values)[:LABEL_CHOICES] for label, values in
                   sorted(labels.items())},
        "selected": selected,
    }


@bp.get("/dashboards")
def index() -> BaseResponse:
    """Every dashboard: title, number of panels, link; a broken file with its error."""
    entries = app_state().dashboards.list()
    return vary(make_response(render_template("dashboards.html", entries=entries)))


@bp.get("/dashboards/<name>")
def show(name: str) -> BaseResponse:
    """A dashboard with every panel drawn (fragments for HTMX); a bad override is a 400
    page showing the document's own settings with the message."""
    state = app_state()
    dashboard, version = state.dashboards.get(name)
    overrides, error = overrides_of(request.args.items(multi=True))
    overrides = tidy(overrides, dashboard)
    if not error and not is_htmx() and request.query_string and \
            request.script_root + request.full_path.rstrip("?") != dashboard_url(name, overrides):
        return vary(redirect(dashboard_url(name, overrides), 302))  # one URL per meaning
    try:
        views = state.panel_views(dashboard, overrides)
    except (OverrideError, ValueError) as exc:  # ViewError of a range the data cannot show
        param = getattr(exc, "param", "query")
        error = exc if isinstance(exc, OverrideError) else OverrideError(param, str(exc))
        overrides, views = Overrides(), state.panel_views(dashboard, Overrides())
    context = {
        "name": name, "dashboard": dashboard, "version": version, "overrides": overrides,
        "error": error, "oob": is_htmx(),
        "boxes": [draw(state, panel, view) for panel, view in views],
        **form_choices(state, dashboard, overrides),
    }
    status = 400 if error else 200
    if is_htmx():
        response = make_response(render_blocks("dashboard.html", FRAGMENTS, **context), status)
        response.headers["HX-Push-Url"] = dashboard_url(name, overrides) if not error else "false"
        return vary(response)
    return vary(make_response(render_template("dashboard.html", **context), status))


@bp.get("/dashboards/<name>/panels/<panel_id>")
def panel_fragment(name: str, panel_id: str) -> BaseResponse:
    """One panel drawn now, as a fragment: how live stat and table panels refresh."""
    state = app_state()
    dashboard, version = state.dashboards.get(name)
    overrides = parse_overrides(request.args.items(multi=True))
    for panel, view in state.panel_views(dashboard, overrides):
        if panel.id == panel_id:
            body = render_block("dashboard.html", "panel", box=draw(state, panel, view),
                                name=name, version=version, overrides=overrides)
            return vary(make_response(body))
    missing = make_response(f"dashboard {name!r} has no panel {panel_id!r}", 404)
    missing.mimetype = "text/plain"  # the id comes from the URL: never HTML
    return vary(missing)


def dashboard_entries() -> list[Any]:
    """The dashboards a view page offers to add a panel to (those that load)."""
    return [entry for entry in app_state().dashboards.list() if entry.error is None]


def register(app: Flask) -> None:
    """The dashboard pages, editing, JSON API and sign-in on ``app``."""
    from . import auth, dashapi, dashedit
    auth.register(app)
    app.register_blueprint(bp)
    app.register_blueprint(dashedit.bp)
    app.register_blueprint(dashapi.bp)
    app.add_template_global(dashboard_entries)
