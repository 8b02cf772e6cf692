"""Socket.IO handlers: thin wrappers that delegate to the live fan-out."""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from flask import request
from flask_socketio import SocketIO, emit, join_room, leave_room

from .live import room_name
from .state import REFRESH_EVERY, dash
from .store import UnknownDataset
from .views import ViewError

log = logging.getLogger("dash.sockets")


class BadMessage(ValueError):
    """A client message of the wrong shape."""


def _fields(data: Any, *names: str) -> list[str]:
    """String fields of a dict payload, or ``BadMessage`` naming what is wrong."""
    if not isinstance(data, dict):
        raise BadMessage(f"expected an object with {', '.join(names)}")
    values = []
    for name in names:
        value = data.get(name, "" if name == "query" else None)
        if not isinstance(value, str):
            raise BadMessage(f"'{name}' must be a string")
        values.append(value)
    return values


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, UnknownDataset):
        return {"ok": False, "error": f"unknown dataset {exc.args[0]!r}"}
    return {"ok": False, "error": str(exc)}


def on_connect(auth: Any = None) -> None:
    """Log a new connection."""
    log.info("connect", extra={"event": "connect", "sid": request.sid,
                               "transport": request.args.get("transport")})


def on_disconnect(*_: Any) -> None:
    """Forget the socket's views."""
    dash().live.drop(request.sid)
    log.info("disconnect", extra={"event": "disconnect", "sid": request.sid})


def on_subscribe(data: Any) -> dict[str, Any]:
    """Join the view's room, send its figure, and ack with the canonical query."""
    live = dash().live
    try:
        name, query = _fields(data, "dataset", "query")
        _, _, view = dash().view(name, parse_qsl(query, keep_blank_values=True))
        # Join before building: a change pushed during the build reaches this client too.
        room = live.join(request.sid, name, view)
    except (BadMessage, UnknownDataset, ViewError, ValueError) as exc:
        log.info("subscribe refused", extra={"event": "subscribe", "sid": request.sid,
                                             "error": str(exc)})
        return _error(exc)
    join_room(room)
    try:
        payload = live.payload(name, view)
    except UnknownDataset as exc:  # removed while we built it
        live.leave(request.sid, room)
        leave_room(room)
        return _error(exc)
    emit("update_chart", payload)
    live.welcomed(room, payload)
    log.info("subscribe", extra={"event": "subscribe", "sid": request.sid, "dataset": name,
                                 "query": payload["query"]})
    return {"ok": True, "query": payload["query"], "version": payload["version"],
            "epoch": payload["epoch"]}


def on_unsubscribe(data: Any) -> dict[str, Any]:
    """Leave the view's room."""
    try:
        name, query = _fields(data, "dataset", "query")
    except BadMessage as exc:
        return _error(exc)
    live = dash().live
    room = f"{name}?{query}"  # the canonical query the ack gave back
    if room not in live.sid_rooms.get(request.sid, set()):
        try:  # a query spelled another way: canonicalise it
            _, _, view = dash().view(name, parse_qsl(query, keep_blank_values=True))
        except (UnknownDataset, ViewError) as exc:
            return _error(exc)
        room = room_name(name, view)
    live.leave(request.sid, room)
    leave_room(room)
    return {"ok": True}


def on_refresh_data(data: Any) -> dict[str, Any]:
    """Reload a dataset from disk and push it to every view of it."""
    try:
        (name,) = _fields(data, "dataset")
        state = dash()
        dataset = state.store.get(name)
    except (BadMessage, UnknownDataset) as exc:
        return _error(exc)
    if not state.refresh_allowed(name):
        return {"ok": False, "error": f"{name!r} was reloaded less than "
                                      f"{REFRESH_EVERY:g} s ago; its viewers are up to date"}
    if not state.folder.reload(name):
        dataset.touch()  # a memory dataset: nothing to read, but viewers still get a fresh push
        state.store.changed(name)
    log.info("refresh", extra={"event": "reload", "sid": request.sid, "dataset": name})
    fresh = state.store.get(name)
    return {"ok": True, "version": fresh.version, "epoch": fresh.epoch}


def register(socketio: SocketIO) -> None:
    """Attach the handlers to this app's SocketIO."""
    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
    socketio.on_event("subscribe", on_subscribe)
    socketio.on_event("unsubscribe", on_unsubscribe)
    socketio.on_event("refresh_data", on_refresh_data)
