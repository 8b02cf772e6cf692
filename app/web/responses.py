"""What every route shares about a request and its response: JSON bodies, and whether
HTMX asked (a fragment, not a page)."""
from __future__ import annotations

from typing import Any, TypeVar

from flask import Response, request
from werkzeug.wrappers import Response as BaseResponse

from ..jsoncodec import dumps

R = TypeVar("R", bound=BaseResponse)


def json_response(body: Any, status: int = 200) -> Response:
    """A JSON response encoded with orjson (numpy-aware)."""
    return Response(dumps(body), status=status, mimetype="application/json")


def is_htmx() -> bool:
    """True for a request HTMX made (it wants fragments, not a page)."""
    return request.headers.get("HX-Request") == "true"


def vary_on_htmx(response: R) -> R:
    """``response`` marked ``Vary: HX-Request``: a page and its fragment share the URL, and
    a cache must not answer one with the other."""
    response.vary.add("HX-Request")
    return response
