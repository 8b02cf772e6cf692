"""Sessions (``app.web.sessions``): Flask's signed cookies, one serializer per key."""
from __future__ import annotations

from flask import Flask, session

from app.web.sessions import SessionInterface


def test_the_serializer_is_made_once_per_key_and_anew_when_the_key_changes(app: Flask
                                                                          ) -> None:
    interface = app.session_interface
    assert isinstance(interface, SessionInterface)
    first = interface.get_signing_serializer(app)
    assert first is not None and interface.get_signing_serializer(app) is first
    app.secret_key = "another key"
    second = interface.get_signing_serializer(app)
    assert second is not None and second is not first
    app.config["SECRET_KEY_FALLBACKS"] = ["the old key"]
    third = interface.get_signing_serializer(app)
    assert third is not second  # a cookie signed with a fallback key still reads
    app.secret_key = None
    assert interface.get_signing_serializer(app) is None  # no key: Flask's null session


def test_a_session_written_is_read_back_and_a_changed_key_drops_it(app: Flask) -> None:
    @app.get("/_put")
    def put() -> str:
        session["seen"] = "yes"
        return "ok"

    @app.get("/_get")
    def get() -> str:
        return str(session.get("seen"))

    client = app.test_client()
    client.get("/_put")
    assert client.get("/_get").data == b"yes"
    app.secret_key = "a new key"
    assert client.get("/_get").data == b"None"  # signed with the old key: not believed
