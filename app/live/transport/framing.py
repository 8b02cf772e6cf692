"""What eventlet's HTTP protocol must refuse or treat apart, decided from a request's head
alone (no eventlet here: the unit tests call these directly).

- **Body framing** (RFC 9112 sections 5 and 6). The standard library's header parser and
  eventlet disagree on a few spellings, and a body whose end the two sides see in different
  places is read as the next request (request smuggling). So: a header line with
  whitespace before its colon, or without a colon (the parser dropped it and every line
  after it: ``Content-Length : 63`` was no length at all), and obsolete line folding are
  a 400; a ``Content-Length`` is digits only (``int()`` took ``+63``, ``6_3``, `` 63``)
  and every one says the same; the only transfer coding is ``chunked``, compared after
  stripping spaces and tabs only (Python's ``strip()`` also took ``\\x0bchunked``,
  which eventlet does not read as chunked: its body was parsed as a request).
- **WebSocket handshakes**: only a real one to ``/socket.io/`` leaves the HTTP timeouts
  (a WebSocket keeps its own heartbeat). Any request that merely said ``Upgrade:
  websocket`` used to: a ``POST /login`` with a ``Content-Length`` and no body stayed open
  for as long as its client liked.
- **Error answers** the protocol writes itself carry the security headers too.
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

DIGITS = re.compile(r"[0-9]{1,18}")  # 18 digits: ~1 EB, and int64 keeps it
SOCKET_PATH = "/socket.io/"
PHRASES = {400: "Bad Request", 414: "URI Too Long", 429: "Too Many Requests",
           431: "Request Header Fields Too Large", 501: "Not Implemented",
           503: "Service Unavailable"}


def _ows(value: str) -> str:
    """``value`` without the optional whitespace HTTP allows around it: spaces and tabs."""
    return value.strip(" \t")


def framing_problem(headers: Any) -> tuple[int, str] | None:
    """(status, reason) when a request's header section or body framing cannot be
    trusted, else None. ``headers`` is the ``http.client.HTTPMessage`` eventlet parsed."""
    if getattr(headers, "defects", None) or headers.get_payload():
        return 400, ("a header line is malformed (whitespace before its colon, or no colon "
                     "at all)")
    if any("\r" in value or "\n" in value for value in headers.values()):
        return 400, "obsolete line folding in a header is not accepted"
    lengths = {_ows(value) for value in headers.get_all("Content-Length") or ()}
    if any(not DIGITS.fullmatch(length) for length in lengths):
        return 400, "Content-Length must be a number of bytes, digits only"
    if len(lengths) > 1:
        return 400, "conflicting Content-Length headers"
    coding = headers.get_all("Transfer-Encoding")
    if coding and (len(coding) > 1 or _ows(coding[0]).lower() != "chunked"):
        return 501, "the only transfer coding accepted is chunked"
    if coding and lengths:
        return 400, "Content-Length and Transfer-Encoding are not allowed together"
    return None


def _tokens(value: str | None) -> set[str]:
    return {_ows(token).lower() for token in (value or "").split(",")}


def is_websocket_handshake(command: str, path: str, headers: Any) -> bool:
    """True for a WebSocket opening handshake (RFC 6455 section 4.1) to Socket.IO's path:
    ``GET``, ``Upgrade: websocket``, ``Connection: upgrade``, a ``Sec-WebSocket-Key``, and
    no body. Anything else is timed as an ordinary request."""
    return (command == "GET" and path.startswith(SOCKET_PATH)
            and "websocket" in _tokens(headers.get("Upgrade"))
            and "upgrade" in _tokens(headers.get("Connection"))
            and bool(_ows(headers.get("Sec-WebSocket-Key") or ""))
            and not headers.get("Transfer-Encoding")
            and _ows(headers.get("Content-Length") or "0") == "0")


def error_answer(status: int, reason: str, extra: Iterable[tuple[str, str]] = ()) -> bytes:
    """A whole ``HTTP/1.1`` error answer that closes the connection: ``reason`` as its
    plain-text body, and the ``extra`` headers (the security headers)."""
    body = f"{reason}\n".encode()
    head = [f"HTTP/1.1 {status} {PHRASES.get(status, 'Error')}", "Connection: close",
            "Content-Type: text/plain; charset=utf-8", f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in extra)]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
