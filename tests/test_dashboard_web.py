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
    # The chart: an SVG with one line per host and both threshold lines in their colours,
    # twice (a wide panel: the wide chart for screens, the narrow one for phones).
    chart = html[html.index('id="panel-cpu"'):html.index('id="panel-peak"')]
    assert chart.count('viewBox="0 0 960 360"') == 1 and chart.count('viewBox="0 0 360 270"') == 1
    assert chart.count('class="trace"') == 2 * 2
    assert len(re.findall(r'class="threshold" data-value="15" [^>]*stroke="orange"', chart)) == 2
    assert len(re.findall(r'class="threshold" data-value="21" [^>]*stroke="red"', chart)) == 2
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
    for block in ("board-head", "board-freshness", "overrides", "panels"):
        assert f'id="{block}"' in html
    assert html.count('hx-swap-oob="true"') == 4
    assert response.headers["HX-Push-Url"] == "/dashboards/fleet?region=eu"
    one = client.get("/dashboards/fleet/panels/peak?region=eu", headers={"HX-Request": "true"})
    assert "<html" not in one.get_data(as_text=True)
    assert one.get_data(as_text=True).count('class="panel ') == 1
    missing = client.get("/dashboards/fleet/panels/%3Cb%3Ex", headers={"HX-Request": "true"})
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
        "title": "CPU by host", "back": "/d/hosts?metric=cpu&by=host"})
    assert answer.status_code == 303  # a refusal too: a reload must not post again
    if location is None:  # refused: the form's own page, filled in, saying why
        assert answer.headers["Location"].startswith("/dashboards/add?")
        before = sorted(data_dir.glob("dashboards/*.json"))
        shown = client.get(answer.headers["Location"])
        assert shown.status_code == status
        html = shown.get_data(as_text=True)
        assert 'class="problem"' in html and 'value="CPU by host"' in html
        assert f'value="{new_name}"' in html and 'href="/d/hosts?metric=cpu&amp;by=host"' in html
        assert sorted(data_dir.glob("dashboards/*.json")) == before  # showing saves nothing
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
    ("window=300s", "/dashboards/fleet?window=5m"),  # one spelling of each duration
    ("tz=asia/tokyo", "/dashboards/fleet?tz=Asia/Tokyo"),  # and of each time zone
])
def test_the_form_lands_on_the_shortest_url_that_means_the_same(
        client: FlaskClient, query: str, location: str) -> None:
    put(client, "fleet", FLEET)
    answer = client.get(f"/dashboards/fleet?{query}")
    assert (answer.status_code, answer.headers["Location"]) == (302, location)


# Sessions end on the server, and the pages say how to turn editing on.

def test_signing_out_ends_every_copy_of_the_session_cookie(app: Flask,
                                                           client: FlaskClient) -> None:
    sign_in(client)
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()  # someone who copied the cookie while signed in
    thief.set_cookie("session", cookie.value)
    token = csrf_of(thief.get("/dashboards").get_data(as_text=True))
    assert put(thief, "fleet", FLEET, headers={"X-CSRFToken": token}).status_code == 201
    page = client.get("/dashboards").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 303
    refused = put(thief, "fleet", FLEET, headers={"X-CSRFToken": token}, version=1)
    assert refused.status_code == 401
    assert "Signed in" not in thief.get("/dashboards").get_data(as_text=True)


def test_logout_typed_in_the_address_bar_offers_the_button(client: FlaskClient) -> None:
    sign_in(client)
    page = client.get("/logout?next=/dashboards/fleet")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "<h1>Sign out</h1>" in html
    assert re.search(r'<form [^>]*method="post" action="/logout"', html)
    assert 'name="next" value="/dashboards/fleet"' in html
    answer = client.post("/logout", data={"csrf_token": csrf_of(html), "next": "/dashboards"})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/dashboards")
    assert "This browser is not signed in." in client.get("/logout").get_data(as_text=True)


def test_with_editing_off_pages_say_how_to_turn_it_on(app: Flask,
                                                     app_config: dict[str, Any]) -> None:
    client = create_app({**app_config, "ADMIN_TOKEN": None}).test_client()
    folder = Path(app_config["DATA_DIR"]) / "dashboards"
    folder.mkdir()
    (folder / "fleet.json").write_text(json.dumps(FLEET))
    for url in ("/dashboards", "/dashboards/fleet", "/d/hosts", "/logout"):
        html = client.get(url).get_data(as_text=True)
        assert "/login" not in html, url  # a link that could only answer 403
        assert "DASH_ADMIN_TOKEN" in html, url


def test_the_start_field_offers_a_hint_not_a_value(client: FlaskClient) -> None:
    """The same words and hint as the view page: the form of a time, not one."""
    put(client, "fleet", FLEET)
    html = client.get("/dashboards/fleet").get_data(as_text=True)
    view = client.get("/d/hosts").get_data(as_text=True)
    for box in ("start", "end"):
        hint = f'<input id="o-{box}"[^>]*placeholder="YYYY-MM-DD hh:mm"'
        assert re.search(hint, html, re.S)
        assert re.search(hint.replace("o-", "f-"), view, re.S)
    assert "from (each panel&#39;s zone)" in html and "from (UTC)" in view
    put(client, "fleet", {**FLEET, "window": None, "start": "2024-05-01T00:01:00Z"}, version=1)
    html = client.get("/dashboards/fleet").get_data(as_text=True)
    assert 'placeholder="as saved: 2024-05-01T00:01:00Z"' in html


# Editing: what a user typed survives a conflict, and nothing is posted twice.

def test_a_stale_save_keeps_what_was_typed_and_says_what_changed(
        client: FlaskClient, data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    html = client.get("/dashboards/fleet/edit").get_data(as_text=True)
    form = edit_form(client, "Mem (B)", action="save")
    form["shown"] = re.findall(r'name="shown" value="([^"]*)"', html)[0].replace("&#34;", '"')
    theirs = json.loads(json.dumps(FLEET))
    theirs["panels"][0]["title"] = "CPU (theirs)"
    theirs["panels"][0]["width"] = 12
    put(client, "fleet", theirs, version=1)  # someone else saves meanwhile
    before = board_file(data_dir, "fleet").read_bytes()
    answer = client.post("/dashboards/fleet/panels/cpu", data=form,
                         headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert answer.status_code == 409
    assert board_file(data_dir, "fleet").read_bytes() == before
    # The address stays the edit page's (the POST's URL is a fragment's for GET).
    assert answer.headers["HX-Replace-Url"] == "/dashboards/fleet/edit"
    html = answer.get_data(as_text=True)
    cpu_form = html[html.index('id="edit-cpu"'):html.index('id="edit-peak"')]
    assert 'value="Mem (B)"' in cpu_form  # what the user typed
    assert 'name="version" value="2"' in cpu_form  # saving again goes over version 2
    assert "title: &#39;CPU&#39; → &#39;CPU (theirs)&#39;" in html
    assert "width: 8 → 12" in html
    again = client.post("/dashboards/fleet/panels/cpu", data={**form, "version": "2"})
    assert again.status_code == 303
    assert json.loads(board_file(data_dir, "fleet").read_text())["panels"][0]["title"] == \
        "Mem (B)"


def test_a_fragment_url_opened_as_a_page_leads_to_the_panel(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    answer = client.get("/dashboards/fleet/panels/peak?region=eu")
    assert (answer.status_code, answer.headers["Location"]) == (
        303, "/dashboards/fleet?region=eu#panel-peak")


def test_a_blank_threshold_value_is_named_as_missing(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    form = edit_form(client, "CPU", action="save")
    form["threshold_value"], form["threshold_color"] = ["", "70"], ["red", "abc"]
    answer = client.post("/dashboards/fleet/panels/cpu", data=form)
    assert answer.status_code == 400
    html = answer.get_data(as_text=True)
    assert "<code>thresholds[0].value</code>: is required" in html
    assert "must be a number, not a string" not in html  # the blank is not a string to fix


def test_deleting_asks_first_and_works_without_javascript(client: FlaskClient,
                                                          data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    edit = client.get("/dashboards/fleet/edit").get_data(as_text=True)
    assert 'href="/dashboards/fleet/delete"' in edit  # a link to the question, no button
    question = client.get("/dashboards/fleet/delete")
    html = question.get_data(as_text=True)
    assert question.status_code == 200 and "Delete “Fleet”?" in html
    assert "3 panels" in html and board_file(data_dir, "fleet").exists()
    # One click of an old form (no confirm) only asks again.
    unconfirmed = client.post("/dashboards/fleet/delete",
                              data={"csrf_token": csrf_of(html), "version": "1"})
    assert unconfirmed.status_code == 200 and "Delete “Fleet”?" in unconfirmed.get_data(
        as_text=True)
    assert board_file(data_dir, "fleet").exists()
    answer = client.post("/dashboards/fleet/delete", data={
        "csrf_token": csrf_of(html), "version": "1", "confirm": "yes"})
    assert (answer.status_code, answer.headers["Location"]) == (303, "/dashboards")
    assert not board_file(data_dir, "fleet").exists()


def test_the_delete_question_sends_strangers_to_sign_in(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    answer = client.get("/dashboards/fleet/delete")
    assert (answer.status_code, answer.headers["Location"]) == (
        303, "/login?next=/dashboards/fleet/delete")


# A panel on a missing or broken dataset shows its own error; the others work.

GONE_PANEL = {"id": "gone", "title": "Gone", "type": "stat", "dataset": "gone",
              "query": "metric=load"}


@pytest.mark.parametrize("csv, message", [
    (None, "dataset &#39;gone&#39; is not loaded: no gone.csv in the data folder"),
    ("host,status\nweb-1,up\n", "dataset &#39;gone&#39; does not load: gone.csv"),
])
def test_a_panel_on_a_missing_dataset_shows_its_error_and_the_rest_is_drawn(
        client: FlaskClient, state: AppState, data_dir: Path, csv: str | None,
        message: str) -> None:
    # Saved while "gone" was there (a PUT refuses an unknown dataset), or written by hand.
    (data_dir / "dashboards").mkdir()
    board_file(data_dir, "fleet").write_text(
        json.dumps({**FLEET, "panels": [*FLEET["panels"], GONE_PANEL]}))
    if csv is not None:  # a file that does not load (no time column)
        (data_dir / "gone.csv").write_text(csv)
        state.folder.scan()
    page = client.get("/dashboards/fleet")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    gone = html[html.index('id="panel-gone"'):]
    assert 'data-problem="' in gone and message in gone and 'role="alert"' in gone
    assert html.count('class="trace"') == 4  # the cpu panel's chart (two sizes)
    assert re.search(r'<text [^>]*fill="red">22</text>', html)  # the stat beside it
    one = client.get("/dashboards/fleet/panels/gone", headers={"HX-Request": "true"})
    assert one.status_code == 200 and message in one.get_data(as_text=True)


def test_a_url_label_only_a_missing_dataset_might_have_is_not_refused(
        client: FlaskClient, data_dir: Path) -> None:
    (data_dir / "dashboards").mkdir()
    board_file(data_dir, "fleet").write_text(json.dumps({"title": "Gone", "panels": [GONE_PANEL]}))
    assert client.get("/dashboards/fleet?zone=a").status_code == 200


def test_the_status_line_asks_what_the_server_holds(client: FlaskClient, state: AppState) -> None:
    """``X-Dash-Freshness``: only the freshness block, each dataset's version, epoch,
    newest point and when it changed (ms, the server's clock); the page carries it too."""
    put(client, "fleet", FLEET)
    answer = client.get("/dashboards/fleet", headers={"HX-Request": "true",
                                                      "X-Dash-Freshness": "1"})
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    html = answer.get_data(as_text=True)
    assert html.lstrip().startswith('<div id="board-freshness"') and "panel" not in html
    found = re.search(r"data-datasets='([^']*)'", html)
    assert found is not None
    snap = state.store.get("hosts").snapshot()
    assert json.loads(found[1]) == {"hosts": {
        "version": snap.version, "epoch": snap.epoch,
        "newest": 1_714_521_720_000,  # 2024-05-01T00:02:00Z
        "changed_at": int(state.store.get("hosts").updated_at * 1000)}}
    page = client.get("/dashboards/fleet").get_data(as_text=True)
    assert '<div id="board-freshness" hidden data-server-now=' in page


def test_a_dashboard_page_loads_its_stylesheet(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    assert "/static/dashboard.css" in client.get("/dashboards/fleet").get_data(as_text=True)


def test_the_status_check_says_when_the_oldest_change_the_page_lacks_came(
        client: FlaskClient, state: AppState, data_dir: Path) -> None:
    """``X-Dash-Shown`` names each dataset's shown version; ``X-Dash-Missed-At`` (ms) is when
    the first version after it came, the oldest of the datasets (the page as late as its
    most behind panel)."""
    (data_dir / "rooms.csv").write_text("time,temp\n2024-05-01T00:00:00Z,20\n")
    state.folder.scan()
    put(client, "fleet", FLEET)
    hosts, rooms = state.store.get("hosts"), state.store.get("rooms")
    shown_hosts = hosts.version
    hosts.touch()
    hosts_missed = hosts.updated_at  # hosts' first missed change, before rooms' below
    hosts.touch()
    shown_rooms = rooms.version
    rooms.touch()

    def missed(shown: str) -> str | None:
        answer = client.get("/dashboards/fleet", headers={
            "HX-Request": "true", "X-Dash-Freshness": "1", "X-Dash-Shown": shown})
        assert answer.status_code == 200
        return answer.headers.get("X-Dash-Missed-At")

    h_epoch, r_epoch = hosts.snapshot().epoch, rooms.snapshot().epoch
    both = f"hosts {shown_hosts} {h_epoch}, rooms {shown_rooms} {r_epoch}"
    assert missed(both) == str(int(hosts_missed * 1000))
    assert missed(f"rooms {shown_rooms} {r_epoch}") == str(int(rooms.updated_at * 1000))
    assert missed(f"hosts {hosts.version} {h_epoch}") is None  # shows the newest
    assert missed(f"hosts {shown_hosts} other-epoch") is None  # a whole figure comes instead
    assert missed(f"nosuch {shown_hosts} {h_epoch}") is None
    assert missed("hosts x y, garbage") is None


def test_a_panel_edit_posted_after_the_sign_in_ended_comes_back_after_signing_in(
        client: FlaskClient, data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    sign_in(client)
    form = edit_form(client, "Typed <while> signed out", width="5", action="save")
    before = board_file(data_dir, "fleet").read_bytes()
    page = client.get("/dashboards").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_of(page)}).status_code == 303
    refused = client.post("/dashboards/fleet/panels/peak", data=form,
                          headers={"Referer": "http://localhost/dashboards/fleet/edit"})
    html = refused.get_data(as_text=True)
    assert refused.status_code == 401 and "nothing was saved" in html
    assert "shows what you typed again" in html
    assert board_file(data_dir, "fleet").read_bytes() == before
    sign_in(client)
    edit = client.get("/dashboards/fleet/edit").get_data(as_text=True)
    assert "this browser was signed out, so nothing was saved" in edit
    peak = edit[edit.index('id="edit-peak"'):]
    assert 'value="Typed &lt;while&gt; signed out"' in peak[:peak.index("</form>")]
    assert board_file(data_dir, "fleet").read_bytes() == before  # saved only when saved
    again = client.get("/dashboards/fleet/edit").get_data(as_text=True)
    assert "Typed &lt;while&gt; signed out" not in again  # shown once
    saved = client.post("/dashboards/fleet/panels/peak",
                        data=edit_form(client, "Typed <while> signed out", width="5",
                                       action="save"))
    assert saved.status_code == 303


def test_a_kept_edit_of_another_dashboard_waits_for_its_page(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    put(client, "other", FLEET)
    sign_in(client)
    form = edit_form(client, "Kept", action="save")
    page = client.get("/dashboards").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_of(page)})
    assert client.post("/dashboards/fleet/panels/peak", data=form).status_code == 401
    sign_in(client)
    assert 'value="Kept"' not in client.get("/dashboards/other/edit").get_data(as_text=True)
    assert 'value="Kept"' in client.get("/dashboards/fleet/edit").get_data(as_text=True)


# Bad overrides: as on the view page, every other override is kept, what was typed stays in
# its box, each bad parameter is named in the view page's words, and nothing is saved.

BERLIN_BOARD = {**FLEET, "window": "6h", "tz": "Europe/Berlin"}
MARS = ("'Mars/Olympus' is not an IANA time zone; write it like UTC, Europe/Berlin, "
        "America/New_York or Asia/Kolkata")
TWICE = ("'2024-10-27T02:30' happens twice in Europe/Berlin: the clocks go back over it; say "
         "which with its offset or abbreviation, 2024-10-27T02:30:00+02:00 or CEST; "
         "2024-10-27T02:30:00+01:00 or CET")


def form_state(html: str) -> dict[str, Any]:
    """What the overrides form shows: the window chosen, the from/to/tz boxes, the boxes
    marked invalid, and the problems listed (param, message)."""
    window = re.search(r'<select id="o-window".*?<option selected>([^<]*)</option>', html, re.S)
    boxes = {box: re.search(rf'<input id="o-{box}"[^>]*?value="([^"]*)"', html)
             for box in ("start", "end", "tz")}
    return {
        "window": window.group(1) if window else None,
        **{box: found.group(1).replace("&#39;", "'") if found else None
           for box, found in boxes.items()},
        "invalid": re.findall(r'id="o-([a-z]+)"[^>]*aria-invalid="true"', html),
        "problems": [(param, message.replace("&#39;", "'")) for param, message in re.findall(
            r"<li><strong>([^<]*)</strong>: ([^<]*)</li>", html)],
    }


def panel_query(html: str, panel: str) -> str:
    found = re.search(rf'<section id="panel-{panel}"[^>]*?data-query="([^"]*)"', html, re.S)
    assert found, f"no panel {panel}"
    return found.group(1).replace("&amp;", "&")


@pytest.mark.parametrize("query, problems, shown, cpu", [
    ("window=24h&tz=Mars/Olympus", [("tz", MARS)],
     {"window": "24h", "tz": "Mars/Olympus", "start": ""},
     "metric=cpu&window=24h&by=host&tz=Europe/Berlin"),
    ("window=24h&tz=Asia/Kolkata&start=yesterday",
     [("start", "'yesterday' is not an ISO-8601 instant between the years 1678 and 2261 "
                "(for example 2024-05-01T12:00:00Z)")],
     {"window": "24h", "tz": "Asia/Kolkata", "start": "yesterday"},
     "metric=cpu&window=24h&by=host&tz=Asia/Kolkata"),
    ("tz=Mars/Olympus&window=3x&host=web-1",
     [("tz", MARS), ("window", "'3x' is not a duration: a whole number and a unit, s, m, h, d "
                               "or w (90s, 15m, 2h, 7d), at most 100 years; or all")],
     {"window": "3x", "tz": "Mars/Olympus", "start": ""},
     "metric=cpu&host=web-1&window=6h&by=host&tz=Europe/Berlin"),
    ("regoin=us&window=24h",
     [("regoin", "no panel's dataset has this label; labels are host, region")],
     {"window": "24h", "tz": "Europe/Berlin", "start": ""},
     "metric=cpu&window=24h&by=host&tz=Europe/Berlin"),
    ("start=2024-10-27T02:30&window=24h&host=web-2", [("start", TWICE)],
     {"window": "24h", "tz": "Europe/Berlin", "start": "2024-10-27T02:30"},
     "metric=cpu&host=web-2&window=24h&by=host&tz=Europe/Berlin"),
])
def test_a_bad_override_keeps_every_other_one_without_javascript(
        client: FlaskClient, data_dir: Path, query: str, problems: list[tuple[str, str]],
        shown: dict[str, str], cpu: str) -> None:
    put(client, "fleet", BERLIN_BOARD)
    saved = board_file(data_dir, "fleet").read_bytes()
    answer = client.get(f"/dashboards/fleet?{query}")
    html = answer.get_data(as_text=True)
    assert answer.status_code == 400
    state = form_state(html)
    assert {key: state[key] for key in shown} == shown
    assert state["problems"] == problems
    assert sorted(state["invalid"]) == sorted(param for param, _ in problems
                                              if param in ("window", "start", "end", "tz"))
    one = "One parameter needs" if len(problems) == 1 else f"{len(problems)} parameters need"
    assert f"{one} a change before the panels can show it; everything else you chose is " \
           "kept." in html
    assert panel_query(html, "cpu") == cpu
    assert board_file(data_dir, "fleet").read_bytes() == saved


def test_a_bad_override_changes_only_the_form_with_htmx(client: FlaskClient,
                                                        data_dir: Path) -> None:
    """As on the view page: the panels and the address keep the last good overrides."""
    put(client, "fleet", BERLIN_BOARD)
    saved = board_file(data_dir, "fleet").read_bytes()
    answer = client.get("/dashboards/fleet?window=24h&tz=Mars/Olympus",
                        headers={"HX-Request": "true"})
    html = answer.get_data(as_text=True)
    assert (answer.status_code, answer.headers["HX-Push-Url"]) == (400, "false")
    assert 'id="overrides"' in html and 'hx-swap-oob="true"' in html
    for block in ("board-head", "panels", "board-freshness"):
        assert f'id="{block}"' not in html
    state = form_state(html)
    assert (state["window"], state["tz"], state["invalid"], state["problems"]) == (
        "24h", "Mars/Olympus", ["tz"], [("tz", MARS)])
    assert board_file(data_dir, "fleet").read_bytes() == saved


def test_both_pages_refuse_a_bad_zone_in_the_same_words(client: FlaskClient) -> None:
    put(client, "fleet", BERLIN_BOARD)
    view = client.get("/d/hosts?metric=cpu&window=24h&agg=p95&tz=Mars/Olympus")
    board = client.get("/dashboards/fleet?window=24h&tz=Mars/Olympus")
    assert view.status_code == board.status_code == 400
    assert form_state(view.get_data(as_text=True).replace('id="f-', 'id="o-'))["problems"] == \
        form_state(board.get_data(as_text=True))["problems"] == [("tz", MARS)]


# Times are read as the view page reads them, in the dashboard's zone (the URL's tz, else the
# document's): one canonical URL, the instant in UTC with a Z as a view's URL writes it, and
# the box shows it back as the view page does. Berlin is UTC+2 (CEST) until 03:00 on
# 2024-10-27, then UTC+1 (CET); Kolkata is UTC+5:30 all year.
@pytest.mark.parametrize("doc, query, location, box, cpu", [
    (BERLIN_BOARD, "start=2024-05-02 01:30", "start=2024-05-01T23:30:00Z",
     "2024-05-02 01:30:00 CEST", "metric=cpu&start=2024-05-01T23:30:00Z&by=host&tz=Europe/Berlin"),
    (BERLIN_BOARD, "start=2024-05-02 01:30:00 CEST", "start=2024-05-01T23:30:00Z",
     "2024-05-02 01:30:00 CEST", "metric=cpu&start=2024-05-01T23:30:00Z&by=host&tz=Europe/Berlin"),
    (BERLIN_BOARD, "tz=Asia/Kolkata&start=2024-05-02 01:30",
     "start=2024-05-01T20:00:00Z&tz=Asia/Kolkata", "2024-05-02 01:30:00",
     "metric=cpu&start=2024-05-01T20:00:00Z&by=host&tz=Asia/Kolkata"),
    (BERLIN_BOARD, "start=2024-10-27T02:30%20CEST", "start=2024-10-27T00:30:00Z",
     "2024-10-27 02:30:00 CEST", "metric=cpu&start=2024-10-27T00:30:00Z&by=host&tz=Europe/Berlin"),
    (BERLIN_BOARD, "start=2024-10-27 02:30 CET", "start=2024-10-27T01:30:00Z",
     "2024-10-27 02:30:00 CET", "metric=cpu&start=2024-10-27T01:30:00Z&by=host&tz=Europe/Berlin"),
    # no zone anywhere: a wall-clock time stays one, each panel reads it in its own tz (UTC)
    (FLEET, "start=2024-05-01 00:01", "start=2024-05-01T00:01:00", "2024-05-01 00:01:00",
     "metric=cpu&start=2024-05-01T00:01:00Z&by=host"),
])
def test_times_typed_as_on_the_view_page_land_on_one_url(
        client: FlaskClient, doc: dict[str, Any], query: str, location: str, box: str,
        cpu: str) -> None:
    put(client, "fleet", doc)
    answer = client.get(f"/dashboards/fleet?{query}")
    assert (answer.status_code, answer.headers["Location"]) == (
        302, f"/dashboards/fleet?{location}")
    page = client.get(answer.headers["Location"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert form_state(html)["start"] == box
    assert panel_query(html, "cpu") == cpu
