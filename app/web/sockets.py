"""Socket.IO handlers: thin wrappers that delegate to the live fan-out."""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from flask import request
from flask_socketio import SocketIO, emit

from ..data.errors import DatasetFailed, UnknownDataset
from ..data.streams import SOURCE
from ..engine.view import ViewError
from ..live.figures import room_name
from ..live.rooms import TooManyViews
from ..state import app_state

log = logging.getLogger("dash.sockets")


def current_sid() -> str:
    """The Socket.IO session id of the event being handled (Flask-SocketIO sets it)."""
    sid: str = request.sid  # type: ignore[attr-defined]
    return sid


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
        try:
            value.encode()
        except UnicodeEncodeError as exc:  # a lone surrogate: no text any part of us can keep
            raise BadMessage(f"'{name}' is not valid text: it holds a lone surrogate "
                             f"({value[exc.start]!r} at character {exc.start})") from None
        values.append(value)
    return values


def _error(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, DatasetFailed):
        return {"ok": False, "error": exc.error}
    if isinstance(exc, UnknownDataset):
        return {"ok": False, "error": f"unknown dataset {exc.args[0]!r}"}
    return {"ok": False, "error": str(exc)}


def on_connect(auth: Any = None) -> None:
    """Log a new connection; in cluster mode, say so if this process lost Redis."""
    log.info("connect", extra={"event": "connect", "sid": current_sid(),
                               "transport": request.args.get("transport")})
    # The address after trusted proxies (ProxyFix ran on the handshake's environ). Checked
    # again here: handshakes at the same moment all passed the 429 before any arrived
    # (256 connections of one address for a budget of 128).
    rooms, client = app_state().live.rooms, request.remote_addr or ""
    refusal = rooms.arrival_refusal(client)
    if refusal is not None:
        raise ConnectionRefusedError(refusal)
    rooms.arrive(current_sid(), client)
    streams = app_state().streams
    if streams is not None and not streams.link.up:
        emit("link", {"up": False}, ignore_queue=True)


def on_disconnect(*_: Any) -> None:
    """Forget the socket's views."""
    live = app_state().live
    live.rooms.drop(current_sid())
    live.fanout.forget(current_sid())
    live.boards.forget(current_sid())
    app_state().forget(current_sid())
    log.info("disconnect", extra={"event": "disconnect", "sid": current_sid()})


# ``data: Any = None`` on every handler: Flask-SocketIO calls a handler without its data
# argument when the client sent none, and the ack must still say what is wrong.
def on_subscribe(data: Any = None) -> dict[str, Any]:
    """Join the view's room, send its figure, and ack with the canonical query."""
    live = app_state().live
    refusal = app_state().join_refusal(current_sid())
    if refusal is not None:
        return {"ok": False, "error": refusal}
    try:
        name, query = _fields(data, "dataset", "query")
        _, view = app_state().view_of(name, parse_qsl(query, keep_blank_values=True))
        # Join before building: a change pushed during the build reaches this client too.
        room = live.rooms.join(current_sid(), name, view)
    except (BadMessage, UnknownDataset, ViewError, TooManyViews) as exc:
        log.info("subscribe refused", extra={"event": "subscribe", "sid": current_sid(),
                                             "error": str(exc)})
        return _error(exc)
    try:
        payload = live.figures.payload(name, view)
    except UnknownDataset as exc:  # removed while we built it
        live.rooms.leave(current_sid(), room)
        return _error(exc)
    emit("update_chart", payload, ignore_queue=True)  # this client is here: not via Redis
    live.rooms.welcomed(room, payload)
    log.info("subscribe", extra={"event": "subscribe", "sid": current_sid(), "dataset": name,
                                 "query": payload["query"]})
    return {"ok": True, "query": payload["query"], "version": payload["version"],
            "epoch": payload["epoch"]}


def on_unsubscribe(data: Any = None) -> dict[str, Any]:
    """Leave the view's room."""
    try:
        name, query = _fields(data, "dataset", "query")
    except BadMessage as exc:
        return _error(exc)
    rooms = app_state().live.rooms
    room = f"{name}?{query}"  # the canonical query the ack gave back
    if room not in rooms.rooms_of(current_sid()):
        try:  # a query spelled another way: canonicalise it
            _, view = app_state().view_of(name, parse_qsl(query, keep_blank_values=True))
        except (UnknownDataset, ViewError) as exc:
            return _error(exc)
        room = room_name(name, view)
    rooms.leave(current_sid(), room)
    return {"ok": True}


def on_refresh_data(data: Any = None) -> dict[str, Any]:
    """Reload a dataset from disk and push it to every view of it."""
    try:
        (name,) = _fields(data, "dataset")
        state = app_state()
        dataset = state.store.get(name)
    except (BadMessage, UnknownDataset) as exc:
        return _error(exc)
    refusal = state.refresh_refusal(name, current_sid())
    if refusal is not None:
        return {"ok": False, "error": refusal}
    if dataset.source == SOURCE:
        # The shared log is the truth and this process follows it: a version of its own
        # would differ from every other process's.
        return {"ok": True, "version": dataset.version, "epoch": dataset.epoch}
    if not state.reload(name):
        dataset.touch()  # a memory dataset: nothing to read, but viewers still get a fresh push
        state.store.changed(name)
    log.info("refresh", extra={"event": "reload", "sid": current_sid(), "dataset": name})
    fresh = state.store.get(name)
    return {"ok": True, "version": fresh.version, "epoch": fresh.epoch}


def register(socketio: SocketIO) -> None:
    """Attach the handlers to this app's SocketIO."""
    socketio.on_event("connect", on_connect)
    socketio.on_event("disconnect", on_disconnect)
    socketio.on_event("subscribe", on_subscribe)
    socketio.on_event("unsubscribe", on_unsubscribe)
    socketio.on_event("refresh_data", on_refresh_data)
