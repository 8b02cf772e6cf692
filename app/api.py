"""The JSON API: datasets, a view's figure, health."""
from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import HTTPException

from .charts import dumps
from .state import dash
from .store import UnknownDataset
from .views import ViewError

bp = Blueprint("api", __name__)
STARTED = time.time()


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
