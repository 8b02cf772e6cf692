"""Which Host names this server answers to, and which proxies it believes (WSGI middleware).

Both wrap the whole app, Socket.IO's Engine.IO middleware included: Flask's own
``TRUSTED_HOSTS`` would only cover Flask's routes, and ``/socket.io/`` answered any
Host, so a page from ``http://evil.example:5000`` re-pointed at 127.0.0.1 by DNS
(rebinding) was "same origin" and got a WebSocket and data.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.sansio.utils import host_is_trusted

from ..jsoncodec import dumps

WSGIApp = Callable[[dict[str, Any], Any], Any]
ALWAYS_ALLOWED = ("localhost", "127.0.0.1", "::1")
FORWARDED = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
             "HTTP_X_FORWARDED_PORT", "HTTP_X_FORWARDED_PREFIX", "HTTP_FORWARDED")
# Set on requests that came through a trusted proxy: their scheme is the browser's.
PROXIED = "dash.proxied"


def allowed_hosts(listen_host: str, extra: Iterable[str]) -> tuple[str, ...]:
    """The names ``Host`` may carry: localhost, 127.0.0.1, ::1, the listening address and
    ``extra`` (``DASH_ALLOWED_HOSTS``), lower case, IPv6 literals in brackets; a name
    starting with a dot allows its subdomains (Werkzeug's rule)."""
    names = []
    for name in (*ALWAYS_ALLOWED, listen_host, *extra):
        name = name.strip().lower()
        if ":" in name and not name.startswith("["):
            name = f"[{name}]"  # how an IPv6 address appears in Host
        elif not name.isascii():
            name = name.encode("idna").decode("ascii")  # how browsers send such names
        if name and name not in names:
            names.append(name)
    return tuple(names)


def is_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """True if the ``Host`` value ``host`` (``name[:port]``) names one of ``allowed``.

    Werkzeug's ``host_is_trusted`` checks the value's form; it cannot compare the
    name itself, since it cuts a trusted name at its first ":" ("[::1]" becomes "[").
    """
    host = host.strip().lower()
    if not host_is_trusted(host):  # letters, digits, dots, dashes, [IPv6], a valid port
        return False
    name = host[:host.index("]") + 1] if host.startswith("[") else host.partition(":")[0]
    return any(name == ref.lstrip(".") or (ref.startswith(".") and name.endswith(ref))
               for ref in allowed)


def host_checker(app: WSGIApp, allowed: tuple[str, ...]) -> WSGIApp:
    """400 for a ``Host`` not in ``allowed`` (compared without case or port), on every path."""
    def check(environ: dict[str, Any], start_response: Any) -> Any:
        host = environ.get("HTTP_HOST", "").strip().lower()
        if is_allowed(host, allowed):
            return app(environ, start_response)
        body = dumps({"error": f"this server does not answer to the host name {host!r}; "
                               "its operator can add it to DASH_ALLOWED_HOSTS"})
        start_response("400 Bad Request", [("Content-Type", "application/json"),
                                           ("Content-Length", str(len(body)))])
        return [body]
    return check


def proxy_fixer(app: WSGIApp, proxies: Iterable[str]) -> WSGIApp:
    """Believe ``X-Forwarded-For``/``-Proto``/``-Host`` only from the ``proxies`` addresses
    or networks (``DASH_TRUSTED_PROXIES``), through Werkzeug's ProxyFix (one hop each);
    from anyone else they are removed, so nothing further in can be fooled by them."""
    networks = [ipaddress.ip_network(p.strip(), strict=False) for p in proxies if p.strip()]
    fixed = ProxyFix(app, x_for=1, x_proto=1, x_host=1)

    def trusted(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in networks)

    def fix(environ: dict[str, Any], start_response: Any) -> Any:
        if networks and trusted(environ.get("REMOTE_ADDR", "")):
            environ[PROXIED] = "HTTP_X_FORWARDED_PROTO" in environ
            return fixed(environ, start_response)
        for key in FORWARDED:
            environ.pop(key, None)
        return app(environ, start_response)
    return fix
