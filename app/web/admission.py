"""Admission of requests that wait for news (WSGI middleware).

Long-polls (``/api/d/<name>/poll``, ``/api/dashboards/<name>/poll``) and Socket.IO's
polling GETs each hold one of the server's connection slots for up to a minute.
Unbounded, 1,100 of them made ``/``,
``/healthz``, ingest and the Socket.IO handshake wait 35.7 s, and 1,100 Socket.IO
polling clients made ``/`` time out. Here at most ``max_waiting`` wait at once
(``DASH_MAX_WAITING``, below the pool size) and at most ``max_per_client`` from one
address (``DASH_MAX_WAITING_PER_IP``); the others get 503 with ``Retry-After`` at once,
which the clients (dash.js, dashboard.js, socket.io-client) take as "try again later".
"""
from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    # Engine.IO's handshake (no sid yet) answers at once: new clients may always start.
    query = environ.get("QUERY_STRING", "")
    return path.startswith("/socket.io/") and "transport=polling" in query and "sid=" in query


@dataclass
class Admission:
    """Counts of waiting requests, in all and per client address (thread-safe)."""

    max_waiting: int
    max_per_client: int
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
            if not waits(environ):
                return app(environ, start_response)
            client = environ.get("REMOTE_ADDR", "")
            refusal = self.enter(client)
            if refusal is not None:
                body = dumps({"error": f"too busy: {refusal}; try again in {RETRY_AFTER} s"})
                start_response("503 Service Unavailable",
                               [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body))),
                                ("Retry-After", str(RETRY_AFTER))])
                return [body]
            try:  # both wait inside the call, before they return their (short) answer
                return app(environ, start_response)
            finally:
                self.leave(client)
        return admit
