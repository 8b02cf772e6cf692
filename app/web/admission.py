"""Admission of requests that wait for news, and of new Socket.IO connections (WSGI
middleware).

Long-polls (``/api/d/<name>/poll``, ``/api/dashboards/<name>/poll``) and Socket.IO's
polling GETs each hold one of the server's connection slots for up to a minute.
Unbounded, 1,100 of them made ``/``,
``/healthz``, ingest and the Socket.IO handshake wait 35.7 s, and 1,100 Socket.IO
polling clients made ``/`` time out. Here at most ``max_waiting`` wait at once
(``DASH_MAX_WAITING``, below the pool size) and at most ``max_per_client`` from one
address (``DASH_MAX_WAITING_PER_IP``); the others get 503 with ``Retry-After`` at once,
which the clients (dash.js, dashboard.js, socket.io-client) take as "try again later".

A new Socket.IO connection (Engine.IO's handshake) from an address whose connections watch
its budget of live views already (``DASH_MAX_VIEWS_PER_IP``, ``Rooms.arrival_refusal``)
gets 429 with ``Retry-After``: WebSockets leave the connection pool, so nothing else
bounded how many one client opened.
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from ..jsoncodec import dumps

WSGIApp = Callable[[dict[str, Any], Any], Any]
LONG_POLL = re.compile(r"/api/(d|dashboards)/[^/]+/poll")
RETRY_AFTER = 5  # seconds


def waits(environ: dict[str, Any]) -> bool:
    """True for a request that may wait for news: a long-poll or a Socket.IO polling GET."""
    if environ.get("REQUEST_METHOD") != "GET":
        return False
    path = environ.get("PATH_INFO", "")
    if LONG_POLL.fullmatch(path):
        return True
    if not path.startswith("/socket.io/"):
        return False
    # Read as Engine.IO reads it (``engineio.Server.handle_request``): parse_qs decodes
    # ``%73id=`` to ``sid``, and no ``transport`` means polling. Looking for the substrings
    # ``transport=polling`` and ``sid=`` let such polls past the limits. Engine.IO's
    # handshake (no sid yet) answers at once: new clients may always start.
    query = parse_qs(environ.get("QUERY_STRING", ""))
    return "sid" in query and query.get("transport", ["polling"])[0] == "polling"


def is_handshake(environ: dict[str, Any]) -> bool:
    """True for Engine.IO's handshake: a GET to ``/socket.io/`` without a ``sid`` (read as
    Engine.IO reads it), by polling or as a WebSocket upgrade."""
    return (environ.get("REQUEST_METHOD") == "GET"
            and environ.get("PATH_INFO", "").startswith("/socket.io/")
            and "sid" not in parse_qs(environ.get("QUERY_STRING", "")))


def _refuse(start_response: Any, status: str, message: str) -> list[bytes]:
    body = dumps({"error": f"{message}; try again in {RETRY_AFTER} s"})
    start_response(status, [("Content-Type", "application/json"),
                            ("Content-Length", str(len(body))),
                            ("Retry-After", str(RETRY_AFTER))])
    return [body]


@dataclass
class Admission:
    """Counts of waiting requests, in all and per client address (thread-safe); and who
    may open a new Socket.IO connection (``arrivals``: address -> None, or why not)."""

    max_waiting: int
    max_per_client: int
    arrivals: Callable[[str], str | None] | None = None
    waiting: int = 0
    by_client: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enter(self, client: str) -> str | None:
        """Take a place for ``client``; None if taken, else why not (a place is full)."""
        with self._lock:
            if self.waiting >= self.max_waiting:
                self.refused += 1
                return (f"{self.max_waiting} requests are waiting for updates already "
                        "(DASH_MAX_WAITING)")
            mine = self.by_client.get(client, 0)
            if mine >= self.max_per_client:
                self.refused += 1
                return (f"{self.max_per_client} requests from your address are waiting for "
                        "updates already (DASH_MAX_WAITING_PER_IP)")
            self.waiting += 1
            self.by_client[client] = mine + 1
            return None

    def leave(self, client: str) -> None:
        """Give ``client``'s place back."""
        with self._lock:
            self.waiting -= 1
            left = self.by_client[client] - 1
            if left:
                self.by_client[client] = left
            else:
                del self.by_client[client]

    def wrap(self, app: WSGIApp) -> WSGIApp:
        """``app`` with waiting requests admitted through this object."""
        def admit(environ: dict[str, Any], start_response: Any) -> Any:
            client = environ.get("REMOTE_ADDR", "")
            if not waits(environ):
                if self.arrivals is not None and is_handshake(environ):
                    refusal = self.arrivals(client)
                    if refusal is not None:
                        return _refuse(start_response, "429 Too Many Requests", refusal)
                return app(environ, start_response)
            refusal = self.enter(client)
            if refusal is not None:
                return _refuse(start_response, "503 Service Unavailable", f"too busy: {refusal}")
            try:  # both wait inside the call, before they return their (short) answer
                return app(environ, start_response)
            finally:
                self.leave(client)
        return admit
