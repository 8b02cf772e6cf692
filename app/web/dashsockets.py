"""Socket.IO handlers of dashboard pages: ``join_dashboard`` and ``leave_dashboard``.

A dashboard page is one socket in the dashboard's room (for ``dashboard_changed``) and in
one ordinary view room per distinct panel view: a panel's view is the same room, and the
same computation, as that view on any page or any other dashboard.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from flask_socketio import SocketIO

from ..data.dashboards import DashboardNotFound, parse_overrides
from ..data.dashboards.store import BrokenDashboard
from ..data.errors import ParamError, UnknownDataset
from ..live.rooms import TooManyViews
from ..state import app_state
from .messages import BadMessage, current_sid, fields, refused

log = logging.getLogger("dash.sockets")
# ParamError: a URL setting refused (OverrideError) or one the data cannot show (ViewError).
REFUSED = (BadMessage, DashboardNotFound, BrokenDashboard, ParamError, UnknownDataset,
           TooManyViews)


def on_join_dashboard(data: Any = None) -> dict[str, Any]:
    """Join the dashboard's room and each panel's view room, send each view's figure, and
    ack with the version and every panel's effective canonical view (a panel whose dataset
    is not loaded: its ``error``).

    Joining the same dashboard again (a new layout, other overrides) replaces the earlier
    join in one step: the views the page no longer shows are left as the new ones are
    joined, so the largest dashboard always fits the per-connection cap. A dashboard that
    was deleted or whose file no longer loads is refused, and the page leaves its views
    (nothing it shows can be kept up to date) but stays in the dashboard's room, to hear
    when it is fixed.
    """
    state, sid = app_state(), current_sid()
    live = state.live
    refusal = state.join_refusal(sid)
    if refusal is not None:
        return {"ok": False, "error": refusal}
    name: str | None = None
    try:
        name, query = fields(data, "name", "query")
        overrides = parse_overrides(parse_qsl(query, keep_blank_values=True))
        dashboard, version = state.dashboards.get(name)
        views = state.panel_views(dashboard, overrides)
        rooms = live.dashboard_rooms.join(  # TooManyViews: nothing changed
            sid, name, [(item.panel.dataset, item.view) for item in views
                        if item.view is not None], version,
            {item.panel.dataset: item.view is not None or
             state.store.find(item.panel.dataset) is not None for item in views})
    except REFUSED as exc:
        log.info("join_dashboard refused", extra={"event": "join_dashboard", "sid": sid,
                                                  "error": str(exc)})
        if name is not None and isinstance(exc, (DashboardNotFound, BrokenDashboard)):
            live.dashboard_rooms.leave(sid, name, keep_listening=True)
        if isinstance(exc, DashboardNotFound):
            return {"ok": False, "error": str(exc)}
        return refused(exc)
    for room in rooms:
        try:
            live.rooms.welcome(sid, room, live.figures)
        except UnknownDataset:
            continue  # removed meanwhile: its panel keeps what the server drew
    log.info("join_dashboard", extra={"event": "join_dashboard", "sid": sid, "dashboard": name,
                                      "panels": len(views), "views": len(rooms)})
    return {"ok": True, "name": name, "version": version, "query": overrides.query,
            "panels": [{"id": item.panel.id, "dataset": item.panel.dataset,
                        "query": item.view.chart.query} if item.view is not None else
                       {"id": item.panel.id, "dataset": item.panel.dataset,
                        "error": item.problem} for item in views]}


def on_leave_dashboard(data: Any = None) -> dict[str, Any]:
    """Leave the dashboard's room and the views only it held for this page."""
    try:
        name, _query = fields(data, "name", "query")  # one join per dashboard: the name says
    except BadMessage as exc:
        return refused(exc)
    app_state().live.dashboard_rooms.leave(current_sid(), name)
    return {"ok": True}


def register(socketio: SocketIO) -> None:
    """Attach the dashboard handlers to this app's SocketIO."""
    socketio.on_event("join_dashboard", on_join_dashboard)
    socketio.on_event("leave_dashboard", on_leave_dashboard)
