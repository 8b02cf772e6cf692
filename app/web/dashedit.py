"""Editing dashboards in the browser: plain forms, POST-redirect-GET, htmx on top.

Every save builds the whole document and goes through the store's ``put``: the same
validation and version check as ``PUT /api/dashboards/<name>``. A form carries the
version its page showed; a stale one changes nothing and says so in the page.
"""
from __future__ import annotations

import re
from typing import Any

from flask import (
    Blueprint,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as BaseResponse

from ..data.dashboards import (
    MAX_PANELS,
    NAME,
    Dashboard,
    DashboardNotFound,
    DocumentError,
    VersionConflict,
    document_dict,
)
from ..data.dashboards.fields import COLUMNS, MAX_THRESHOLDS, PANEL_TYPES, REDUCERS
from ..state import app_state
from .auth import require_admin, signed_in

bp = Blueprint("dashedit", __name__)
STALE = ("someone else saved this dashboard since you opened it — reload to see their "
         "change; nothing of yours was saved")
ACTIONS = ("save", "up", "down", "remove")
BLANK_THRESHOLDS = 2  # empty rows a panel form offers for new thresholds


def _edit_page(name: str, dashboard: Dashboard, version: int, status: int = 200,
               message: str | None = None, errors: list[dict[str, Any]] | None = None,
               drafts: dict[str, dict[str, Any]] | None = None) -> BaseResponse:
    """The edit page; ``drafts`` keeps what a user typed into a form that did not save."""
    panels = document_dict(dashboard)["panels"]
    forms = [{**panel, **(drafts or {}).get(panel["id"], {})} for panel in panels]
    for form in forms:
        rows = form.get("thresholds", [])
        form["rows"] = rows + [{"value": "", "color": ""}] * max(
            0, min(BLANK_THRESHOLDS, MAX_THRESHOLDS - len(rows)))
    return make_response(render_template(
        "dashboard_edit.html", name=name, dashboard=dashboard, version=version, forms=forms,
        message=message, errors=errors or [], saved=request.args.get("saved"),
        types=PANEL_TYPES, reducers=REDUCERS, columns=COLUMNS), status)


@bp.get("/dashboards/<name>/edit")
def edit(name: str) -> BaseResponse:
    """Every panel of the dashboard as a form (signed-in browsers)."""
    if not signed_in():
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), 303)
    dashboard, version = app_state().dashboards.get(name)
    return _edit_page(name, dashboard, version)


def _expected_version() -> int | None:
    text = request.form.get("version", "")
    return int(text) if text.isascii() and text.isdigit() else None


def _number(text: str) -> Any:
    """A form's number as a number; text that is none stays text, for validation to name."""
    try:
        return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        return text


def panel_from_form(old: dict[str, Any], form: MultiDict[str, str]) -> dict[str, Any]:
    """A panel's document dict with the form's title, type, width, reduce and thresholds."""
    panel = dict(old)
    panel["title"] = form.get("title", "").strip()
    panel["type"] = form.get("type", old["type"])
    panel["width"] = _number(form.get("width", "").strip())
    panel.pop("reduce", None)
    if panel["type"] == "stat":
        panel["reduce"] = form.get("reduce", "last")
    thresholds = []
    for value, color in zip(form.getlist("threshold_value"), form.getlist("threshold_color"),
                            strict=False):
        if value.strip() or color.strip():  # an empty row is no threshold
            thresholds.append({"value": _number(value.strip()), "color": color.strip()})
    panel["thresholds"] = thresholds
    return panel


@bp.post("/dashboards/<name>/panels/<panel_id>")
def change_panel(name: str, panel_id: str) -> BaseResponse:
    """Save, move up or down, or remove one panel; then back to the edit page."""
    require_admin()
    state = app_state()
    dashboard, version = state.dashboards.get(name)
    action = request.form.get("action", "save")
    if _expected_version() != version:
        return _edit_page(name, dashboard, version, 409, STALE)
    doc = document_dict(dashboard)
    panels: list[dict[str, Any]] = doc["panels"]
    index = next((i for i, panel in enumerate(panels) if panel["id"] == panel_id), None)
    if index is None or action not in ACTIONS:
        return _edit_page(name, dashboard, version, 404 if index is None else 400,
                          f"there is no panel {panel_id!r} any more" if index is None else
                          f"unknown action {action!r}")
    if action == "remove":
        del panels[index]
    elif action in ("up", "down"):
        other = index - 1 if action == "up" else index + 1
        if 0 <= other < len(panels):
            panels[index], panels[other] = panels[other], panels[index]
    else:
        panels[index] = panel_from_form(panels[index], request.form)
    try:
        saved = state.dashboards.put(name, doc, version)
    except DocumentError as exc:
        return _edit_page(name, dashboard, version, 400, "not saved: " + exc.message,
                          exc.errors, {panel_id: panels[index]})
    except VersionConflict:
        current, now = state.dashboards.get(name)
        return _edit_page(name, current, now, 409, STALE)
    state.live.boards.announce(name, saved)
    anchor = f"#edit-{panel_id}" if action != "remove" else ""
    return redirect(url_for("dashedit.edit", name=name, saved=panel_id) + anchor, 303)


@bp.post("/dashboards/<name>/delete")
def delete(name: str) -> BaseResponse:
    """Delete the whole dashboard (the version the page showed), then the list."""
    require_admin()
    state = app_state()
    _dashboard, version = state.dashboards.get(name)
    try:
        if _expected_version() != version:
            raise VersionConflict(version)
        state.dashboards.delete(name, version)
    except VersionConflict:
        current, now = state.dashboards.get(name)
        return _edit_page(name, current, now, 409, STALE)
    state.live.boards.announce(name, None)
    return redirect(url_for("dashboards.index"), 303)


def _slug(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", text.strip().lower()).strip("-")[:48]
    return slug or "panel"


def unique_id(title: str, taken: set[str]) -> str:
    """A panel id from its title (``CPU p95`` -> ``cpu-p95``), unique in the dashboard."""
    base = _slug(title)
    candidate, number = base, 2
    while candidate in taken:
        candidate, number = f"{base}-{number}", number + 1
    return candidate


def _problem(title: str, status: int, message: str | None = None,
             errors: list[dict[str, Any]] | None = None) -> BaseResponse:
    back = request.form.get("back", "")
    return make_response(render_template(
        "dashboard_problem.html", title=title, message=message, errors=errors or [],
        back=back if back.startswith("/") and not back.startswith("//") else None), status)


@bp.post("/dashboards/add")
def add() -> BaseResponse:
    """"Add to dashboard" of a view page: a panel showing that view on an existing or a
    new dashboard; then that dashboard, with the new panel live."""
    require_admin()
    state = app_state()
    form = request.form
    target, new_name = form.get("dashboard", ""), form.get("new_name", "").strip()
    kind = form.get("type", "timeseries")
    title = form.get("title", "").strip()
    version: int | None = None
    if target:
        try:
            dashboard, version = state.dashboards.get(target)
        except DashboardNotFound:
            return _problem(f"No dashboard called “{target}”", 404,
                            "it was deleted meanwhile; pick another or name a new one")
        name, doc = target, document_dict(dashboard)
    else:
        if not NAME.fullmatch(new_name):
            return _problem("The panel was not added", 400,
                            "name the new dashboard with 1 to 64 of A-Z a-z 0-9 _ - "
                            "(or pick an existing one)")
        if any(entry.name == new_name for entry in state.dashboards.list()):
            return _problem("The panel was not added", 409,
                            f"a dashboard called {new_name!r} exists already; pick it from "
                            "the list to add the panel to it")
        name, doc = new_name, {"title": new_name, "panels": []}
    if len(doc["panels"]) >= MAX_PANELS:
        return _problem("The panel was not added", 400,
                        f"“{name}” has {MAX_PANELS} panels, the most a dashboard holds")
    panel_id = unique_id(title or form.get("dataset", ""), {p["id"] for p in doc["panels"]})
    panel = {"id": panel_id, "title": title, "type": kind, "dataset": form.get("dataset", ""),
             "query": form.get("query", "")}
    doc["panels"].append(panel)
    try:
        saved = state.dashboards.put(name, doc, version)
    except DocumentError as exc:
        return _problem("The panel was not added", 400, exc.message, exc.errors)
    except VersionConflict:
        return _problem("The panel was not added", 409, STALE)
    state.live.boards.announce(name, saved)
    return redirect(url_for("dashboards.show", name=name) + f"#panel-{panel_id}", 303)
