"""Dashboard pages: the list, a dashboard (or its fragments for HTMX), one panel's fragment.

Every panel is drawn by the server (an SVG chart with its threshold lines, a stat's
numbers in their threshold colour, a table's newest rows), so a page without JavaScript
is whole and a wall screen never shows an empty box; ``static/dashboard.js`` then makes
the panels live.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote

from flask import Blueprint, make_response, redirect, render_template, request, url_for
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
from ..data.dashboards.overrides import url_instant
from ..data.errors import ParamError, Unavailable, UnknownDataset
from ..data.store import Snapshot
from ..engine import browse, panels, svg
from ..engine.drawing import ChartLimits, analyse
from ..engine.view import WINDOWS, View
from ..instants import UTC, format_local, names_its_zone
from ..state import AppState, PanelView, app_state, panel_problem
from .responses import is_htmx

bp = Blueprint("dashboards", __name__)
# The blocks of dashboard.html an HTMX request gets back; each swaps itself in by id.
FRAGMENTS = ["heading", "freshness", "overrides", "panels"]
TABLE_ROWS = 10  # newest rows a table panel shows; the view page has them all
LABEL_CHOICES = 50  # values of one label offered in the overrides form
MAX_SHOWN = 64  # datasets read from one X-Dash-Shown (a dashboard has at most 24 panels)


def vary(response: BaseResponse) -> BaseResponse:
    """Pages and their fragments share URLs: caches must keep them apart."""
    response.vary.add("HX-Request")
    return response


# The server's chart of a time series panel: the wide one for screens where the panel is
# wide, a narrow one whose 11-unit labels stay ~10 px on a 390 px phone (the wide one,
# shrunk from 960 to ~330 px, wrote them 4 px high). Panels of at most NARROW_COLUMNS of
# 12 are narrow on every screen, so they get only the narrow chart.
NARROW_SVG = (360, 270)
NARROW_COLUMNS = 4


@dataclass
class Box:
    """One panel as the page draws it: its effective view and what the server drew, or
    why it has no view (``problem``: its dataset is not loaded, or its query no longer
    fits it)."""

    panel: Panel
    view: View | None
    version: int = 0
    epoch: str = ""
    problem: str | None = None
    svg: Markup | None = None  # timeseries, for wide panels on wide screens
    narrow_svg: Markup | None = None  # timeseries, for phones and narrow panels
    off_chart: list[tuple[float, str]] = field(default_factory=list)  # thresholds not drawn
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


def _stat(snap: Snapshot, view: View, limits: ChartLimits, reduce: str,
          levels: tuple[tuple[float, str], ...]) -> list[panels.StatValue]:
    sel, _ = analyse(snap, view, limits)
    return panels.stat_values(snap, sel, reduce, levels)


def _table(snap: Snapshot, view: View, limits: ChartLimits
           ) -> tuple[tuple[str, ...], list[tuple[Any, ...]], int]:
    sel, result = analyse(snap, view, limits)
    table = browse.rows(snap, view, sel, result)
    return table.columns, table.page(1, TABLE_ROWS), table.total


def draw(state: AppState, item: PanelView) -> Box:
    """What the server draws of a panel showing its view now (its problem if it has none).

    The figure is the view's shared one (``Figures``: once per version for every page,
    dashboard and socket); stat numbers and table rows are kept per view and version in
    the memo, so a hundred wall screens showing one dashboard compute them once.
    """
    panel, view = item.panel, item.view
    if view is None:
        return Box(panel, None, problem=item.problem)
    try:
        payload = state.live.figures.payload(panel.dataset, view)
        snap = state.store.get(panel.dataset).snapshot()
    except UnknownDataset as exc:  # gone since its view was made
        return Box(panel, None, problem=panel_problem(panel.dataset, exc))
    version, epoch = payload["version"], payload["epoch"]
    box = Box(panel, view, version, epoch)
    key = (panel.dataset, view.chart.query, version, epoch)
    title = panel.title or panel.id
    if panel.type == "timeseries":
        figure = payload["figure"]
        levels, box.off_chart = panels.split_thresholds(figure, _levels(panel))
        drawn = tuple(levels)
        if panel.width > NARROW_COLUMNS:
            box.svg = state.memo.get(("svg", *key, title, drawn), lambda: svg.render(
                figure, title, drawn))
        box.narrow_svg = state.memo.get(("svg", *key, title, drawn, NARROW_SVG),
                                        lambda: svg.render(figure, title, drawn, *NARROW_SVG))
        return box
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


def freshness(state: AppState, datasets: Iterable[str]) -> dict[str, dict[str, Any]]:
    """What the server holds of each loaded dataset, for the page's status line
    (``static/livestatus.js``): ``version``, ``epoch``, ``newest`` point and ``changed_at``
    (when the data last changed), both ms by this server's clock (``newest`` None when empty).
    ``changed_at`` is read after the snapshot, so it is never earlier than its version."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(datasets):
        dataset = state.store.find(name)
        if dataset is None:
            continue
        snap = dataset.snapshot()
        out[name] = {"version": snap.version, "epoch": snap.epoch,
                     "newest": snap.end // 1_000_000 if snap.end is not None else None,
                     "changed_at": int(dataset.updated_at * 1000)}
    return out


def missed_at(state: AppState, shown: str) -> int | None:
    """When (ms, this server's clock) the oldest change a dashboard lacks came to be, from its
    ``X-Dash-Shown`` (``"<dataset> <version> <epoch>, ..."``, names URI-encoded): per
    dataset the first version after the one shown, and of those the oldest. None when the
    page shows every dataset's newest version (or names none we hold at that epoch).

    The oldest, because the status line says how late the page is as a whole: the most
    behind dataset decides, as the view page's one dataset does (``livestatus.js`` judges
    each dataset that has newer data from this time, which is then the page's lateness)."""
    oldest: float | None = None
    for item in shown.split(",")[:MAX_SHOWN]:
        parts = item.split()
        if len(parts) != 3 or not parts[1].isdigit():
            continue
        dataset = state.store.find(unquote(parts[0]))
        if dataset is None or dataset.snapshot().epoch != parts[2]:
            continue  # a new epoch: the page gets whole figures, never a count of lateness
        missed = dataset.first_change_after(int(parts[1]))
        if missed is not None and (oldest is None or missed < oldest):
            oldest = missed
    return None if oldest is None else int(oldest * 1000)


def overrides_of(pairs: list[tuple[str, str]], dashboard: Dashboard,
                 views_of: Callable[[Overrides], list[PanelView]]
                 ) -> tuple[Overrides, list[PanelView], OverrideError | None]:
    """The URL's overrides (``tidy``) and each panel's view under them (``views_of``). On bad
    parameters, as a view page does (``pages.lenient_view``): every other override kept, and
    an error naming each bad parameter in the URL's order (a URL setting no panel can show,
    such as a ``start`` after the document's ``end``, too); the document's own settings
    only if nothing fits."""
    problems: dict[str, str] = {}
    order = {key: n for n, (key, _) in reversed(list(enumerate(pairs)))}  # first place of each
    for _ in range(len(pairs) + 1):
        try:
            overrides = tidy(parse_overrides(pairs, zone=dashboard.tz), dashboard)
            views = views_of(overrides)
            break
        except ParamError as exc:  # an OverrideError, or a ViewError of a panel
            for param, message in exc.problems:
                problems.setdefault(param, message)
            kept = [(key, value) for key, value in pairs if key not in exc.params]
            if len(kept) == len(pairs):  # names nothing the URL says: keep none of it
                overrides, views = Overrides(), views_of(Overrides())
                break
            pairs = kept
    else:
        overrides, views = Overrides(), views_of(Overrides())
    listed = sorted(problems.items(), key=lambda item: order.get(item[0], len(order)))
    return overrides, views, OverrideError(*listed[0], listed) if listed else None


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


def form_choices(state: AppState, dashboard: Dashboard, overrides: Overrides,
                 typed: dict[str, str]) -> dict[str, Any]:
    """What the overrides form offers and shows: windows, each label's values, the
    effective window/tz/start/end (what was typed, for a bad one), and each label's
    effective selection."""
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
    zone = overrides.tz or dashboard.tz
    shown = {key: typed[key] if key in typed else shown_instant(getattr(overrides, key), zone)
             for key in ("start", "end")}
    return {
        "windows": tuple(WINDOWS),
        # "" is "as saved": the document's range, or each panel's own window.
        "window": typed.get("window", overrides.window or dashboard.window or ""),
        "tz": zone or "",  # the zone times are read in (the label of the from/to boxes)
        "tz_shown": typed.get("tz", zone or ""),
        **shown,
        "labels": {label: sorted(values)[:LABEL_CHOICES] for label, values in
                   sorted(labels.items())},
        "selected": selected,
    }


def shown_instant(text: str | None, zone: str | None) -> str:
    """A canonical URL ``start``/``end`` as the from/to box shows it: in ``zone`` as the view
    page writes it (``2024-05-02 01:30:00 CEST``), which reads back as the same instant; a
    wall-clock time (no zone) as one, and one with an offset as it is (``...Z``)."""
    if text is None:
        return ""
    if zone is None and names_its_zone(text):
        return text
    return format_local(url_instant(text, zone)[0], zone or UTC)


@bp.get("/dashboards")
def index() -> BaseResponse:
    """Every dashboard: title, number of panels, link; a broken file with its error."""
    entries = app_state().dashboards.list()
    return vary(make_response(render_template("dashboards.html", entries=entries)))


@bp.get("/dashboards/<name>")
def show(name: str) -> BaseResponse:
    """A dashboard with every panel drawn (fragments for HTMX); bad overrides are a 400 page
    naming each, with the panels under every other override (HTMX: only the form changes)."""
    state = app_state()
    dashboard, version = state.dashboards.get(name)
    if is_htmx() and request.headers.get("X-Dash-Freshness"):  # the status line asks
        response = make_response(render_block(
            "dashboard.html", "freshness", oob=False, server_now=int(time.time() * 1000),
            freshness=freshness(state, (panel.dataset for panel in dashboard.panels))))
        missed = missed_at(state, request.headers.get("X-Dash-Shown") or "")
        if missed is not None:
            response.headers["X-Dash-Missed-At"] = str(missed)
        response.headers["Cache-Control"] = "no-store"
        response.vary.add("X-Dash-Freshness")
        return vary(response)
    pairs = list(request.args.items(multi=True))
    overrides, views, error = overrides_of(
        pairs, dashboard, lambda chosen: state.panel_views(dashboard, chosen))
    if not error and not is_htmx() and request.query_string and \
            request.script_root + request.full_path.rstrip("?") != dashboard_url(name, overrides):
        return vary(redirect(dashboard_url(name, overrides), 302))  # one URL per meaning
    # What the user typed for each bad parameter, shown back in its box to correct.
    typed = {key: value for key, value in pairs if error and key in error.params}
    status = 400 if error else 200
    context = {
        "name": name, "dashboard": dashboard, "version": version, "overrides": overrides,
        "error": error, "typed": typed, "oob": is_htmx(),
        "server_now": int(time.time() * 1000),
        "freshness": freshness(state, (panel.dataset for panel in dashboard.panels)),
        **form_choices(state, dashboard, overrides, typed),
    }
    if is_htmx():
        # On a mistake only the form (with the messages) changes, as on the view page: the
        # panels and the address keep showing the last good overrides, and stay live.
        if error:
            response = make_response(render_blocks("dashboard.html", ["overrides"], **context),
                                     status)
            response.headers["HX-Push-Url"] = "false"
        else:
            context["boxes"] = [draw(state, item) for item in views]
            response = make_response(render_blocks("dashboard.html", FRAGMENTS, **context))
            response.headers["HX-Push-Url"] = dashboard_url(name, overrides)
        response.vary.add("X-Dash-Freshness")
        return vary(response)
    context["boxes"] = [draw(state, item) for item in views]
    return vary(make_response(render_template("dashboard.html", **context), status))


@bp.get("/dashboards/<name>/panels/<panel_id>")
def panel_fragment(name: str, panel_id: str) -> BaseResponse:
    """One panel drawn now, as a fragment: how live stat and table panels refresh. A
    browser that opens this URL itself (a reload of an address htmx once showed) is sent
    to the panel on its dashboard: a fragment is no page."""
    if not is_htmx():
        target = url_for("dashboards.show", name=name)
        query = request.query_string.decode()
        return vary(redirect(f"{target}?{query}#panel-{panel_id}" if query else
                             f"{target}#panel-{panel_id}", 303))
    state = app_state()
    dashboard, version = state.dashboards.get(name)
    overrides = parse_overrides(request.args.items(multi=True), zone=dashboard.tz)
    for item in state.panel_views(dashboard, overrides):
        if item.panel.id == panel_id:
            body = render_block("dashboard.html", "panel", box=draw(state, item),
                                name=name, version=version, overrides=overrides)
            return vary(make_response(body))
    missing = make_response(f"dashboard {name!r} has no panel {panel_id!r}", 404)
    missing.mimetype = "text/plain"  # the id comes from the URL: never HTML
    return vary(missing)


def dashboard_entries() -> list[Any] | None:
    """The dashboards a view page offers to add a panel to (those that load); None while
    they cannot be read (cluster mode with Redis away): the page says so and still shows."""
    try:
        return [entry for entry in app_state().dashboards.list() if entry.error is None]
    except Unavailable:
        return None

