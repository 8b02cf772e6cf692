"""Domain errors at the web edge: each kind its status, a defined answer for kinds not mapped."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


@pytest.fixture
def app_config(app_config: dict[str, Any], data_dir: Path) -> dict[str, Any]:
    """The test app, with a dashboard "fleet" of one panel over ``hosts``."""
    (data_dir / "dashboards").mkdir()
    (data_dir / "dashboards" / "fleet.json").write_text(json.dumps({
        "title": "Fleet", "panels": [{"id": "cpu", "type": "timeseries", "dataset": "hosts",
                                      "query": "metric=cpu"}]}))
    return app_config


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


def test_view_and_dashboard_url_errors_are_the_one_kind_of_url_parameter_error() -> None:
    from app.data.dashboards import OverrideError
    from app.data.errors import ParamError
    from app.engine.view import ViewError

    error = ViewError("window", "'3x' is not a duration", [("window", "'3x' is not a duration"),
                                                           ("agg", "'median' is not one")])
    assert isinstance(error, ParamError) and not isinstance(error, OverrideError)
    assert (error.param, error.message) == ("window", "'3x' is not a duration")
    assert error.params == ("window", "agg")
    assert str(error) == "window: '3x' is not a duration; agg: 'median' is not one"
    override = OverrideError("tz", "'Mars' is not an IANA time zone")
    assert isinstance(override, ParamError)
    assert override.problems == (("tz", "'Mars' is not an IANA time zone"),)
    assert str(override) == "tz: 'Mars' is not an IANA time zone"


@pytest.mark.parametrize("poll", ["/api/d/hosts/poll", "/api/dashboards/fleet/poll"])
@pytest.mark.parametrize("timeout", ["x", "-1", "60.5", "nan", "inf", ""])
def test_both_long_polls_refuse_the_same_timeouts(app: Flask, poll: str, timeout: str) -> None:
    response = app.test_client().get(f"{poll}?timeout={timeout}")
    assert response.status_code == 400
    # No "errors" list: that claims every parameter was checked, which only a view's is.
    assert response.json == {"error": "timeout: seconds from 0 to 60", "param": "timeout"}


DURATION_RULE = ("is not a duration: a whole number and a unit, s, m, h, d or w "
                 "(90s, 15m, 2h, 7d), at most 100 years; or all")
WINDOW = f"window: '3x' {DURATION_RULE}"  # a dashboard URL's and a view's alike


@pytest.mark.parametrize("window", ["2x", "-1h", "0s"])
def test_a_dashboard_url_and_a_view_refuse_a_window_in_the_same_words(
        app: Flask, window: str) -> None:
    client = app.test_client()
    view = client.get(f"/api/d/hosts/figure?window={window}")
    dashboard = client.get(f"/api/dashboards/fleet/poll?window={window}&timeout=0")
    message = f"window: '{window}' {DURATION_RULE}"
    assert (view.status_code, view.json["error"]) == (400, message)
    assert (dashboard.status_code, dashboard.json["error"]) == (400, message)


@pytest.mark.parametrize("url, headers, message, fragment", [
    ("/dashboards/fleet/panels/cpu?window=3x", {"HX-Request": "true"}, WINDOW, True),
    ("/page?window=3x", {}, WINDOW, False),  # a page that lets the error through
])
def test_a_bad_parameter_on_a_page_is_an_html_page_with_its_status_and_message(
        app: Flask, url: str, headers: dict[str, str], message: str, fragment: bool) -> None:
    def page() -> str:
        from flask import request

        from app.engine.view import parse_view
        parse_view(list(request.args.items(multi=True)), ("cpu",), ("host",))
        return "never"

    app.add_url_rule("/page", view_func=page)
    response = app.test_client().get(url, headers=headers)
    assert (response.status_code, response.mimetype) == (400, "text/html")
    html = response.get_data(as_text=True)
    assert f"<p>{message}</p>".replace("'", "&#39;") in html
    assert ("<html" not in html) is fragment  # HTMX swaps the problem in; a page is whole
    assert "HX-Request" in response.headers["Vary"]


@pytest.mark.parametrize("url, body", [
    ("/api/d/hosts/figure?window=3x",
     {"error": WINDOW, "param": "window", "errors": [
         {"param": "window", "message": WINDOW.removeprefix("window: ")}]}),
    ("/api/dashboards/fleet/poll?window=3x&timeout=0", {"error": WINDOW, "param": "window"}),
])
def test_a_bad_parameter_of_the_api_stays_json(app: Flask, url: str,
                                               body: dict[str, Any]) -> None:
    response = app.test_client().get(url)
    assert (response.status_code, response.json) == (400, body)


def test_several_bad_parameters_on_a_page_are_listed_one_by_one(app: Flask) -> None:
    def page() -> str:
        from app.engine.view import ViewError
        raise ViewError("window", "'3x' is not a duration",
                        [("window", "'3x' is not a duration"), ("agg", "'median' is not one")])

    app.add_url_rule("/page", view_func=page)
    html = app.test_client().get("/page").get_data(as_text=True)
    assert "<li><strong>window</strong>: &#39;3x&#39; is not a duration</li>" in html
    assert "<li><strong>agg</strong>: &#39;median&#39; is not one</li>" in html


@pytest.mark.parametrize("url, error, param", [
    ("/api/d/hosts/poll?since=x&timeout=x", "since: 'x' is not a version (0, 1, 2...)", "since"),
    ("/api/d/hosts/rows?format=xml", "format: 'xml' is not one of csv, json", "format"),
    ("/api/dashboards/fleet/poll?cursor=%21&timeout=0",
     "cursor: not a cursor this endpoint gave; leave it out to get every panel", "cursor"),
])
def test_a_bad_parameter_outside_a_view_is_named_alone(app: Flask, url: str, error: str,
                                                      param: str) -> None:
    response = app.test_client().get(url)
    assert (response.status_code, response.json) == (400, {"error": f"{error}",
                                                           "param": param})
