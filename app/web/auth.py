"""Who may change dashboards: the admin bearer token, or a browser session signed in with it.

A script sends ``Authorization: Bearer <DASH_ADMIN_TOKEN>`` and needs nothing else. A
browser signs in once at ``/login`` (the session cookie is signed with
``DASH_SECRET_KEY``) and every write it makes carries a CSRF token, checked by
Flask-WTF's ``CSRFProtect``: a page on another site can make the browser send the
cookie, but cannot read the token. Bearer calls need no CSRF token: no browser adds an
``Authorization`` header by itself.
"""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_wtf.csrf import CSRFProtect
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import Forbidden, Unauthorized
from werkzeug.wrappers import Response as BaseResponse

bp = Blueprint("auth", __name__)
SESSION_KEY = "admin"
OFF = "dashboard editing is off: set DASH_ADMIN_TOKEN to turn it on"


def _token() -> str | None:
    token: str | None = current_app.config["ADMIN_TOKEN"]
    return token or None


def _fingerprint(token: str) -> str:
    """What the session keeps of the token: changing the token signs every browser out."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"admin:" + token.encode(), hashlib.sha256).hexdigest()


def signed_in() -> bool:
    """True when this browser session signed in with the current admin token."""
    token = _token()
    kept = session.get(SESSION_KEY)
    return bool(token and isinstance(kept, str)
                and hmac.compare_digest(kept, _fingerprint(token)))


def _matches(given: str, token: str) -> bool:
    # compare_digest takes the same time wherever the strings differ.
    return hmac.compare_digest(given.encode(), token.encode())


def require_admin() -> str:
    """Allow a write, or raise: 403 while no token is set, 401 without a valid bearer token
    or signed-in session, 400 (``CSRFError``) for a session write without its CSRF token.

    Returns how the caller was let in: ``"bearer"`` or ``"session"``.
    """
    token = _token()
    header = request.headers.get("Authorization")
    if token is None:
        raise Forbidden(OFF)
    if header is not None:
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not _matches(given.strip(), token):
            raise Unauthorized("wrong admin token: send Authorization: Bearer "
                               "<DASH_ADMIN_TOKEN>", www_authenticate=WWWAuthenticate("bearer"))
        return "bearer"
    if not signed_in():
        raise Unauthorized("sign in at /login, or send Authorization: Bearer "
                           "<DASH_ADMIN_TOKEN>", www_authenticate=WWWAuthenticate("bearer"))
    current_app.extensions["csrf"].protect()
    return "session"


def safe_next(target: str | None, default: str) -> str:
    """``target`` if it is a path on this site (never another host: no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return default
    return target


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse:
    """Sign this browser in with the admin token (a form); back to ``next`` after."""
    target = safe_next(request.values.get("next"), url_for("dashboards.index"))
    error, status = None, 200
    if _token() is None:
        error, status = OFF, 403
    elif request.method == "POST":
        current_app.extensions["csrf"].protect()  # no signing in from another site's form
        token = _token()
        assert token is not None
        if _matches(request.form.get("token", "").strip(), token):
            session[SESSION_KEY] = _fingerprint(token)
            return redirect(target, 303)
        error, status = "that is not the admin token; it is DASH_ADMIN_TOKEN of the server " \
                        "(./dev serve prints where it is kept)", 401
    return make_response(render_template("login.html", error=error, next=target,
                                         signed_in=signed_in()), status)


@bp.post("/logout")
def logout() -> BaseResponse:
    """Sign this browser out."""
    current_app.extensions["csrf"].protect()
    session.pop(SESSION_KEY, None)
    return redirect(safe_next(request.form.get("next"), url_for("dashboards.index")), 303)


def register(app: Flask) -> None:
    """CSRF protection (checked only where ``require_admin`` asks), sign-in routes,
    and the ``admin()`` template global."""
    CSRFProtect(app)  # in app.extensions["csrf"]; adds csrf_token() to templates
    app.register_blueprint(bp)
    app.add_template_global(signed_in, "admin")
