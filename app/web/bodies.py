"""Request bodies read whole or refused: Flask's request with a strict size limit, and
``whole_body``, the one reader of raw bodies (ingest, dashboard documents)."""
from __future__ import annotations

import io
from typing import IO, Any, cast

import flask
from flask import request
from werkzeug.exceptions import (
    BadRequest,
    ClientDisconnected,
    LengthRequired,
    RequestEntityTooLarge,
)
from werkzeug.utils import cached_property
from werkzeug.wsgi import get_input_stream


class AtMost(io.RawIOBase):
    """A stream that raises ``RequestEntityTooLarge`` once more than ``limit`` bytes came."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream, self._limit, self._count = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        count = self._stream.readinto(buffer)  # type: ignore[attr-defined]
        self._count += count or 0
        if self._count > self._limit:
            raise RequestEntityTooLarge()
        return int(count or 0)


class Request(flask.Request):
    """Flask's request, whose chunked body past ``max_content_length`` is a 413.

    Werkzeug stops a body without a Content-Length at the maximum and hands over what it
    read as if the body ended there (a form or a JSON document cut short); here one more
    byte is read to tell, and that byte is a 413. Bodies with a Content-Length are
    Werkzeug's own: 413 past the maximum before reading, ``ClientDisconnected`` (400)
    when they end early.
    """

    @cached_property
    def stream(self) -> IO[bytes]:
        limit = self.max_content_length
        if limit is None or self.content_length is not None:
            return get_input_stream(self.environ, max_content_length=limit)
        strict = AtMost(get_input_stream(self.environ, max_content_length=limit + 1), limit)
        return cast(IO[bytes], strict)


def whole_body(limit: int, setting: str) -> bytes:
    """The current request's body, all of it: 413 past ``limit`` bytes (before reading when
    the Content-Length says so; ``setting`` names what sets the limit), 400 when it ends
    before its Content-Length or last chunk (the client went away: nothing may be stored),
    411 for chunks the server cannot end.

    Every raw body goes through here: a dashboard PUT took what one ``read`` returned, so
    a document cut short that still parsed was stored, and one sent in two pieces was
    refused.
    """
    length = request.content_length
    if length is not None and length > limit:
        raise RequestEntityTooLarge(f"body of {length} bytes is over the limit of {limit} "
                                    f"({setting})")
    if request.headers.get("Transfer-Encoding") and \
            not request.environ.get("wsgi.input_terminated"):
        # A WSGI server that does not end chunked bodies itself: they would read as empty.
        raise LengthRequired("this server cannot read chunked bodies: send a Content-Length")
    # Werkzeug reads a body to its Content-Length (ClientDisconnected if it ends sooner),
    # and a chunked one to its last chunk (``Request.stream``: 413 past the limit).
    request.max_content_length = limit
    try:
        return request.get_data(cache=False)
    except ClientDisconnected:
        sent = f"its Content-Length of {length} bytes" if length is not None else "its last chunk"
        raise BadRequest(f"the body ended before {sent}: nothing was stored") from None
    except RequestEntityTooLarge:
        raise RequestEntityTooLarge(f"body is over the limit of {limit} bytes "
                                    f"({setting})") from None
