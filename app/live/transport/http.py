"""eventlet's HTTP protocol with the limits a public server needs (eventlet only).

- **Header timeout**: a request line and headers that do not arrive within
  ``header_timeout`` seconds close the connection, and so does a keep-alive
  connection idle that long. eventlet waits forever: 1,100 half-open requests held
  every one of its 1,024 request slots, and ``/healthz`` took 35-69 s.
- **Stalls**: once the headers are in, a body that stops arriving, or a client that
  stops reading its answer, is dropped after ``header_timeout`` seconds without
  progress (WebSockets keep their own heartbeat timeouts).
- **Body framing** (RFC 9112 section 6): differing ``Content-Length`` headers are a
  400 (eventlet used the first); a transfer coding other than ``chunked`` is a 501
  (eventlet read such a body as empty and the rest as the next request). Chunked
  bodies are marked ``wsgi.input_terminated``: eventlet ends them at the last chunk,
  so Werkzeug reads them whole, up to the app's size limit (it read them as empty).
"""
from __future__ import annotations

import socket
from typing import Any

import eventlet
import eventlet.wsgi


class HeaderTimeout(socket.timeout):
    """The request's headers did not arrive in time (eventlet closes the connection)."""


def framing_problem(headers: Any) -> tuple[int, str] | None:
    """(status, reason) when a request's body framing cannot be trusted, else None."""
    lengths = {value.strip() for value in headers.get_all("Content-Length") or ()}
    if len(lengths) > 1:
        return 400, "conflicting Content-Length headers"
    coding = headers.get_all("Transfer-Encoding")
    if coding and (len(coding) > 1 or coding[0].strip().lower() != "chunked"):
        return 501, "the only transfer coding accepted is chunked"
    return None


class Protocol(eventlet.wsgi.HttpProtocol):  # type: ignore[misc]
    """eventlet's HTTP protocol with a header timeout and strict body framing."""

    header_timeout = 10.0  # seconds; set per server by ``app.live.transport.http_protocol``
    _deadline: Any = None

    def setup(self) -> None:
        """eventlet's setup, with Nagle's algorithm off for this connection (TCP_NODELAY)."""
        # An answer over eventlet's 16 KB write buffer goes out as two writes, headers then
        # body; with Nagle on, the body's last segment waited for the client's delayed ACK
        # of the headers: every 30-58 KB figure GET on a keep-alive connection took 44 ms
        # (bench/keepalive.py). WebSocket frames, one write each, go out at once too.
        try:
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except (OSError, AttributeError):  # not TCP (a Unix socket), or already gone
            pass
        super().setup()

    def handle_one_request(self) -> None:
        """One request, its line and headers read within ``header_timeout`` seconds."""
        self._deadline = eventlet.Timeout(self.header_timeout, HeaderTimeout())
        try:
            super().handle_one_request()
        finally:
            self._deadline.cancel()

    def parse_request(self) -> bool:
        """eventlet's (the standard library's) parsing, then the framing checks."""
        parsed = bool(super().parse_request())
        self._deadline.cancel()  # the headers are in
        if not parsed:
            return False
        problem = framing_problem(self.headers)
        if problem is not None:
            self._refuse(*problem)
            return False
        websocket = (self.headers.get("Upgrade") or "").lower() == "websocket"
        self.connection.settimeout(None if websocket else self.header_timeout)
        return True

    def _refuse(self, status: int, reason: str) -> None:
        body = f"{reason}\n".encode()
        phrase = {400: "Bad Request", 501: "Not Implemented"}[status]
        self.wfile.write(f"HTTP/1.1 {status} {phrase}\r\nConnection: close\r\n"
                         f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n\r\n"
                         .encode() + body)
        self.wfile.flush()
        self.close_connection = 1

    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        if (self.headers.get("Transfer-Encoding") or "").strip().lower() == "chunked":
            environ["wsgi.input_terminated"] = True
        return environ
