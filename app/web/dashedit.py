"""Editing dashboards in the browser: plain forms, POST-redirect-GET, htmx on top.

Every save builds the whole document and goes through the store's ``put``: the same
validation and version check as ``PUT /api/dashboards/<name>``. A form carries the
version its page showed; a stale one changes nothing and says so in the page.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import partial
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
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
    parse_document,
)
from ..data.dashboards.fields import COLUMNS, MAX_THRESHOLDS, PANEL_TYPES, REDUCERS
from ..data.errors import Unavailable
from ..state import app_state, canonical_query
from .auth import require_admin, signed_in

bp = Blueprint("dashedit", __name__)
STALE = ("someone else saved this dashboard since you opened it — reload to see their "
         "change; nothing of yours was saved")
STALE_KEPT = ("someone else saved this dashboard since you opened it; nothing of yours was "
              "saved. Below is their version, with what you typed still in your panel's "
              "form: save again to put it over theirs.")
ACTIONS = ("save", "up", "down", "remove")
BLANK_THRESHOLDS = 2  # empty rows a panel form offers for new thresholds
# A panel form posted without a valid sign-in (signed out elsewhere, a restart with a new
# secret key, a cluster's lost login): what was typed waits in this browser's session (a
# signed cookie: only this browser has it, and only it can have written it) for the edit
# page after signing in. Nothing is saved until the user saves again, with the CSRF token.
PENDING_KEY = "pending_edit"
MAX_PENDING = 3000  # characters of JSON: browsers keep cookies of up to 4,096 bytes
KEPT_SIGNED_OUT = ("this browser was signed out, so nothing was saved; what you typed in "
                   "panel {panel!r} is in its form below: save it again to keep it")


def _edit_page(name: str, dashboard: Dashboard, version: int, status: int = 200,
               message: str | None = None, errors: list[dict[str, Any]] | None = None,
               drafts: dict[str, dict[str, Any]] | None = None,
               changes: list[str] | None = None) -> BaseResponse:
    """The edit page; ``drafts`` keeps what a user typed into a form that did not save,
    ``changes`` says what someone else changed meanwhile.

    An answer to a POST that is not a redirect (a refusal) is shown at the edit page's
    address: htmx would otherwise put the POST's URL (``/dashboards/<name>/panels/<id>``,
    a fragment's URL for GET) into the address bar, and a reload would show the fragment.
    """
    panels = document_dict(dashboard)["panels"]
    forms = [{**panel, **(drafts or {}).get(panel["id"], {})} for panel in panels]
    for form, panel in zip(forms, panels, strict=True):
        form["shown"] = json.dumps(panel, sort_keys=True, ensure_ascii=False)
        rows = form.get("thresholds", [])
        form["rows"] = rows + [{"value": "", "color": ""}] * max(
            0, min(BLANK_THRESHOLDS, MAX_THRESHOLDS - len(rows)))
    response = make_response(render_template(
        "dashboard_edit.html", name=name, dashboard=dashboard, version=version, forms=forms,
        message=message, errors=errors or [], changes=changes or [],
        saved=request.args.get("saved"), types=PANEL_TYPES, reducers=REDUCERS,
        columns=COLUMNS), status)
    if request.method == "POST":
        response.headers["HX-Replace-Url"] = url_for("dashedit.edit", name=name)
    return response


@bp.get("/dashboards/<name>/edit")
def edit(name: str) -> BaseResponse:
    """Every panel of the dashboard as a form (signed-in browsers), with what the user typed
    into a panel's form when the sign-in was lost (kept by ``keep_typed``)."""
    if not signed_in():
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), 303)
    dashboard, version = app_state().dashboards.get(name)
    pending = _pending(name, {panel.id for panel in dashboard.panels})
    if pending is None:
        return _edit_page(name, dashboard, version)
    panel_id, typed = pending
    return _edit_page(name, dashboard, version, message=KEPT_SIGNED_OUT.format(panel=panel_id),
                      drafts={panel_id: typed})


def keep_typed(name: str, panel_id: str) -> None:
    """Keep what a panel form without a valid sign-in carried (``PENDING_KEY`` in the
    session) when it is a save of a panel the dashboard has and fits ``MAX_PENDING``."""
    if request.form.get("action", "save") != "save":
        return  # up, down, remove: one click to do again, nothing typed
    try:
        dashboard, _ = app_state().dashboards.get(name)
    except (DashboardNotFound, Unavailable):
        return
    old = next((p for p in document_dict(dashboard)["panels"] if p["id"] == panel_id), None)
    if old is None:
        return
    text = json.dumps({"dashboard": name, "panel": panel_id,
                       "typed": panel_from_form(old, request.form)}, ensure_ascii=False)
    if len(text) <= MAX_PENDING:
        session[PENDING_KEY] = text
        g.kept_typed = True  # the sign-in page says it is kept


def _pending(name: str, panel_ids: set[str]) -> tuple[str, dict[str, Any]] | None:
    """The kept (panel id, typed panel) for dashboard ``name``, taken out of the session;
    None when there is none, or it is for another dashboard or a panel gone since."""
    text = session.get(PENDING_KEY)
    if not isinstance(text, str):
        return None
    try:
        kept = json.loads(text)
    except ValueError:
        kept = None
    if not isinstance(kept, dict) or kept.get("dashboard") != name:
        return None  # another dashboard's: it waits for that one's edit page
    session.pop(PENDING_KEY, None)
    panel_id, typed = kept.get("panel"), kept.get("typed")
    if not isinstance(panel_id, str) or panel_id not in panel_ids or not isinstance(typed, dict):
        return None
    return panel_id, typed


def _expected_version() -> int | None:
    text = request.form.get("version", "")
    return int(text) if text.isascii() and text.isdigit() else None


def _number(text: str) -> Any:
    """A form's number as a number; empty text as none (validation says it is required);
    other text stays text, for validation to name."""
    if not text:
        return None
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


def _shown(text: str) -> dict[str, Any] | None:
    """The panel as the user's page showed it (the form's ``shown``), if it says."""
    try:
        shown = json.loads(text)
    except ValueError:
        return None
    return shown if isinstance(shown, dict) else None


def what_changed(shown: dict[str, Any] | None, current: dict[str, Any] | None) -> list[str]:
    """Each field of a panel someone else changed, as ``title: 'Mem' → 'Memory'``; that it
    was removed; nothing when the page did not say what it showed."""
    if current is None:
        return ["this panel was removed"]
    if shown is None:
        return []
    return [f"{key}: {_said(shown.get(key))} → {_said(current.get(key))}"
            for key in ("title", "type", "width", "dataset", "query", "reduce", "thresholds")
            if shown.get(key) != current.get(key)]


def _said(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, list):
        return ", ".join(f"{t.get('value')} {t.get('color')}" for t in value
                         if isinstance(t, dict)) or "(none)"
    return repr(value) if isinstance(value, str) else str(value)


def _stale(name: str, panel_id: str, typed: dict[str, Any] | None) -> BaseResponse:
    """409: someone else saved first. The page shows the current version with what they
    changed in this panel, and the user's typed values still in its form (saving again
    puts them over the current version)."""
    current, now = app_state().dashboards.get(name)
    panels = {panel["id"]: panel for panel in document_dict(current)["panels"]}
    changes = what_changed(_shown(request.form.get("shown", "")), panels.get(panel_id))
    drafts = {panel_id: typed} if typed is not None and panel_id in panels else None
    return _edit_page(name, current, now, 409, STALE_KEPT if drafts else STALE, drafts=drafts,
                      changes=changes)


@bp.post("/dashboards/<name>/panels/<panel_id>")
def change_panel(name: str, panel_id: str) -> BaseResponse:
    """Save, move up or down, or remove one panel; then back to the edit page. Without a
    valid sign-in, what was typed is kept for the edit page after signing in."""
    if "Authorization" not in request.headers and not signed_in():
        keep_typed(name, panel_id)  # before require_admin's 401 page, which says so
    require_admin()
    state = app_state()
    dashboard, version = state.dashboards.get(name)
    action = request.form.get("action", "save")
    doc = document_dict(dashboard)
    panels: list[dict[str, Any]] = doc["panels"]
    index = next((i for i, panel in enumerate(panels) if panel["id"] == panel_id), None)
    typed = panel_from_form(panels[index], request.form) if (
        index is not None and action == "save") else None
    if _expected_version() != version:
        return _stale(name, panel_id, typed)
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
        panels[index] = typed or panels[index]
    try:
        saved = state.dashboards.put(name, doc, version)
    except DocumentError as exc:
        return _edit_page(name, dashboard, version, 400, "not saved: " + exc.message,
                          exc.errors, {panel_id: panels[index]})
    except VersionConflict:
        return _stale(name, panel_id, typed)
    state.live.dashboard_rooms.announce(name, saved)
    anchor = f"#edit-{panel_id}" if action != "remove" else ""
    return redirect(url_for("dashedit.edit", name=name, saved=panel_id) + anchor, 303)


@bp.route("/dashboards/<name>/delete", methods=["GET", "POST"])
def delete(name: str) -> BaseResponse:
    """Delete the whole dashboard, in two steps that need no JavaScript: the edit page's
    link (or a POST without ``confirm``) shows what would go and asks; the POST with
    ``confirm=yes`` deletes the version that page showed, then the list."""
    if request.method == "GET" and not signed_in():
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), 303)
    state = app_state()
    dashboard, version = state.dashboards.get(name)
    if request.method == "GET" or request.form.get("confirm") != "yes":
        if request.method == "POST":
            require_admin()
        return make_response(render_template("dashboard_delete.html", name=name,
                                              dashboard=dashboard, version=version))
    require_admin()
    try:
        if _expected_version() != version:
            raise VersionConflict(version)
        state.dashboards.delete(name, version)
    except VersionConflict:
        current, now = state.dashboards.get(name)
        return _edit_page(name, current, now, 409, STALE)
    state.live.dashboard_rooms.announce(name, None)
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


ADD_FIELDS = ("dataset", "query", "dashboard", "new_name", "type", "title", "back")
# Why a POST of "add to dashboard" did not save, when the GET it redirects to cannot tell
# by checking again (the race was lost): a fixed word, never text from the URL.
ADD_REFUSALS = {"stale": STALE}


@dataclass
class Refused(Exception):
    """"Add to dashboard" refused: the page's title, status, and what to change."""

    title: str
    status: int
    message: str | None = None
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class AddPlan:
    """What "add to dashboard" saves: the document with the new panel, and its version."""

    name: str
    doc: dict[str, Any]
    version: int | None
    panel_id: str


def plan_add(values: dict[str, str]) -> AddPlan:
    """The save that ``values`` (the add form's fields) ask for, checked as the store will
    check it; ``Refused`` saying what to change."""
    state = app_state()
    target, new_name = values["dashboard"], values["new_name"].strip()
    title = values["title"].strip()
    version: int | None = None
    if target:
        try:
            dashboard, version = state.dashboards.get(target)
        except DashboardNotFound:
            raise Refused(f"No dashboard called “{target}”", 404,
                          "it was deleted meanwhile; pick another or name a new one") from None
        name, doc = target, document_dict(dashboard)
    else:
        if not NAME.fullmatch(new_name):
            raise Refused("The panel was not added", 400,
                          "name the new dashboard with 1 to 64 of A-Z a-z 0-9 _ - "
                          "(or pick an existing one)")
        if any(entry.name == new_name for entry in state.dashboards.list()):
            raise Refused("The panel was not added", 409,
                          f"a dashboard called {new_name!r} exists already; pick it from "
                          "the list to add the panel to it")
        name, doc = new_name, {"title": new_name, "panels": []}
    if len(doc["panels"]) >= MAX_PANELS:
        raise Refused("The panel was not added", 400,
                      f"“{name}” has {MAX_PANELS} panels, the most a dashboard holds")
    panel_id = unique_id(title or values["dataset"], {p["id"] for p in doc["panels"]})
    doc["panels"].append({"id": panel_id, "title": title, "type": values["type"],
                          "dataset": values["dataset"], "query": values["query"]})
    try:
        parse_document(doc, partial(canonical_query, state.store))
    except DocumentError as exc:
        raise Refused("The panel was not added", 400, exc.message, exc.errors) from None
    return AddPlan(name, doc, version, panel_id)


def _add_values(source: MultiDict[str, str]) -> dict[str, str]:
    values = {key: source.get(key, "") for key in ADD_FIELDS}
    values["type"] = values["type"] or "timeseries"
    back = values["back"]
    values["back"] = back if back.startswith("/") and not back.startswith("//") else ""
    return values


@bp.post("/dashboards/add")
def add() -> BaseResponse:
    """"Add to dashboard" of a view page: a panel showing that view on an existing or a
    new dashboard; then that dashboard, with the new panel live. A refusal redirects to
    the form's own page (POST-redirect-GET: a reload asks nothing again)."""
    require_admin()
    state = app_state()
    values = _add_values(request.form)
    refused = ""
    try:
        plan = plan_add(values)
        saved = state.dashboards.put(plan.name, plan.doc, plan.version)
    except Refused:
        saved = None
    except (DocumentError, VersionConflict):
        saved, refused = None, "stale"  # lost a race the plan had checked
    if saved is None:
        query = urlencode({**values, **({"refused": refused} if refused else {})})
        return redirect(url_for("dashedit.add_page") + "?" + query, 303)
    state.live.dashboard_rooms.announce(plan.name, saved)
    return redirect(url_for("dashboards.show", name=plan.name) + f"#panel-{plan.panel_id}", 303)


@bp.get("/dashboards/add")
def add_page() -> BaseResponse:
    """The "add to dashboard" form on a page of its own, filled in as it was sent, with
    what keeps it from saving (checked again now, nothing saved)."""
    values = _add_values(request.args)
    if not signed_in():
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")), 303)
    try:
        plan_add(values)
        title, status = "Add a panel", 200
        message = ADD_REFUSALS.get(request.args.get("refused", ""))
        errors: list[dict[str, Any]] = []
    except Refused as exc:
        title, status, message, errors = exc.title, exc.status, exc.message, exc.errors
    return make_response(render_template(
        "dashboard_add.html", title=title, message=message, errors=errors, values=values,
        entries=[e for e in app_state().dashboards.list() if e.error is None]), status)
