"""Flask's signed-cookie sessions with the signing serializer made once per key, not per
request.

Flask opens the session of every request, ``/poll`` and Socket.IO's polls included, and
its ``SecureCookieSessionInterface`` builds a new ``URLSafeTimedSerializer`` each time,
whose constructor test-encodes ``{}`` to learn whether it writes text: ~10-20 µs of
server CPU per request under eventlet (py-spy, ``bench.fanout --poll 200``), before
looking whether the request has a session cookie at all. The cookie, its signing and
its checks are Flask's own, unchanged.
"""
from __future__ import annotations

import threading

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer


class SessionInterface(SecureCookieSessionInterface):
    """Flask's secure-cookie sessions, the serializer kept while the keys stay the same
    (``SECRET_KEY`` and ``SECRET_KEY_FALLBACKS`` are read on every request, as Flask does)."""

    def __init__(self) -> None:
        self._kept: tuple[tuple[object, ...], URLSafeTimedSerializer | None] | None = None
        self._lock = threading.Lock()

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        """Flask's serializer for ``app``'s current keys (None without a secret key)."""
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        kept = self._kept
        if kept is not None and kept[0] == keys:
            return kept[1]
        serializer = super().get_signing_serializer(app)
        with self._lock:
            self._kept = (keys, serializer)
        return serializer
