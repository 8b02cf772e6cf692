"""The JSON API: datasets, a view's figure, health."""
from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, request, stream_with_context
from werkzeug.exceptions import HTTPException

from . import browse
from .charts import dumps
from .state import dash
from .store import UnknownDataset
from .views import ViewError

bp = Blueprint("api", __name__)
STARTED = time.time()
EXPORT_TYPES = {"csv": "text/csv", "json": "application/json"}


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


@bp.errorhandler(HTTPException)
def http_error(exc: HTTPException) -> Response:
    """Every other HTTP error from the API as JSON."""
    return json_response({"error": exc.description or exc.name}, exc.code or 500)


@bp.get("/api/datasets")
def datasets() -> Response:
    """Every dataset: name, rows, metrics, labels, time span, version, epoch."""
    return json_response(dash().describe())


@bp.get("/api/d/<name>/figure")
def figure(name: str) -> Response:
    """The view's Plotly figure with its version and epoch."""
    _, _, view = dash().view(name, request.args.items(multi=True))
    return json_response(dash().live.payload(name, view))


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
    response = Response(stream_with_context(body), mimetype=EXPORT_TYPES[fmt])
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    response.headers["X-Dash-Version"] = str(snap.version)
    return response


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
