"""The dashboards' JSON API: list, read, create/replace, delete, and the dashboard long-poll."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import UnsupportedMediaType

from ..data.dashboards import (
    BrokenDashboard,
    Overrides,
    decode_json,
    document_dict,
    parse_overrides,
    split_envelope,
)
from ..data.dashboards.store import MAX_FILE_BYTES
from ..data.errors import ParamError, UnknownDataset
from ..live.rooms import dashboard_room
from ..state import AppState, PanelView, app_state, panel_problem
from .auth import require_admin
from .bodies import whole_body
from .params import expected_version, poll_timeout
from .responses import json_response

bp = Blueprint("dashapi", __name__)
POLL_PARAMS = ("cursor", "timeout", "figures")
# Datasets' versions and epochs a cursor carries, at most: every panel of the largest
# dashboard on a dataset of its own.
MAX_CURSOR_BYTES = 4096
NOT_LOADED = (0, "")  # a dataset that is not loaded, in a cursor (no epoch is empty)


@bp.get("/api/dashboards")
def listing() -> Response:
    """``[{"name","title","panels","version"}]``; a file that does not load has ``error``."""
    out = []
    for entry in app_state().dashboards.list():
        item: dict[str, Any] = {"name": entry.name, "title": entry.title,
                                "panels": entry.panels, "version": entry.version}
        if entry.error is not None:
            item["error"] = entry.error
        out.append(item)
    return json_response(out)


@bp.get("/api/dashboards/<name>")
def read(name: str) -> Response:
    """The document plus ``name`` and ``version``."""
    dashboard, version = app_state().dashboards.get(name)
    return json_response({"name": name, "version": version, **document_dict(dashboard)})


def _body() -> Any:
    """The request's JSON document: 415 for another type, 413 past the file limit,
    ``DocumentError`` (400) for text that is not JSON."""
    if request.mimetype != "application/json":
        raise UnsupportedMediaType(f"Content-Type {request.mimetype or '(none)'!r} is not "
                                   "application/json")
    return decode_json(whole_body(MAX_FILE_BYTES, "a dashboard's largest file"))


@bp.put("/api/dashboards/<name>")
def write(name: str) -> Response:
    """Create (201, no ``version``) or replace (200, ``version`` as stored, else 409)."""
    require_admin()
    doc, expected = split_envelope(_body(), name)
    state = app_state()
    version = state.dashboards.put(name, doc, expected)
    state.live.dashboard_rooms.announce(name, version)
    return json_response({"name": name, "version": version}, 201 if expected is None else 200)


@bp.delete("/api/dashboards/<name>")
def delete(name: str) -> Response:
    """Remove it (204); ``?version=N`` makes it conditional (409 if it changed)."""
    require_admin()
    expected = expected_version(request.args)
    state = app_state()
    state.dashboards.delete(name, expected)
    state.live.dashboard_rooms.announce(name, None)
    return Response(status=204)


def encode_cursor(version: int, datasets: dict[str, tuple[int, str]]) -> str:
    """The cursor of a poll answer: the dashboard's version and each dataset's
    (version, epoch), as URL-safe text (opaque to clients)."""
    raw = json.dumps({"v": version, "d": datasets}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[int, dict[str, tuple[int, str]]]:
    """``encode_cursor``'s inverse; ``ParamError`` naming ``cursor`` for anything else."""
    error = ParamError("cursor", "not a cursor this endpoint gave; leave it out to get every "
                                "panel")
    if len(text) > MAX_CURSOR_BYTES:
        raise error
    try:
        obj = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        version = obj["v"]
        datasets = {str(name): (int(v), str(e)) for name, (v, e) in obj["d"].items()}
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise error from None
    if isinstance(version, bool) or not isinstance(version, int):
        raise error
    return version, datasets


def _now(state: AppState, datasets: list[str]) -> dict[str, tuple[int, str]]:
    """Each dataset's current (version, epoch); ``NOT_LOADED`` for one that is not loaded."""
    out = {}
    for dataset in datasets:
        found = state.store.find(dataset)
        out[dataset] = (found.version, found.epoch) if found is not None else NOT_LOADED
    return out


def _entry(state: AppState, item: PanelView, all_figures: bool = True) -> dict[str, Any]:
    """One panel of a poll answer: ``update_chart``'s payload with ``id`` (SPEC's shape);
    ``error`` for a panel without a view. With ``all_figures`` off (``figures=timeseries``,
    what the page asks for) a stat or table comes without ``figure``: the page redraws those
    from their fragments, and the figures it would not read were 252 of the 412 KB of the
    demo dashboard's first answer."""
    panel = item.panel
    if item.view is not None:
        try:
            payload = state.live.figures.payload(panel.dataset, item.view)  # once a version
        except UnknownDataset as exc:  # gone since its view was made
            return {"id": panel.id, "dataset": panel.dataset,
                    "error": panel_problem(panel.dataset, exc)}
        if panel.type == "timeseries" or all_figures:
            return {"id": panel.id, **payload}
        return {"id": panel.id, **{key: value for key, value in payload.items()
                                   if key != "figure"}}
    return {"id": panel.id, "dataset": panel.dataset, "error": item.problem}


@bp.get("/api/dashboards/<name>/poll")
def poll(name: str) -> Response:
    """Long-poll for a whole dashboard: the panels whose view changed since ``cursor`` (all
    of them without one, or when the document changed), else 204 after ``timeout`` s.

    One request carries every panel: browsers open ~6 connections per host over HTTP/1.1,
    so one poll per panel would starve the page. A panel whose dataset is not loaded is
    ``{"id","dataset","error"}``, and comes back with its view when the dataset does. A
    dashboard whose file does not load is a 422 with ``error``, ``version`` and a
    ``cursor`` that waits for the file's next change.
    """
    timeout = poll_timeout(request.args)
    given = request.args.get("cursor")
    since = decode_cursor(given) if given else None
    overrides = parse_overrides(request.args.items(multi=True), ignore=POLL_PARAMS)
    try:
        return _poll(app_state(), name, since, overrides, timeout)
    except BrokenDashboard as exc:
        return json_response({"error": str(exc), "version": exc.version,
                              "cursor": encode_cursor(exc.version, {})}, 422)


def _poll(state: AppState, name: str, since: tuple[int, dict[str, tuple[int, str]]] | None,
          overrides: Overrides, timeout: float) -> Response:
    rooms = state.live.dashboard_rooms
    announced = rooms.generation(name)
    try:
        dashboard, version = state.dashboards.get(name)
    except BrokenDashboard as exc:
        if since is None or since[0] != exc.version:
            raise
        # The page knows it is broken: wait for the file's next change, then answer whole.
        if not state.live.waiters.wait_until(
                [dashboard_room(name)], lambda: rooms.generation(name) != announced, timeout):
            return Response(status=204)
        since = None
        dashboard, version = state.dashboards.get(name)
    datasets = list(dict.fromkeys(panel.dataset for panel in dashboard.panels))

    def moved() -> bool:  # cheap: it runs at every change of any of the datasets
        if since is None or since[0] != version or rooms.generation(name) != announced:
            return True
        return _now(state, datasets) != {dataset: since[1].get(dataset) for dataset in datasets}

    if not state.live.waiters.wait_until([*datasets, dashboard_room(name)], moved, timeout):
        return Response(status=204)
    dashboard, version = state.dashboards.get(name)
    views = state.panel_views(dashboard, overrides)
    now = _now(state, list(dict.fromkeys(item.panel.dataset for item in views)))
    fresh = since is None or since[0] != version
    all_figures = request.args.get("figures", "all") != "timeseries"
    panels = [_entry(state, item, all_figures) for item in views
              if fresh or since is None or since[1].get(item.panel.dataset) != now[
                  item.panel.dataset]]
    return json_response({"cursor": encode_cursor(version, now), "version": version,
                          "panels": panels})
