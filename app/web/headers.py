"""Security headers on every response, Socket.IO's included (WSGI middleware).

Flask-Talisman sets the same headers, but from Flask's ``after_request``: the answers
Engine.IO's middleware gives on ``/socket.io/`` never pass through Flask, and it adds
HSTS and an HTTPS redirect this server (HTTP behind a proxy) must not send. Three
fixed headers need no library.

The policy allows scripts, styles, images, fonts and connections (XHR, WebSocket)
from the page's own origin only, and no inline script: templates load every script
from ``static/`` and htmx's settings are a ``<meta>`` (which also turns off htmx's own
``<style>`` and its eval). Two exceptions, found in Chromium with the browser tests:

- ``style-src 'unsafe-inline'``: plotly.js 4.1 sets ``style`` attributes on the SVG it
  draws and adds its rules with a ``<style>`` element; with ``style-src 'self'`` one
  view page logged 134 violations and the mode bar lost its layout (plotly.js issues
  2355 and 7543, still open). Inline CSS cannot run script: XSS stays closed.
- ``img-src data: blob:``: plotly's "download plot as a PNG" draws through a blob URL.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Any], Any]
log = logging.getLogger("dash.web")


def content_security_policy(frame_ancestors: Iterable[str] = ()) -> str:
    """The page policy; ``frame_ancestors`` (``DASH_FRAME_ANCESTORS``) may embed pages."""
    embedders = " ".join(frame_ancestors) or "'none'"
    return ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; object-src 'none'; "
            f"base-uri 'self'; form-action 'self'; frame-ancestors {embedders}")


def fixed_headers(frame_ancestors: Iterable[str] = ()) -> list[tuple[str, str]]:
    """CSP, ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``: what
    every answer carries (the HTTP protocol's own answers too: ``wsgi.py`` passes them on)."""
    return [("Content-Security-Policy", content_security_policy(frame_ancestors)),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "same-origin")]


def security_headers(app: WSGIApp, frame_ancestors: Iterable[str] = ()) -> WSGIApp:
    """Add ``fixed_headers`` to every response that does not set them itself; an error
    that escapes ``app`` before it answered is a 500 with them too (eventlet's own 500
    has none)."""
    added = fixed_headers(frame_ancestors)

    def wrap(environ: dict[str, Any], start_response: Any) -> Any:
        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            headers.extend(h for h in added if h[0].lower() not in present)
            return start_response(status, headers, exc_info) if exc_info is not None \
                else start_response(status, headers)
        try:
            return app(environ, start)
        except Exception:
            log.exception("unhandled error", extra={"event": "error",
                                                    "path": environ.get("PATH_INFO")})
            body = b"internal server error\n"
            start("500 Internal Server Error", [("Content-Type", "text/plain"),
                                                ("Content-Length", str(len(body)))],
                  sys.exc_info())
            return [body]
    return wrap
