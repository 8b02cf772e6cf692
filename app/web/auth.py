"""Who may change dashboards: the admin bearer token, or a browser session signed in with it.

A script sends ``Authorization: Bearer <DASH_ADMIN_TOKEN>`` and needs nothing else. A
browser signs in once at ``/login`` (the session cookie is signed with
``DASH_SECRET_KEY``) and every write it makes carries a CSRF token, checked by
Flask-WTF's ``CSRFProtect``: a page on another site can make the browser send the
cookie, but cannot read the token. Bearer calls need no CSRF token: no browser adds an
``Authorization`` header by itself.

A sign-in is revocable: the session carries a random login id that the server keeps (in
``Logins``, in this process's memory; in cluster mode ``RedisLogins``, so every process
honours it and a process's death signs nobody out) until ``/logout`` ends it, so a copy of
the cookie taken before signing out is worth nothing after. Without Redis a restart signs
every browser out.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
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

from ..data.errors import Unavailable
from ..data.redislog import TRANSPORT_ERRORS, connect

bp = Blueprint("auth", __name__)
SESSION_KEY = "admin"
LOGIN_KEY = "login"
OFF = "dashboard editing is off: set DASH_ADMIN_TOKEN to turn it on"
MAX_LOGINS = 1000  # sign-ins kept; past it the oldest ends (it signs in again)
LOGIN_SECONDS = 30 * 24 * 3600  # a sign-in kept in Redis ends after this (signs in again)
REDIS_TIMEOUT = 1.0  # seconds a hung Redis may hold a sign-in check (as dashboards do)


class Logins:
    """The browser sign-ins still valid: random ids, made at sign-in, ended at sign-out."""

    def __init__(self, limit: int = MAX_LOGINS) -> None:
        self.limit = limit
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def start(self) -> str:
        """A new sign-in's id (for its session)."""
        login_id = secrets.token_urlsafe(24)
        with self._lock:
            self._ids[login_id] = None
            while len(self._ids) > self.limit:
                self._ids.popitem(last=False)
        return login_id

    def valid(self, login_id: object) -> bool:
        """True while the sign-in ``login_id`` has not been ended."""
        with self._lock:
            return isinstance(login_id, str) and login_id in self._ids

    def end(self, login_id: object) -> None:
        """End a sign-in: every copy of its session cookie stops working."""
        with self._lock:
            if isinstance(login_id, str):
                self._ids.pop(login_id, None)


class RedisLogins:
    """``Logins`` kept in Redis (cluster mode): a sign-in made at one process is honoured
    at every other, and a sign-out at one ends it at all of them."""

    def __init__(self, url: str, prefix: str, seconds: int = LOGIN_SECONDS) -> None:
        self.prefix = prefix
        self.seconds = seconds
        self._client = connect(url, REDIS_TIMEOUT)

    def _key(self, login_id: str) -> str:
        return f"{self.prefix}login:{login_id}"

    def start(self) -> str:
        """A new sign-in's id (for its session); ``Unavailable`` while Redis is away."""
        login_id = secrets.token_urlsafe(24)
        try:
            self._client.set(self._key(login_id), b"1", ex=self.seconds)
        except TRANSPORT_ERRORS:
            raise Unavailable("signing in needs Redis, which cannot be reached now; try "
                              "again in a moment", 1) from None
        return login_id

    def valid(self, login_id: object) -> bool:
        """True while the sign-in ``login_id`` has not been ended (False while Redis is
        away: nothing that needs a sign-in works without it anyway)."""
        if not isinstance(login_id, str):
            return False
        try:
            return bool(self._client.exists(self._key(login_id)))
        except TRANSPORT_ERRORS:
            return False

    def end(self, login_id: object) -> None:
        """End a sign-in at every process; ``Unavailable`` while Redis is away (the sign-out
        did not happen, and the browser is told so)."""
        if not isinstance(login_id, str):
            return
        try:
            self._client.delete(self._key(login_id))
        except TRANSPORT_ERRORS:
            raise Unavailable("signing out needs Redis, which cannot be reached now; try "
                              "again in a moment", 1) from None


def logins() -> Logins | RedisLogins:
    """The current app's sign-ins."""
    kept = current_app.extensions["dash_logins"]
    assert isinstance(kept, (Logins, RedisLogins))
    return kept


def editing_enabled() -> bool:
    """True when the server has an admin token, so dashboards can be edited at all."""
    return _token() is not None


def _token() -> str | None:
    token: str | None = current_app.config["ADMIN_TOKEN"]
    return token or None


def _fingerprint(token: str) -> str:
    """What the session keeps of the token: changing the token signs every browser out."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"admin:" + token.encode(), hashlib.sha256).hexdigest()


def signed_in() -> bool:
    """True when this browser session signed in with the current admin token, and has not
    signed out since."""
    token = _token()
    kept = session.get(SESSION_KEY)
    return bool(token and isinstance(kept, str)
                and hmac.compare_digest(kept, _fingerprint(token))
                and logins().valid(session.get(LOGIN_KEY)))


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
                           "<DASH_ADMIN_TOKEN>", www_authenticate=WWWAuthenticate("bearer"),
                           response=_sign_in_page() if _from_a_form() else None)
    current_app.extensions["csrf"].protect()
    return "session"


def _from_a_form() -> bool:
    """True for a browser's form (or htmx) write, which should get a page, not a line."""
    return request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data") \
        or "HX-Request" in request.headers


def _sign_in_page() -> BaseResponse:
    """401 as a page with a sign-in link back to the page the form was on (``next``)."""
    back = url_for("dashboards.index")
    if request.referrer:
        parts = urlsplit(request.referrer)
        if parts.netloc == request.host:
            back = safe_next(parts.path + (f"?{parts.query}" if parts.query else ""), back)
    page = make_response(render_template("signin_needed.html", next=back,
                                         kept=g.get("kept_typed", False)), 401)
    page.headers["WWW-Authenticate"] = "Bearer"
    if "HX-Request" in request.headers:  # htmx swaps nothing on a 401: go to the page
        page.headers["HX-Redirect"] = url_for("auth.login", next=back)
    return page


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
            logins().end(session.get(LOGIN_KEY))
            session[SESSION_KEY] = _fingerprint(token)
            session[LOGIN_KEY] = logins().start()
            return redirect(target, 303)
        error, status = "that is not the admin token; it is DASH_ADMIN_TOKEN of the server " \
                        "(./dev serve prints where it is kept)", 401
    return make_response(render_template("login.html", error=error, next=target,
                                         signed_in=signed_in()), status)


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> BaseResponse:
    """Sign this browser out (POST, with its CSRF token); GET (``/logout`` typed into the
    address bar) answers a page with the sign-out button."""
    target = safe_next(request.values.get("next"), url_for("dashboards.index"))
    if request.method == "GET":
        return make_response(render_template("logout.html", next=target,
                                             signed_in=signed_in()))
    current_app.extensions["csrf"].protect()
    logins().end(session.pop(LOGIN_KEY, None))  # copies of the cookie end with it
    session.pop(SESSION_KEY, None)
    return redirect(target, 303)


def register(app: Flask) -> None:
    """CSRF protection (checked only where ``require_admin`` asks), the sign-in attempts
    kept, and the ``admin()`` template global (the sign-in routes are ``bp``)."""
    CSRFProtect(app)  # in app.extensions["csrf"]; adds csrf_token() to templates
    app.extensions["dash_logins"] = RedisLogins(app.config["REDIS_URL"],
                                                app.config["REDIS_PREFIX"]) \
        if app.config.get("REDIS_URL") else Logins()
    app.add_template_global(signed_in, "admin")
    app.add_template_global(editing_enabled)
