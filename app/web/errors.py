"""Domain errors -> HTTP statuses, in one place: JSON under ``/api/``, pages elsewhere."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, render_template, request
from jinja2_fragments.flask import render_block
from werkzeug.exceptions import HTTPException

from ..data.dashboards import BrokenDashboard, DashboardNotFound, VersionConflict
from ..data.errors import (
    Conflict,
    DataError,
    DatasetFailed,
    ParamError,
    Rejected,
    StorageFull,
    TooLarge,
    Unavailable,
    UnknownDataset,
)
from .responses import is_htmx, json_response, vary_on_htmx

# The first kind an error is an instance of gives its status. ``DataError`` itself last: a
# refusal of a kind nobody mapped yet still answers, with its message and a 500 (the
# mapping is ours to add, and the log says so), never a StopIteration out of the handler.
STATUS: dict[type[DataError], int] = {Rejected: 400, TooLarge: 413, Conflict: 409,
                                      StorageFull: 507, Unavailable: 503, DataError: 500}
log = logging.getLogger("dash.errors")


def _is_api() -> bool:
    return request.path.startswith("/api/")


def data_error(exc: DataError) -> Response:
    """A refused request: its status, the message, and the problems one by one (a page
    saying so when a browser's page is what cannot be served now)."""
    status = next(code for kind, code in STATUS.items() if isinstance(exc, kind))
    if status == STATUS[DataError]:
        log.error("a data error without a status of its own", extra={
            "event": "error", "kind": type(exc).__name__, "error": exc.message})
    if isinstance(exc, Unavailable) and not _is_api():
        page = Response(render_template("unavailable.html", message=exc.message,
                                        retry_after=exc.retry_after), 503,
                        mimetype="text/html")
        page.headers["Retry-After"] = str(exc.retry_after)
        return page
    body: dict[str, Any] = {"error": exc.message}
    if isinstance(exc, Rejected) and exc.errors:
        body["errors"] = exc.errors
    if isinstance(exc, VersionConflict):  # what to reload (None: it was deleted)
        body["version"] = exc.current
    response = json_response(body, status)
    if isinstance(exc, Unavailable):
        response.headers["Retry-After"] = str(exc.retry_after)
    return response


def bad_parameter(exc: ParamError) -> Response:
    """400 naming the bad URL parameter and what is allowed (``param``); where every one was
    checked (a view's) ``errors`` lists each as well, ``param`` the first. A page gets the
    same status and message as an HTML page (HTMX: its ``problem`` fragment)."""
    problems = exc.problems
    if not _is_api():
        context = {"title": "This address needs a change", "message": str(exc),
                   "problems": problems}
        page = (render_block("error.html", "problem", **context) if is_htmx() else
                render_template("error.html", **context))
        return vary_on_htmx(Response(page, 400, mimetype="text/html"))
    body: dict[str, Any] = {"error": str(exc), "param": exc.param}
    if exc.names_every:
        body["errors"] = [{"param": param, "message": message} for param, message in problems]
    return json_response(body, 400)


def unknown_dataset(exc: UnknownDataset) -> Response | tuple[str, int]:
    """404: JSON for the API, a page that says so elsewhere."""
    if _is_api():
        return json_response({"error": f"unknown dataset {exc.args[0]!r}"}, 404)
    return render_template("missing.html", name=exc.args[0]), 404


def unknown_dashboard(exc: DashboardNotFound) -> Response | tuple[str, int]:
    """404: JSON for the API, a page that says so elsewhere."""
    if _is_api():
        return json_response({"error": str(exc)}, 404)
    return render_template("dashboard_problem.html", title=f"No dashboard called “{exc.name}”",
                           message=None, errors=[]), 404


def broken_dashboard(exc: BrokenDashboard) -> Response | tuple[str, int]:
    """422 with the file's error and its version (a PUT of that version replaces it)."""
    if _is_api():
        return json_response({"error": str(exc), "version": exc.version}, 422)
    return render_template("dashboard_problem.html", title=f"Dashboard “{exc.name}” does not load",
                           message=f"dashboards/{exc.name}.json: {exc.error}", errors=[]), 422


def dataset_failed(exc: DatasetFailed) -> Response | tuple[str, int]:
    """422: the name is a dataset whose file failed to load; say why and what to change."""
    if _is_api():
        return json_response({"error": exc.error, "dataset": exc.name}, 422)
    return render_template("failed.html", name=exc.name, error=exc.error), 422


def http_error(exc: HTTPException) -> Response | HTTPException:
    """HTTP errors under /api/ as JSON (unknown routes and methods too); pages keep HTML."""
    if not _is_api():
        return exc
    response = json_response({"error": exc.description or exc.name}, exc.code or 500)
    for key, value in exc.get_headers():  # WWW-Authenticate, Allow, Retry-After...
        if key.lower() != "content-type":
            response.headers[key] = value
    return response


def register(app: Flask) -> None:
    """Install the mapping on ``app``."""
    app.register_error_handler(DataError, data_error)
    app.register_error_handler(ParamError, bad_parameter)  # dashboard URLs' and views'
    app.register_error_handler(DashboardNotFound, unknown_dashboard)
    app.register_error_handler(BrokenDashboard, broken_dashboard)
    app.register_error_handler(UnknownDataset, unknown_dataset)
    app.register_error_handler(DatasetFailed, dataset_failed)
    app.register_error_handler(HTTPException, http_error)
