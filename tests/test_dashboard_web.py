"""Dashboards over HTTP: the JSON API (CRUD, versions, auth, CSRF, validation), the pages
(every panel drawn by the server, fragments for HTMX), editing forms and sign-in."""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.state import AppState

TOKEN = "admin-secret"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
# hosts (tests/samples.py): cpu 10, 11, 12 on web-1 (eu) and 20, 21, 22 on web-2 (us).
FLEET: dict[str, Any] = {
    "title": "Fleet",
    "window": "all",
    "panels": [
        {"id": "cpu", "title": "CPU", "type": "timeseries", "width": 8, "dataset": "hosts",
         "query": "metric=cpu&by=host", "thresholds": [{"value": 15, "color": "orange"},
                                                       {"value": 21, "color": "red"}]},
        {"id": "peak", "title": "CPU peak", "type": "stat", "width": 4, "dataset": "hosts",
         "query": "metric=cpu", "reduce": "max",
         "thresholds": [{"value": 15, "color": "orange"}, {"value": 21, "color": "red"}]},
        {"id": "rows", "title": "Rows", "type": "table", "dataset": "hosts",
         "query": "metric=mem&agg=raw"},
    ],
}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The test app with an admin token."""
    return {**app_config, "ADMIN_TOKEN": TOKEN}


def put(client: FlaskClient, name: str, doc: Any, headers: dict[str, str] | None = None,
        **extra: Any) -> Any:
    return client.put(f"/api/dashboards/{name}", data=json.dumps({**doc, **extra}),
                      content_type="application/json", headers=BEARER if headers is None
                      else headers)


def board_file(data_dir: Path, name: str) -> Path:
    return data_dir / "dashboards" / f"{name}.json"


def test_create_read_replace_delete(client: FlaskClient, data_dir: Path) -> None:
    created = put(client, "fleet", FLEET)
    assert (created.status_code, created.json) == (201, {"name": "fleet", "version": 1})
    read: dict[str, Any] = client.get("/api/dashboards/fleet").get_json()
    assert (read["name"], read["version"], read["title"]) == ("fleet", 1, "Fleet")
    assert read["panels"][0]["query"] == "metric=cpu&by=host"  # canonical, as stored
    assert client.get("/api/dashboards").json == [
        {"name": "fleet", "title": "Fleet", "panels": 3, "version": 1}]
    replaced = put(client, "fleet", {**read, "title": "Fleet 2"})  # a GET answer sent back
    assert (replaced.status_code, replaced.json) == (200, {"name": "fleet", "version": 2})
    assert json.loads(board_file(data_dir, "fleet").read_text())["title"] == "Fleet 2"
    assert client.delete("/api/dashboards/fleet", headers=BEARER).status_code == 204
    assert client.get("/api/dashboards/fleet").status_code == 404
    assert client.delete("/api/dashboards/fleet", headers=BEARER).status_code == 404
    assert not board_file(data_dir, "fleet").exists()


@pytest.mark.parametrize("version, expected", [
    (None, 2),  # creating over an existing dashboard
    (1, 2),  # an editor who loaded version 1 before someone saved version 2
    (7, 2),  # a version that never was
])
def test_a_stale_version_is_409_and_changes_nothing(
        client: FlaskClient, data_dir: Path, version: int | None, expected: int) -> None:
    put(client, "fleet", FLEET)
    put(client, "fleet", FLEET, version=1)
    before = board_file(data_dir, "fleet").read_bytes()
    extra: dict[str, Any] = {} if version is None else {"version": version}
    answer = put(client, "fleet", {**FLEET, "title": "Mine", **extra})
    assert answer.status_code == 409
    assert answer.json["version"] == expected
    assert "changed meanwhile" in answer.json["error"]
    assert board_file(data_dir, "fleet").read_bytes() == before


@pytest.mark.parametrize("headers, status", [
    ({}, 401),
    ({"Authorization": "Bearer wrong"}, 401),
    ({"Authorization": f"Basic {TOKEN}"}, 401),
    ({"Authorization": f"bearer {TOKEN}"}, 201),  # the scheme is case-insensitive
])
def test_writes_need_the_admin_token(client: FlaskClient, data_dir: Path,
                                     headers: dict[str, str], status: int) -> None:
    answer = put(client, "fleet", FLEET, headers=headers)
    assert answer.status_code == status
    assert board_file(data_dir, "fleet").exists() is (status == 201)
    if status == 401:
        assert "DASH_ADMIN_TOKEN" in answer.json["error"]
        assert answer.headers["WWW-Authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize("method", ["put", "delete"])
def test_writes_are_403_while_no_admin_token_is_set(app_config: dict[str, Any],
                                                    method: str) -> None:
    client = create_app({**app_config, "ADMIN_TOKEN": None}).test_client()
    answer = getattr(client, method)("/api/dashboards/fleet", data=json.dumps(FLEET),
                                     content_type="application/json", headers=BEARER)
    assert answer.status_code == 403
    assert "DASH_ADMIN_TOKEN" in answer.json["error"]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def sign_in(client: FlaskClient, token: str = TOKEN) -> Any:
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"token": token, "csrf_token": csrf_of(page),
                                       "next": "/dashboards"})


def test_a_signed_in_browser_writes_only_with_its_csrf_token(client: FlaskClient,
                                                             data_dir: Path) -> None:
    assert put(client, "fleet", FLEET, headers={}).status_code == 401  # not signed in
    answer = sign_in(client)
    assert (answer.status_code, answer.headers["Location"]) == (303, "/dashboards")
    refused = put(client, "fleet", FLEET, headers={})  # the cookie alone: CSRF
    assert refused.status_code == 400
    assert "CSRF" in refused.json["error"]
    assert not board_file(data_dir, "fleet").exists()
    token = csrf_of(client.get("/dashboards").get_data(as_text=True))
    assert put(client, "fleet", FLEET, headers={"X-CSRFToken": token}).status_code == 201


@pytest.mark.parametrize("token, status", [("wrong", 401), (TOKEN, 303)])
def test_login_takes_the_admin_token(client: FlaskClient, token: str, status: int) -> None:
    assert sign_in(client, token).status_code == status


def test_login_without_its_csrf_token_is_refused(client: FlaskClient) -> None:
    assert client.post("/login", data={"token": TOKEN}).status_code == 400
    assert put(client, "fleet", FLEET, headers={}).status_code == 401


def test_login_never_redirects_to_another_site(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    answer = client.post("/login", data={"token": TOKEN, "csrf_token": csrf_of(page),
                                         "next": "//evil.example/x"})
    assert answer.headers["Location"] == "/dashboards"


def test_logout_ends_the_session(client: FlaskClient) -> None:
    sign_in(client)
    page = client.get("/dashboards").get_data(as_text=True)
    assert "sign out" in page
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert "Sign in" in client.get("/dashboards").get_data(as_text=True)


def test_bearer_calls_need_no_csrf_token(client: FlaskClient) -> None:
    sign_in(client)  # a session cookie on the side changes nothing for a bearer call
    assert put(client, "fleet", FLEET).status_code == 201


@pytest.mark.parametrize("change, panel, field, message", [
    ({"width": 13}, "cpu", "width", "13 is not 1 to 12"),
    ({"dataset": "nope"}, "cpu", "dataset", "'nope' is not a dataset"),
    ({"query": "agg=median"}, "cpu", "query", "agg: 'median' is not one of"),
    ({"query": "colour=red"}, "cpu", "query", "colour: unknown parameter"),
    ({"type": "pie"}, "cpu", "type", "'pie' is not one of timeseries, stat, table"),
    ({"thresholds": [{"value": "high", "color": "red"}]}, "cpu", "thresholds[0].value",
     "must be a number"),
    ({"thresholds": [{"value": 1, "color": "url(x)"}]}, "cpu", "thresholds[0].color",
     "is not a CSS colour"),
])
def test_an_invalid_document_is_400_naming_panel_and_field(
        client: FlaskClient, data_dir: Path, change: dict[str, Any], panel: str, field: str,
        message: str) -> None:
    doc = {**FLEET, "panels": [{**FLEET["panels"][0], **change}, *FLEET["panels"][1:]]}
    answer = put(client, "fleet", doc)
    assert answer.status_code == 400
    [error] = answer.json["errors"]
    assert (error["panel"], error["field"]) == (panel, field)
    assert message in error["message"]
    assert not board_file(data_dir, "fleet").exists()


@pytest.mark.parametrize("body, content_type, status", [
    (b"{not json", "application/json", 400),
    (b'{"title": "a", "title": "b"}', "application/json", 400),
    (json.dumps(FLEET).encode(), "text/plain", 415),
    (b" " * (1 << 20) + b"{}", "application/json", 413),
])
def test_a_body_that_is_no_document_is_refused(client: FlaskClient, body: bytes,
                                               content_type: str, status: int) -> None:
    answer = client.put("/api/dashboards/fleet", data=body, content_type=content_type,
                        headers=BEARER)
    assert answer.status_code == status


def test_a_broken_file_is_listed_with_its_error(client: FlaskClient, data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    board_file(data_dir, "broken").write_text('{"title": "B", "panels": [{"id": "x"}]}')
    listed = {entry["name"]: entry for entry in client.get("/api/dashboards").json}
    assert listed["fleet"]["title"] == "Fleet"
    assert "type: is required" in listed["broken"]["error"]
    assert client.get("/api/dashboards/broken").status_code == 422
    page = client.get("/dashboards").get_data(as_text=True)
    assert "does not load" in page and "/dashboards/fleet" in page


def test_the_page_draws_every_panel_without_javascript(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    response = client.get("/dashboards/fleet")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "HX-Request" in response.headers["Vary"]
    # The chart: an SVG with one line per host and both threshold lines in their colours.
    chart = html[html.index('id="panel-cpu"'):html.index('id="panel-peak"')]
    assert chart.count('class="trace"') == 2
    assert re.search(r'class="threshold" data-value="15" [^>]*stroke="orange"', chart)
    assert re.search(r'class="threshold" data-value="21" [^>]*stroke="red"', chart)
    # The stat: max of all raw cpu points (22), at or above 21: red.
    stat = html[html.index('id="panel-peak"'):html.index('id="panel-rows"')]
    assert re.search(r'<text [^>]*fill="red">22</text>', stat)
    # The table: mem rows newest first.
    table = html[html.index('id="panel-rows"'):]
    assert table.index(">62<") < table.index(">50<")
    assert "newest 6 of 6 rows" in table


def test_the_stat_takes_the_colour_of_the_highest_threshold_reached(client: FlaskClient) -> None:
    stat = {**FLEET["panels"][1], "reduce": "min"}  # min is 10: below both thresholds
    put(client, "fleet", {**FLEET, "panels": [stat]})
    html = client.get("/dashboards/fleet").get_data(as_text=True)
    assert re.search(r'<text [^>]*fill="#1d2330">10</text>', html)


def test_overrides_change_every_panel_and_a_bad_one_is_a_400_page(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    html = client.get("/dashboards/fleet?host=web-1").get_data(as_text=True)
    assert 'data-query="metric=cpu&amp;host=web-1&amp;by=host"' in html
    assert re.search(r'<text [^>]*fill="#1d2330">12</text>', html)  # web-1's max: no colour
    bad = client.get("/dashboards/fleet?window=3x")
    assert bad.status_code == 400
    assert "window" in bad.get_data(as_text=True) and 'id="panel-cpu"' in bad.get_data(
        as_text=True)  # the panels as saved, with the message


def test_fragments_for_htmx(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    response = client.get("/dashboards/fleet?region=eu", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert "<html" not in html
    for block in ("board-head", "overrides", "panels"):
        assert f'id="{block}"' in html
    assert html.count('hx-swap-oob="true"') == 3
    assert response.headers["HX-Push-Url"] == "/dashboards/fleet?region=eu"
    one = client.get("/dashboards/fleet/panels/peak?region=eu", headers={"HX-Request": "true"})
    assert "<html" not in one.get_data(as_text=True)
    assert one.get_data(as_text=True).count('class="panel ') == 1
    missing = client.get("/dashboards/fleet/panels/%3Cb%3Ex")
    assert missing.status_code == 404 and missing.mimetype == "text/plain"


def test_titles_are_escaped_everywhere(client: FlaskClient) -> None:
    evil = "<script>alert(1)</script>"
    doc = {**FLEET, "title": evil, "description": evil,
           "panels": [{**p, "title": evil} for p in FLEET["panels"]]}
    put(client, "fleet", doc)
    sign_in(client)
    for url in ("/dashboards", "/dashboards/fleet", "/dashboards/fleet/edit", "/",
                "/d/hosts"):
        html = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in html, url
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in client.get(
        "/dashboards/fleet").get_data(as_text=True)


def edit_form(client: FlaskClient, panel: str, **fields: Any) -> dict[str, Any]:
    html = client.get("/dashboards/fleet/edit").get_data(as_text=True)
    version = re.search(r'name="version" value="(\d+)"', html)
    assert version
    return {"csrf_token": csrf_of(html), "version": version.group(1), "title": panel,
            "type": "timeseries", "width": "6", "reduce": "last", **fields}


def panel_ids(data_dir: Path) -> list[str]:
    return [p["id"] for p in json.loads(board_file(data_dir, "fleet").read_text())["panels"]]


@pytest.mark.parametrize("action, expected", [
    ("up", ["peak", "cpu", "rows"]),
    ("down", ["cpu", "rows", "peak"]),
    ("remove", ["cpu", "rows"]),
])
def test_moving_and_removing_panels(client: FlaskClient, data_dir: Path, action: str,
                                    expected: list[str]) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    answer = client.post("/dashboards/fleet/panels/peak",
                         data=edit_form(client, "peak", action=action))
    assert answer.status_code == 303
    assert panel_ids(data_dir) == expected


def test_editing_a_panel_saves_title_type_width_and_thresholds(client: FlaskClient,
                                                               data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    form = edit_form(client, "x", title="Peak <b>", type="stat", width="3", reduce="mean",
                     action="save")
    form["threshold_value"] = ["50", "", "12.5"]
    form["threshold_color"] = ["Red", "", "gold"]
    answer = client.post("/dashboards/fleet/panels/cpu", data=form)
    assert answer.status_code == 303
    saved = json.loads(board_file(data_dir, "fleet").read_text())["panels"][0]
    assert saved == {"id": "cpu", "title": "Peak <b>", "type": "stat", "width": 3,
                     "dataset": "hosts", "query": "metric=cpu&by=host", "reduce": "mean",
                     "thresholds": [{"value": 50, "color": "red"},
                                    {"value": 12.5, "color": "gold"}]}


def test_an_invalid_edit_says_what_is_wrong_and_saves_nothing(client: FlaskClient,
                                                              data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    before = board_file(data_dir, "fleet").read_bytes()
    form = edit_form(client, "x", type="table", action="save")
    form["threshold_value"], form["threshold_color"] = ["5"], ["plaid"]
    answer = client.post("/dashboards/fleet/panels/cpu", data=form)
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "thresholds[0].color" in html and "a table panel has no thresholds" in html
    assert 'value="plaid"' in html  # what the user typed is still there
    assert board_file(data_dir, "fleet").read_bytes() == before


def test_a_stale_edit_says_so_and_overwrites_nothing(client: FlaskClient,
                                                     data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    form = edit_form(client, "mine", action="save")
    put(client, "fleet", {**FLEET, "title": "Theirs"}, version=1)  # someone else saves
    before = board_file(data_dir, "fleet").read_bytes()
    answer = client.post("/dashboards/fleet/panels/cpu", data=form)
    assert answer.status_code == 409
    assert "someone else saved this dashboard since you opened it" in answer.get_data(
        as_text=True)
    assert board_file(data_dir, "fleet").read_bytes() == before


def test_an_edit_without_csrf_token_is_refused(client: FlaskClient, data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    form = edit_form(client, "peak", action="remove")
    del form["csrf_token"]
    assert client.post("/dashboards/fleet/panels/peak", data=form).status_code == 400
    assert panel_ids(data_dir) == ["cpu", "peak", "rows"]


def test_the_edit_page_sends_strangers_to_sign_in(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    answer = client.get("/dashboards/fleet/edit")
    assert (answer.status_code, answer.headers["Location"]) == (
        303, "/login?next=/dashboards/fleet/edit")


@pytest.mark.parametrize("target, new_name, status, location", [
    ("", "ops", 303, "/dashboards/ops#panel-cpu-by-host"),  # a new dashboard
    ("fleet", "", 303, "/dashboards/fleet#panel-cpu-by-host"),  # an existing one
    ("", "bad name", 400, None),
    ("", "fleet", 409, None),  # exists: pick it instead
    ("gone", "", 404, None),
])
def test_add_to_dashboard(client: FlaskClient, data_dir: Path, target: str, new_name: str,
                          status: int, location: str | None) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    page = client.get("/d/hosts?metric=cpu&by=host").get_data(as_text=True)
    assert 'id="add-panel"' in page
    answer = client.post("/dashboards/add", data={
        "csrf_token": csrf_of(page), "dataset": "hosts", "query": "by=host&metric=cpu",
        "dashboard": target, "new_name": new_name, "type": "timeseries",
        "title": "CPU by host"})
    assert answer.status_code == status
    if location is not None:
        assert answer.headers["Location"] == location
        name = location.split("/")[2].split("#")[0]
        added = json.loads(board_file(data_dir, name).read_text())["panels"][-1]
        assert added == {"id": "cpu-by-host", "title": "CPU by host", "type": "timeseries",
                         "dataset": "hosts", "query": "metric=cpu&by=host"}


def test_the_view_page_asks_strangers_to_sign_in_to_add(client: FlaskClient) -> None:
    html = client.get("/d/hosts").get_data(as_text=True)
    assert "to add this view to a dashboard" in html and 'action="/dashboards/add"' not in html


def test_the_example_dashboard_is_linked_from_the_index(
        app_config: dict[str, Any], data_dir: Path,
        write_csv: Callable[[str, str], Path]) -> None:
    import shutil

    root = Path(__file__).resolve().parent.parent
    (data_dir / "dashboards").mkdir()
    shutil.copy(root / "data" / "dashboards" / "demo.json", data_dir / "dashboards")
    app = create_app({**app_config, "DEMO": True})
    html = app.test_client().get("/").get_data(as_text=True)
    assert '<a href="/dashboards/demo">Demo fleet</a>' in html
    page = app.test_client().get("/dashboards/demo")
    assert page.status_code == 200 and page.get_data(as_text=True).count('class="panel ') == 4


def test_a_hand_edit_is_picked_up_by_the_scan(app: Flask, client: FlaskClient,
                                              state: AppState, data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    assert state.scan_dashboards() == {}  # its own write is no news
    board_file(data_dir, "fleet").write_text(json.dumps({**FLEET, "title": "By hand"}))
    assert state.scan_dashboards() == {"fleet": 2}
    assert client.get("/api/dashboards/fleet").json["title"] == "By hand"


@pytest.mark.parametrize("query, location", [
    ("window=all&start=&end=&tz=&host=&region=", "/dashboards/fleet"),  # the form, unchanged
    ("region=eu&window=all&host=", "/dashboards/fleet?region=eu"),
    ("tz=Asia/Tokyo&window=5m", "/dashboards/fleet?window=5m&tz=Asia/Tokyo"),
])
def test_the_form_lands_on_the_shortest_url_that_means_the_same(
        client: FlaskClient, query: str, location: str) -> None:
    put(client, "fleet", FLEET)
    answer = client.get(f"/dashboards/fleet?{query}")
    assert (answer.status_code, answer.headers["Location"]) == (302, location)
