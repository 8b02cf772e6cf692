"""Is a browser's ``Origin`` this server's own? Compared the way browsers compare origins."""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .hosts import PROXIED

DEFAULT_PORTS = {"http": 80, "https": 443}


def same_origin(origin: str, host: str, scheme: str | None = None) -> bool:
    """True if ``origin`` (``https://dash.example.com``) names the server a request reached.

    ``host`` is the request's Host (``dash.example.com:443``); ``scheme`` is the scheme
    the browser used when it is known (a trusted proxy said so), else None and only
    host and port are compared. Host names compare without case; a missing port is
    the scheme's default (80, 443). Anything malformed is not the same origin.
    """
    try:
        theirs = urlsplit(origin.strip())
        ours = urlsplit("//" + host.strip())
        if theirs.scheme not in DEFAULT_PORTS or not theirs.hostname or not ours.hostname:
            return False
        if scheme is not None and theirs.scheme != scheme:
            return False
        their_port = theirs.port or DEFAULT_PORTS[theirs.scheme]
        our_port = ours.port or DEFAULT_PORTS.get(scheme or theirs.scheme)
    except ValueError:  # a port that is not a number, brackets that do not close...
        return False
    if theirs.path not in ("", "/") or theirs.query or theirs.username is not None:
        return False
    return theirs.hostname == ours.hostname and their_port == our_port


def origin_checker(extra: Iterable[str],
                   trusted_scheme: bool = False) -> Callable[[str | None, Mapping[str, Any]],
                                                             bool]:
    """python-socketio's ``cors_allowed_origins`` callable: the page's own origin plus the
    ``extra`` origins. The own origin is the request's Host, which ``app.web.hosts`` has
    checked is an allowed name (so a rebinding page's origin never matches); its scheme
    is compared too when ``trusted_scheme`` and a trusted proxy said which it was."""
    allowed = {o.strip().rstrip("/").lower() for o in extra}

    def check(origin: str | None, environ: Mapping[str, Any]) -> bool:
        if origin is None:
            return True  # not a browser: no cross-site request to defend against
        scheme = environ.get("wsgi.url_scheme") if trusted_scheme and environ.get(PROXIED) \
            else None
        if same_origin(origin, environ.get("HTTP_HOST", ""), scheme):
            return True
        return origin.strip().rstrip("/").lower() in allowed

    return check
