"""The JSON API: datasets, a view's figure, long-poll, rows export, ingest, health."""
from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request, stream_with_context
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized, UnsupportedMediaType

from ..data.errors import Rejected
from ..data.ingest import CONTENT_TYPES, decode
from ..data.schema import is_valid_name
from ..engine import browse
from ..state import app_state
from .bodies import whole_body
from .catalog import describe
from .params import one_of, poll_since, poll_timeout
from .responses import json_response

bp = Blueprint("api", __name__)
log = logging.getLogger("dash.api")
STARTED = time.time()
EXPORT_TYPES = {"csv": "text/csv", "json": "application/json"}
POLL_PARAMS = ("since", "epoch", "timeout")


@bp.get("/api/datasets")
def datasets() -> Response:
    """Every dataset: name, rows, metrics, labels, time span, version, epoch."""
    return json_response(describe(app_state().store))


@bp.get("/api/d/<name>/figure")
def figure(name: str) -> Response:
    """The view's Plotly figure with its version and epoch."""
    live = app_state().live
    _, view = app_state().view_of(name, request.args.items(multi=True))
    return Response(live.figures.encoded(name, view), mimetype="application/json")


@bp.get("/api/d/<name>/poll")
def poll(name: str) -> Response:
    """Long-poll: the figure once the dataset is past ``since`` (or another epoch), else 204."""
    since, timeout = poll_since(request.args), poll_timeout(request.args)
    epoch = request.args.get("epoch", "")
    state = app_state()
    _, view = state.view_of(name, request.args.items(multi=True), ignore=POLL_PARAMS)
    if not state.live.waiters.wait(name, since, epoch, timeout):
        return Response(status=204)
    return Response(state.live.figures.encoded(name, view), mimetype="application/json")


@bp.get("/api/d/<name>/rows")
def rows(name: str) -> Response:
    """Every row of the view (aggregated rows when it aggregates) as CSV or JSON."""
    fmt = one_of(request.args, "format", tuple(EXPORT_TYPES))
    state = app_state()
    snap, view = state.view_of(name, request.args.items(multi=True), ignore=("format",))
    _, table = browse.view_rows(snap, view, state.limits)
    body: Iterator[str] | Iterator[bytes]
    if fmt == "csv":
        body = browse.csv_chunks(table)
    else:
        body = browse.json_chunks(table, {"dataset": name, "query": view.at_page(1).query,
                                          "version": snap.version, "epoch": snap.epoch})
    response = Response(stream_with_context(_offloaded(body, state.offload)),
                        mimetype=EXPORT_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response.headers["X-Dash-Version"] = str(snap.version)
    return response


def _authorise(token: str | None) -> None:
    """403 while ingest is not configured, 401 for a missing or wrong bearer token."""
    if not token:
        raise Forbidden("ingest is off: set DASH_INGEST_TOKEN to turn it on")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest takes the same time wherever the strings differ.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        raise Unauthorized("missing or wrong bearer token",
                           www_authenticate=WWWAuthenticate("bearer"))


@bp.post("/api/d/<name>/points")
def points(name: str) -> Response:
    """Ingest a batch: all or nothing, durable (fsync) before the 200."""
    settings = current_app.config
    _authorise(settings["INGEST_TOKEN"])
    if not is_valid_name(name):
        raise Rejected("dataset names are 1 to 64 letters, digits, '-' or '_'")
    if request.mimetype not in CONTENT_TYPES:
        raise UnsupportedMediaType(f"Content-Type {request.mimetype or '(none)'!r} is not one of "
                               + ", ".join(CONTENT_TYPES))
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise UnsupportedMediaType(f"charset {charset!r} is not supported: send UTF-8")
    body = whole_body(settings["MAX_BODY_BYTES"], "DASH_MAX_BODY_BYTES")
    state = app_state()
    decoded = state.offload(decode, request.mimetype, body, settings["MAX_BATCH_POINTS"])
    started = time.perf_counter()
    stored = state.log.append(name, decoded)  # the CSV files, or Redis in cluster mode
    version, epoch = stored.version, stored.epoch
    state.metrics.ingest_batches.inc()
    state.metrics.ingest_points.inc(len(decoded.items))
    log.info("ingest", extra={"event": "ingest", "dataset": name, "points": len(decoded.items),
                              "version": version,
                              "ms": round((time.perf_counter() - started) * 1000, 2)})
    return json_response({"accepted": len(decoded.items), "version": version, "epoch": epoch})


def _offloaded(chunks: Iterator[Any], offload: Callable[..., Any]) -> Iterator[Any]:
    """Each chunk of a long export is formatted off the event loop, one at a time."""
    while (chunk := offload(next, chunks, None)) is not None:
        yield chunk


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: status, datasets, connected clients, uptime, the process; in cluster
    mode the link to Redis (``connected``, ``lag_s``...)."""
    state = app_state()
    body: dict[str, Any] = {
        "status": "ok",
        "datasets": len(state.store),
        "clients": state.live.rooms.viewers,  # SPEC's key: sockets watching a view
        "views": len(state.live.rooms.watched),
        "uptime_s": round(time.time() - STARTED, 1),
        "pid": os.getpid(),  # which process of a cluster answered
    }
    if state.streams is not None:
        body["redis"] = state.streams.status()
    return json_response(body)


@bp.get("/metrics")
def metrics() -> Response:
    """Prometheus text: clients by transport, views, waiting long-polls, figure builds,
    fan-outs, ingest, load errors, and the Redis link in cluster mode."""
    return Response(app_state().metrics.text(), content_type=CONTENT_TYPE_LATEST)
