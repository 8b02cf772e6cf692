"""What the HTTP protocol decides from a request's head alone: body framing it must refuse
(RFC 9112: what eventlet and the standard library could read two ways), which requests are
WebSocket handshakes, and its own error answers (``app.live.transport.framing``)."""
from __future__ import annotations

import http.client
import io

import pytest

from app.live.transport.framing import error_answer, framing_problem, is_websocket_handshake

BAD_LINE = (400, "a header line is malformed (whitespace before its colon, or no colon at all)")
FOLDED = (400, "obsolete line folding in a header is not accepted")
BAD_LENGTH = (400, "Content-Length must be a number of bytes, digits only")
CODING = (501, "the only transfer coding accepted is chunked")


def head(lines: str) -> http.client.HTTPMessage:
    """The header section as eventlet parses it (the standard library's parser)."""
    return http.client.parse_headers(io.BytesIO(f"Host: a\r\n{lines}\r\n".encode("latin-1")))


@pytest.mark.parametrize("lines, problem", [
    ("Content-Length: 63\r\n", None),
    ("Content-Length:63\r\n", None),
    ("Content-Length: 63 \r\n", None),  # optional whitespace around a value is fine
    ("Content-Length: 63\r\nContent-Length: 63\r\n", None),  # one length, said twice
    ("Transfer-Encoding: chunked\r\n", None),
    ("Transfer-Encoding: Chunked\r\n", None),
    ("Transfer-Encoding: chunked \r\n", None),
    ("", None),
    # The parser drops a line with whitespace before its colon, and every line after it:
    # eventlet then saw no length, and read the body as the next request.
    ("Content-Length : 63\r\n", BAD_LINE),
    ("Content-Length\t: 63\r\n", BAD_LINE),
    ("X-Anything: 1\r\nno colon here\r\n", BAD_LINE),
    ("X-A: b\r\n  folded\r\n", FOLDED),
    (" Content-Length: 5\r\n", FOLDED),  # folded into Host's value
    ("Content-Length: +63\r\n", BAD_LENGTH),  # int() took these three
    ("Content-Length: 6_3\r\n", BAD_LENGTH),
    ("Content-Length: -1\r\n", BAD_LENGTH),
    ("Content-Length: 1 , 1\r\n", BAD_LENGTH),
    ("Content-Length: \x0b63\r\n", BAD_LENGTH),
    ("Content-Length: 99999999999999999999\r\n", BAD_LENGTH),
    ("Content-Length: 63\r\nContent-Length: 5\r\n", (400, "conflicting Content-Length headers")),
    # Python's strip() takes \x0b and \x0c for spaces; eventlet does not read these as
    # chunked, so the body was parsed as a request of its own.
    ("Transfer-Encoding: \x0bchunked\r\n", CODING),
    ("Transfer-Encoding: chunked\x0b\r\n", CODING),
    ("Transfer-Encoding: \x0cchunked\r\n", CODING),
    ("Transfer-Encoding: gzip, chunked\r\n", CODING),
    ("Transfer-Encoding: identity\r\n", CODING),
    ("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n", CODING),
    ("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
     (400, "Content-Length and Transfer-Encoding are not allowed together")),
])
def test_framing_that_could_be_read_two_ways_is_refused(lines: str,
                                                        problem: tuple[int, str] | None) -> None:
    assert framing_problem(head(lines)) == problem


HANDSHAKE = ("Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n")


@pytest.mark.parametrize("command, path, lines, handshake", [
    ("GET", "/socket.io/?EIO=4&transport=websocket", HANDSHAKE, True),
    ("GET", "/socket.io/?EIO=4&transport=websocket",
     HANDSHAKE.replace("Connection: Upgrade", "Connection: keep-alive, Upgrade"), True),
    ("GET", "/socket.io/?EIO=4&transport=websocket", HANDSHAKE + "Content-Length: 0\r\n", True),
    # Each of these said "Upgrade: websocket" and so kept no timeout at all.
    ("POST", "/login", HANDSHAKE + "Content-Length: 100\r\n", False),
    ("POST", "/socket.io/?EIO=4&transport=websocket", HANDSHAKE + "Content-Length: 9\r\n", False),
    ("GET", "/healthz", HANDSHAKE, False),
    ("GET", "/socket.io/?EIO=4", "Upgrade: websocket\r\n", False),
    ("GET", "/socket.io/?EIO=4", HANDSHAKE.replace("Connection: Upgrade", "Connection: close"),
     False),
    ("GET", "/socket.io/?EIO=4", HANDSHAKE + "Transfer-Encoding: chunked\r\n", False),
])
def test_only_a_real_websocket_handshake_to_socketio_leaves_the_http_timeouts(
        command: str, path: str, lines: str, handshake: bool) -> None:
    assert is_websocket_handshake(command, path, head(lines)) is handshake


def test_an_error_answer_closes_the_connection_and_carries_the_extra_headers() -> None:
    answer = error_answer(431, "the request's headers are too large",
                          [("X-Content-Type-Options", "nosniff")])
    assert answer == (b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n"
                      b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 36\r\n"
                      b"X-Content-Type-Options: nosniff\r\n\r\n"
                      b"the request's headers are too large\n")
