"""The JSON API: datasets, a view's figure, health."""
from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request, stream_with_context
from werkzeug.exceptions import HTTPException

from . import browse
from .charts import dumps
from .ingest import CONTENT_TYPES, IngestError, decode
from .schema import is_valid_name
from .state import dash
from .store import UnknownDataset
from .views import ViewError

bp = Blueprint("api", __name__)
log = logging.getLogger("dash.api")
STARTED = time.time()
EXPORT_TYPES = {"csv": "text/csv", "json": "application/json"}
POLL_PARAMS = ("since", "epoch", "timeout")
VERSION = re.compile(r"[0-9]{1,18}")
DEFAULT_POLL_TIMEOUT = 25.0
MAX_POLL_TIMEOUT = 60.0


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response encoded with orjson (numpy-aware)."""
    return Response(dumps(body), status=status, mimetype="application/json")


@bp.errorhandler(ViewError)
def bad_view(exc: ViewError) -> Response:
    """400 naming the parameter and what is allowed."""
    return json_response({"error": str(exc), "param": exc.param}, 400)


@bp.errorhandler(UnknownDataset)
def unknown_dataset(exc: UnknownDataset) -> Response:
    """404 for a dataset that does not exist."""
    return json_response({"error": f"unknown dataset {exc.args[0]!r}"}, 404)


@bp.app_errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response | HTTPException:
    """HTTP errors under /api/ as JSON (unknown routes and methods too); pages keep HTML."""
    if not request.path.startswith("/api/"):
        return exc
    return json_response({"error": exc.description or exc.name}, exc.code or 500)


@bp.get("/api/datasets")
def datasets() -> Response:
    """Every dataset: name, rows, metrics, labels, time span, version, epoch."""
    return json_response(dash().describe())


@bp.get("/api/d/<name>/figure")
def figure(name: str) -> Response:
    """The view's Plotly figure with its version and epoch."""
    _, _, view = dash().view(name, request.args.items(multi=True))
    return Response(dash().live.encoded(name, view), mimetype="application/json")


def _poll_args() -> tuple[int, str, float]:
    """``since``, ``epoch`` and ``timeout`` of a poll, or a 400 naming the bad one."""
    since_text = request.args.get("since", "")
    if since_text and not VERSION.fullmatch(since_text):
        raise ViewError("since", f"{since_text!r} is not a version (0, 1, 2...)")
    try:
        timeout = float(request.args.get("timeout", DEFAULT_POLL_TIMEOUT))
    except ValueError:
        timeout = -1.0
    if not 0 <= timeout <= MAX_POLL_TIMEOUT:
        raise ViewError("timeout", f"seconds from 0 to {MAX_POLL_TIMEOUT:g}")
    return int(since_text) if since_text else -1, request.args.get("epoch", ""), timeout


@bp.get("/api/d/<name>/poll")
def poll(name: str) -> Response:
    """Long-poll: the figure once the dataset is past ``since`` (or another epoch), else 204."""
    since, epoch, timeout = _poll_args()
    state = dash()
    _, _, view = state.view(name, request.args.items(multi=True), ignore=POLL_PARAMS)
    deadline = time.monotonic() + timeout
    while True:
        changed = state.live.change_event(name)  # before the check, so no change slips by
        dataset = state.store.get(name)
        if dataset.version > since or dataset.epoch != epoch:
            return Response(state.live.encoded(name, view), mimetype="application/json")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return Response(status=204)
        changed.wait(remaining)


@bp.get("/api/d/<name>/rows")
def rows(name: str) -> Response:
    """Every row of the view (aggregated rows when it aggregates) as CSV or JSON."""
    fmt = request.args.get("format", "csv")
    if fmt not in EXPORT_TYPES:
        raise ViewError("format", f"{fmt!r} is not one of csv, json")
    state = dash()
    _, snap, view = state.view(name, request.args.items(multi=True), ignore=("format",))
    sel, result = state.analyse(snap, view)
    table = browse.rows(snap, view, sel, result)
    if fmt == "csv":
        body = browse.csv_chunks(table)
    else:
        body = browse.json_chunks(table, {"dataset": name, "query": view.at_page(1).query,
                                          "version": snap.version, "epoch": snap.epoch})
    response = Response(stream_with_context(_offloaded(body, state.live.offload)),
                        mimetype=EXPORT_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response.headers["X-Dash-Version"] = str(snap.version)
    return response


@bp.errorhandler(IngestError)
def bad_ingest(exc: IngestError) -> Response:
    """A refused batch: status, message, and the bad points (nothing was applied)."""
    body: dict[str, Any] = {"error": exc.message}
    if exc.errors:
        body["errors"] = exc.errors
    return json_response(body, exc.status)


def _authorise(token: str | None) -> None:
    """403 while ingest is not configured, 401 for a missing or wrong bearer token."""
    if not token:
        raise IngestError(403, "ingest is off: set DASH_INGEST_TOKEN to turn it on")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    # compare_digest takes the same time wherever the strings differ.
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(),
                                                             token.encode()):
        raise IngestError(401, "missing or wrong bearer token")


@bp.post("/api/d/<name>/points")
def points(name: str) -> Response:
    """Ingest a batch: all or nothing, durable (fsync) before the 200."""
    settings = current_app.config
    _authorise(settings["INGEST_TOKEN"])
    if not is_valid_name(name):
        raise IngestError(400, "dataset names are 1 to 64 letters, digits, '-' or '_'")
    if request.mimetype not in CONTENT_TYPES:
        raise IngestError(415, f"Content-Type {request.mimetype or '(none)'!r} is not one of "
                               + ", ".join(CONTENT_TYPES))
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise IngestError(415, f"charset {charset!r} is not supported: send UTF-8")
    limit = settings["MAX_BODY_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        raise IngestError(413, f"body of {request.content_length} bytes is over the limit of "
                               f"{limit} (DASH_MAX_BODY_BYTES)")
    body = request.stream.read(limit + 1)  # a chunked body may not say its length
    if len(body) > limit:
        raise IngestError(413, f"body is over the limit of {limit} bytes (DASH_MAX_BODY_BYTES)")
    decoded = dash().live.offload(decode, request.mimetype, body, settings["MAX_BATCH_POINTS"])
    started = time.perf_counter()
    dataset = dash().folder.append(name, decoded)
    log.info("ingest", extra={"event": "ingest", "dataset": name, "points": len(decoded.items),
                              "version": dataset.version,
                              "ms": round((time.perf_counter() - started) * 1000, 2)})
    return json_response({"accepted": len(decoded.items), "version": dataset.version,
                          "epoch": dataset.epoch})


def _offloaded(chunks: Iterator[Any], offload: Callable[..., Any]) -> Iterator[Any]:
    """Each chunk of a long export is formatted off the event loop, one at a time."""
    while (chunk := offload(next, chunks, None)) is not None:
        yield chunk


@bp.get("/healthz")
def healthz() -> Response:
    """Liveness: status, datasets, connected clients, uptime."""
    state = dash()
    return json_response({
        "status": "ok",
        "datasets": len(state.store.datasets),
        "clients": state.live.clients,
        "views": len(state.live.rooms),
        "uptime_s": round(time.time() - STARTED, 1),
    })
