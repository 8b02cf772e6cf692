"""Socket.IO handlers: thin wrappers that delegate to the live fan-out."""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qsl

from flask import request
from flask_socketio import SocketIO, emit

from ..data.errors import UnknownDataset
from ..data.streams import SOURCE
from ..engine.view import ViewError
from ..live.rooms import TooManyViews, query_room, room_name
from ..state import app_state
from .messages import BadMessage, current_sid, fields, refused

log = logging.getLogger("dash.sockets")


def on_connect(auth: Any = None) -> None:
    """Log a new connection; in cluster mode, say so if this process lost Redis."""
    log.info("connect", extra={"event": "connect", "sid": current_sid(),
                               "transport": request.args.get("transport")})
    # The address after trusted proxies (ProxyFix ran on the handshake's environ). Checked
    # again here: handshakes at the same moment all passed the 429 before any arrived
    # (256 connections of one address for a budget of 128).
    rooms, address = app_state().live.rooms, request.remote_addr or ""
    refusal = rooms.arrival_refusal(address)
    if refusal is not None:
        raise ConnectionRefusedError(refusal)
    # ``auth: {"parts": true}``: the client applies extend_chart's replace and head (our
    # pages do); a client of SPEC's appending extend_chart alone gets whole figures instead.
    parts = isinstance(auth, dict) and auth.get("parts") is True
    app_state().live.connect(current_sid(), address, parts)
    streams = app_state().streams
    if streams is not None and not streams.link.up:
        emit("link", {"up": False}, ignore_queue=True)


def on_disconnect(*_: Any) -> None:
    """Forget the socket: its views, catch-up, dashboards and allowances."""
    app_state().disconnect(current_sid())
    log.info("disconnect", extra={"event": "disconnect", "sid": current_sid()})


# ``data: Any = None`` on every handler: Flask-SocketIO calls a handler without its data
# argument when the client sent none, and the ack must still say what is wrong.
def on_subscribe(data: Any = None) -> dict[str, Any]:
    """Join the view's room, send its figure, and ack with the canonical query."""
    state, sid = app_state(), current_sid()
    rooms = state.live.rooms
    refusal = state.join_refusal(sid)
    if refusal is not None:
        return {"ok": False, "error": refusal}
    try:
        name, query = fields(data, "dataset", "query")
        _, view = state.view_of(name, parse_qsl(query, keep_blank_values=True))
        # Join before building: a change pushed during the build reaches this client too.
        room = rooms.join(sid, name, view)
    except (BadMessage, UnknownDataset, ViewError, TooManyViews) as exc:
        log.info("subscribe refused", extra={"event": "subscribe", "sid": sid,
                                             "error": str(exc)})
        return refused(exc)
    try:
        payload = rooms.welcome(sid, room, state.live.figures)
    except UnknownDataset as exc:  # removed while we built it
        rooms.leave(sid, room)
        return refused(exc)
    log.info("subscribe", extra={"event": "subscribe", "sid": sid, "dataset": name,
                                 "query": payload["query"]})
    return {"ok": True, "query": payload["query"], "version": payload["version"],
            "epoch": payload["epoch"]}


def on_unsubscribe(data: Any = None) -> dict[str, Any]:
    """Leave the view's room."""
    try:
        name, query = fields(data, "dataset", "query")
    except BadMessage as exc:
        return refused(exc)
    state, sid = app_state(), current_sid()
    room = query_room(name, query)  # the canonical query the ack gave back
    if room not in state.live.rooms.rooms_of(sid):
        try:  # a query spelled another way: canonicalise it
            _, view = state.view_of(name, parse_qsl(query, keep_blank_values=True))
        except (UnknownDataset, ViewError) as exc:
            return refused(exc)
        room = room_name(name, view)
    state.live.rooms.leave(sid, room)
    return {"ok": True}


def on_refresh_data(data: Any = None) -> dict[str, Any]:
    """Reload a dataset from disk and push it to every view of it."""
    try:
        (name,) = fields(data, "dataset")
        state = app_state()
        dataset = state.store.get(name)
    except (BadMessage, UnknownDataset) as exc:
        return refused(exc)
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
