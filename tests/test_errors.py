"""Domain errors at the web edge: each kind its status, a defined answer for kinds not mapped."""
from __future__ import annotations

import pytest
from flask import Flask

from app.data.errors import (
    Conflict,
    DataError,
    Rejected,
    StorageFull,
    TooLarge,
    Unavailable,
)


class Unmapped(Conflict):
    """A kind of conflict added later: it takes the status of the kind it refines."""


class Unforeseen(DataError):
    """A kind of refusal nobody gave a status yet."""


@pytest.mark.parametrize("error, status", [
    (Rejected("point 3: cpu is not a number"), 400),
    (TooLarge("over 1,000,000 bytes"), 413),
    (Conflict("version 2 is not the current one"), 409),
    (Unmapped("version 2 is not the current one"), 409),
    (StorageFull("the disk is full"), 507),
    (Unavailable("redis is away"), 503),
    (Unforeseen("the log refused it"), 500),
    (DataError("the log refused it"), 500),
])
def test_every_data_error_answers_with_a_status_and_its_message(
        app: Flask, error: DataError, status: int) -> None:
    def refuse() -> str:
        raise error

    app.add_url_rule("/api/refuse", view_func=refuse)
    response = app.test_client().get("/api/refuse")
    assert response.status_code == status
    assert response.is_json and response.json["error"] == error.message


def test_an_unforeseen_data_error_is_logged_by_kind(app: Flask,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    def refuse() -> str:
        raise Unforeseen("the log refused it")

    app.add_url_rule("/api/refuse", view_func=refuse)
    with caplog.at_level("ERROR", logger="dash.errors"):
        assert app.test_client().get("/api/refuse").status_code == 500
    assert [r.kind for r in caplog.records] == ["Unforeseen"]  # type: ignore[attr-defined]


def test_a_view_error_is_the_one_kind_of_url_parameter_error() -> None:
    from app.data.dashboards import OverrideError
    from app.engine.view import ViewError

    error = ViewError("window", "'3x' is not a duration", [("window", "'3x' is not a duration"),
                                                           ("agg", "'median' is not one")])
    assert isinstance(error, OverrideError)
    assert (error.param, error.message) == ("window", "'3x' is not a duration")
    assert str(error) == "window: '3x' is not a duration; agg: 'median' is not one"


@pytest.mark.parametrize("poll", ["/api/d/hosts/poll", "/api/dashboards/fleet/poll"])
@pytest.mark.parametrize("timeout", ["x", "-1", "60.5", "nan", "inf", ""])
def test_both_long_polls_refuse_the_same_timeouts(app: Flask, poll: str, timeout: str) -> None:
    response = app.test_client().get(f"{poll}?timeout={timeout}")
    assert response.status_code == 400
    assert response.json == {"error": "timeout: seconds from 0 to 60", "param": "timeout",
                             "errors": [{"param": "timeout",
                                         "message": "seconds from 0 to 60"}]}
