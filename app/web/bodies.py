"""Request bodies read whole or refused: Flask's request with a strict size limit."""
from __future__ import annotations

import io
from typing import IO, Any, cast

import flask
from werkzeug.exceptions import RequestEntityTooLarge
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
