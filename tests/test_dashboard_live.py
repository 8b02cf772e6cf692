"""Dashboards live: join_dashboard/leave_dashboard, views shared with every other page and
dashboard (one computation), dashboard_changed, and the dashboard long-poll's cursor."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from flask_socketio import SocketIOTestClient

from app.data.dashboards import MAX_PANELS
from app.data.schema import Batch
from app.live.rooms import MAX_VIEWS_PER_SOCKET
from app.state import AppState

TOKEN = "admin-secret"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
OTHER_CSV = "timestamp,load\n2024-05-01T00:00:00Z,1\n"
FLEET: dict[str, Any] = {
    "title": "Fleet",
    "window": "1h",
    "filters": {"region": ["eu"]},
    "panels": [
        {"id": "cpu", "type": "timeseries", "dataset": "hosts", "query": "by=host&metric=cpu"},
        {"id": "peak", "type": "stat", "dataset": "hosts", "query": "metric=cpu&by=host",
         "reduce": "max"},
        {"id": "load", "type": "timeseries", "dataset": "other", "query": ""},
    ],
}


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    return {**app_config, "ADMIN_TOKEN": TOKEN}


@pytest.fixture
def app(app_config: dict[str, Any], write_csv: Any) -> Any:
    """``hosts`` (tests/samples.py) and ``other`` (one metric, no labels)."""
    from app import create_app
    from tests.samples import WIDE_CSV

    write_csv("hosts", WIDE_CSV)
    write_csv("other", OTHER_CSV)
    return create_app(app_config)


def put(client: FlaskClient, name: str, doc: dict[str, Any], **extra: Any) -> Any:
    answer = client.put(f"/api/dashboards/{name}", data=json.dumps({**doc, **extra}),
                        content_type="application/json", headers=BEARER)
    assert answer.status_code in (200, 201), answer.json
    return answer.json


def new_client(app: Flask) -> SocketIOTestClient:
    return app.extensions["socketio"].test_client(app)


def received(client: SocketIOTestClient, event: str) -> list[dict[str, Any]]:
    return [m["args"][0] for m in client.get_received() if m["name"] == event]


def cpu(ts: str, value: float, host: str = "web-1", region: str = "eu") -> Batch:
    return Batch(np.array([np.datetime64(ts, "ns").astype(np.int64)]), np.array(["cpu"], object),
                 np.array([value]), {"host": np.array([host], object),
                                     "region": np.array([region], object)})


def test_join_acks_every_panels_effective_canonical_view(app: Flask,
                                                         client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    page = new_client(app)
    ack = page.emit("join_dashboard", {"name": "fleet", "query": "tz=Europe/Berlin&window=2h"},
                    callback=True)
    assert ack["ok"] is True and ack["version"] == 1
    # The URL's window and tz over the document's; the document's region filter only
    # where the dataset has that label.
    assert ack["panels"] == [
        {"id": "cpu", "dataset": "hosts",
         "query": "metric=cpu&region=eu&window=2h&by=host&tz=Europe/Berlin"},
        {"id": "peak", "dataset": "hosts",
         "query": "metric=cpu&region=eu&window=2h&by=host&tz=Europe/Berlin"},
        {"id": "load", "dataset": "other", "query": "metric=load&window=2h&tz=Europe/Berlin"},
    ]
    figures = received(page, "update_chart")  # one per distinct view: two panels share one
    assert sorted((f["dataset"], f["query"]) for f in figures) == sorted(
        {(p["dataset"], p["query"]) for p in ack["panels"]})


@pytest.mark.parametrize("message, error", [
    ({"name": "nope", "query": ""}, "no dashboard named 'nope'"),
    ({"name": "fleet", "query": "window=3x"}, "window: '3x' is not"),
    ({"name": "fleet", "query": "agg=max"}, "agg: a dashboard URL sets only"),
    ({"name": "fleet", "query": "colour=red"}, "colour: no panel's dataset has this label"),
    ({"name": 5, "query": ""}, "'name' must be a string"),
])
def test_join_refuses_with_a_message(app: Flask, client: FlaskClient, state: AppState,
                                     message: Any, error: str) -> None:
    put(client, "fleet", FLEET)
    page = new_client(app)
    ack = page.emit("join_dashboard", message, callback=True)
    assert ack["ok"] is False and error in ack["error"]
    assert received(page, "update_chart") == [] and state.live.rooms.watched == {}


def test_two_dashboards_showing_one_view_share_one_computation(
        app: Flask, client: FlaskClient, state: AppState) -> None:
    put(client, "fleet", FLEET)
    put(client, "ops", {"title": "Ops", "panels": [  # cpu/region=eu/1h by host, spelled apart
        {"id": "a", "type": "timeseries", "dataset": "hosts",
         "query": "metric=cpu&region=eu&window=60m&by=host&agg=auto"}]})
    viewer = new_client(app)  # and a plain view page showing the same view
    first, second = new_client(app), new_client(app)
    builds = state.live.figures.builds
    first.emit("join_dashboard", {"name": "fleet", "query": ""}, callback=True)
    second.emit("join_dashboard", {"name": "ops", "query": ""}, callback=True)
    viewer.emit("subscribe", {"dataset": "hosts",
                              "query": "metric=cpu&region=eu&window=1h&by=host"}, callback=True)
    assert state.live.figures.builds == builds + 2  # hosts' one view, other's one view
    assert sorted(state.live.rooms.watched) == [
        "hosts?metric=cpu&region=eu&window=1h&by=host", "other?metric=load&window=1h"]
    for page in (first, second, viewer):
        page.get_received()

    version = state.store.append("hosts", cpu("2024-05-01T00:03:00", 99.0))

    assert state.live.figures.builds == builds + 3  # one change, one view: one build
    for page in (first, second, viewer):
        [update] = [m for m in page.get_received() if m["name"] in ("update_chart",
                                                                   "extend_chart")]
        assert update["args"][0]["version"] == version


def test_leaving_and_joining_again_swaps_exactly_the_rooms(
        app: Flask, client: FlaskClient, state: AppState) -> None:
    put(client, "fleet", FLEET)
    page = new_client(app)
    page.emit("join_dashboard", {"name": "fleet", "query": ""}, callback=True)
    page.emit("join_dashboard", {"name": "fleet", "query": "window=all"}, callback=True)
    assert sorted(state.live.rooms.watched) == ["hosts?metric=cpu&region=eu&by=host",
                                                "other?metric=load"]
    assert page.emit("leave_dashboard", {"name": "fleet", "query": "window=all"},
                     callback=True) == {"ok": True}
    assert state.live.rooms.watched == {}
    page.get_received()
    state.store.append("hosts", cpu("2024-05-01T00:03:00", 99.0))
    assert page.get_received() == []


def test_the_largest_dashboard_fits_one_connection(app: Flask, client: FlaskClient,
                                                   state: AppState) -> None:
    assert MAX_VIEWS_PER_SOCKET >= MAX_PANELS + 1
    panels = [{"id": f"p{i}", "type": "timeseries", "dataset": "hosts",
               "query": f"metric=cpu&window={i + 1}m"} for i in range(MAX_PANELS)]
    put(client, "wall", {"title": "Wall", "panels": panels})
    page = new_client(app)
    ack = page.emit("join_dashboard", {"name": "wall", "query": ""}, callback=True)
    assert ack["ok"] is True and len(ack["panels"]) == MAX_PANELS
    assert len(state.live.rooms.watched) == MAX_PANELS
    assert len(received(page, "update_chart")) == MAX_PANELS


def test_dashboard_changed_reaches_open_pages_after_a_put_and_a_hand_edit(
        app: Flask, client: FlaskClient, state: AppState, data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    put(client, "ops", {"title": "Ops", "panels": []})
    fleet_page, ops_page = new_client(app), new_client(app)
    fleet_page.emit("join_dashboard", {"name": "fleet", "query": ""}, callback=True)
    ops_page.emit("join_dashboard", {"name": "ops", "query": ""}, callback=True)
    fleet_page.get_received()

    put(client, "fleet", {**FLEET, "title": "Fleet 2"}, version=1)
    assert received(fleet_page, "dashboard_changed") == [{"name": "fleet", "version": 2}]

    path = data_dir / "dashboards" / "fleet.json"
    path.write_text(path.read_text().replace("Fleet 2", "Fleet 3"))
    state.scan_dashboards()  # what the background loop does every second
    assert received(fleet_page, "dashboard_changed") == [{"name": "fleet", "version": 3}]

    client.delete("/api/dashboards/fleet", headers=BEARER)
    assert received(fleet_page, "dashboard_changed") == [{"name": "fleet", "version": None}]
    assert received(ops_page, "dashboard_changed") == []  # other dashboards hear nothing


def poll(client: FlaskClient, query: str) -> Any:
    return client.get(f"/api/dashboards/fleet/poll?{query}")


def test_poll_without_cursor_answers_every_panel_at_once(client: FlaskClient,
                                                         state: AppState) -> None:
    put(client, "fleet", FLEET)
    answer = poll(client, "region=us&timeout=30")
    assert answer.status_code == 200
    body = answer.json
    assert body["version"] == 1 and body["cursor"]
    assert [(p["id"], p["query"]) for p in body["panels"]] == [
        ("cpu", "metric=cpu&region=us&window=1h&by=host"),
        ("peak", "metric=cpu&region=us&window=1h&by=host"),
        ("load", "metric=load&window=1h")]
    hosts = state.store.get("hosts")
    first = body["panels"][0]
    assert (first["version"], first["epoch"]) == (hosts.version, hosts.epoch)
    assert [t["name"] for t in first["figure"]["data"]] == ["web-2"]  # region=us


def test_poll_with_a_current_cursor_answers_204_after_the_timeout(client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    cursor = poll(client, "timeout=0").json["cursor"]
    started = time.monotonic()
    answer = poll(client, f"cursor={cursor}&timeout=0.3")
    assert answer.status_code == 204 and answer.data == b""
    assert time.monotonic() - started >= 0.3


def test_poll_answers_only_the_panels_whose_view_changed(app: Flask, client: FlaskClient,
                                                         state: AppState) -> None:
    put(client, "fleet", FLEET)
    cursor = poll(client, "timeout=0").json["cursor"]
    answers: list[Any] = []
    waiter = threading.Thread(target=lambda: answers.append(
        app.test_client().get(f"/api/dashboards/fleet/poll?cursor={cursor}&timeout=20")))
    started = time.monotonic()
    waiter.start()
    version = state.store.append("hosts", cpu("2024-05-01T00:03:00", 99.0))
    waiter.join(10)
    assert time.monotonic() - started < 10  # woken by the change, not the timeout
    [answer] = answers
    assert answer.status_code == 200
    assert [(p["id"], p["version"]) for p in answer.json["panels"]] == [
        ("cpu", version), ("peak", version)]  # not "load": its dataset did not change
    again = poll(client, f"cursor={answer.json['cursor']}&timeout=0")
    assert again.status_code == 204


def test_poll_answers_every_panel_when_the_document_changes(app: Flask,
                                                           client: FlaskClient) -> None:
    put(client, "fleet", FLEET)
    cursor = poll(client, "timeout=0").json["cursor"]
    answers: list[Any] = []
    waiter = threading.Thread(target=lambda: answers.append(
        app.test_client().get(f"/api/dashboards/fleet/poll?cursor={cursor}&timeout=20")))
    waiter.start()
    put(client, "fleet", {**FLEET, "panels": FLEET["panels"][:1]}, version=1)
    waiter.join(10)
    [answer] = answers
    assert answer.json["version"] == 2
    assert [p["id"] for p in answer.json["panels"]] == ["cpu"]


@pytest.mark.parametrize("query, param", [
    ("cursor=nonsense", "cursor"),
    ("timeout=61", "timeout"),
    ("timeout=soon", "timeout"),
    ("window=3x", "window"),
    ("agg=max", "agg"),
])
def test_poll_rejects_bad_parameters(client: FlaskClient, query: str, param: str) -> None:
    put(client, "fleet", FLEET)
    answer = poll(client, query)
    assert answer.status_code == 400
    assert answer.json["param"] == param


def test_poll_of_an_unknown_dashboard_is_404(client: FlaskClient) -> None:
    assert client.get("/api/dashboards/nope/poll?timeout=0").status_code == 404


# A page that changes what it shows swaps its views in one step.

AGGS = ("auto", "raw", "mean", "sum", "min", "max", "count", "p50", "p90", "p95", "p99")
# 24 panels, 24 views that stay apart under any window or tz: metric x agg, and by host.
WALL = {"title": "Wall", "panels": [
    {"id": f"{metric}-{agg}", "type": "timeseries", "dataset": "hosts",
     "query": f"metric={metric}&agg={agg}"} for metric in ("cpu", "mem") for agg in AGGS] + [
    {"id": f"{metric}-host", "type": "timeseries", "dataset": "hosts",
     "query": f"metric={metric}&by=host"} for metric in ("cpu", "mem")]}


@pytest.mark.parametrize("change", ["override", "document"])
def test_the_largest_dashboard_keeps_updating_when_its_window_changes(
        app: Flask, client: FlaskClient, state: AppState, change: str) -> None:
    assert len(WALL["panels"]) == MAX_PANELS
    put(client, "wall", WALL)
    page = new_client(app)
    assert page.emit("join_dashboard", {"name": "wall", "query": ""}, callback=True)["ok"]
    first = set(state.live.rooms.watched)
    if change == "document":  # a PUT of only "window": every open page joins again
        put(client, "wall", {**WALL, "window": "2h"}, version=1)
        query = ""
    else:  # the page's own window box
        query = "window=2h"
    ack = page.emit("join_dashboard", {"name": "wall", "query": query}, callback=True)
    assert ack["ok"] is True, ack
    assert len(state.live.rooms.watched) == MAX_PANELS  # the 24 new views, and only them
    assert not first & set(state.live.rooms.watched)
    page.get_received()
    version = state.store.append("hosts", cpu("2024-05-01T00:03:00", 99.0))
    updates = [m["args"][0] for m in page.get_received()
               if m["name"] in ("update_chart", "extend_chart")]
    assert len(updates) == MAX_PANELS and {u["version"] for u in updates} == {version}


def test_past_the_cap_a_join_changes_nothing(app: Flask, client: FlaskClient,
                                             state: AppState) -> None:
    put(client, "wall", WALL)
    page = new_client(app)
    extra = MAX_VIEWS_PER_SOCKET - MAX_PANELS + 1  # one too many beside the wall
    for minutes in range(1, extra + 1):
        assert page.emit("subscribe", {"dataset": "other", "query": f"window={minutes}m"},
                         callback=True)["ok"]
    ack = page.emit("join_dashboard", {"name": "wall", "query": ""}, callback=True)
    assert ack["ok"] is False
    assert f"at most {MAX_VIEWS_PER_SOCKET} views" in ack["error"]
    assert len(state.live.rooms.watched) == extra  # its other views are all still there


def test_a_rejoin_counts_against_the_servers_views_what_it_leaves_too(
        app_config: dict[str, Any], write_csv: Any) -> None:
    from app import create_app
    from tests.samples import WIDE_CSV

    write_csv("hosts", WIDE_CSV)
    app = create_app({**app_config, "MAX_VIEWS": MAX_PANELS})  # the wall, and not one more
    state = app.extensions["dash"]
    put(app.test_client(), "wall", WALL)
    page, other = new_client(app), new_client(app)
    assert page.emit("join_dashboard", {"name": "wall", "query": ""}, callback=True)["ok"]
    # Its 24 views go as 24 new ones come: still 24 on the server.
    ack = page.emit("join_dashboard", {"name": "wall", "query": "window=2h"}, callback=True)
    assert ack["ok"] is True and len(state.live.rooms.watched) == MAX_PANELS
    refused = other.emit("join_dashboard", {"name": "wall", "query": "window=3h"},
                         callback=True)
    assert refused["ok"] is False and "DASH_MAX_VIEWS" in refused["error"]
    assert len(state.live.rooms.watched) == MAX_PANELS


def test_a_join_past_the_budget_of_its_address_changes_nothing(
        app_config: dict[str, Any], write_csv: Any) -> None:
    from app import create_app
    from tests.samples import WIDE_CSV

    write_csv("hosts", WIDE_CSV)
    app = create_app({**app_config, "MAX_VIEWS_PER_IP": MAX_PANELS + 6})
    state = app.extensions["dash"]
    put(app.test_client(), "wall", WALL)
    page, tab = new_client(app), new_client(app)  # one browser, two tabs: one address
    assert page.emit("join_dashboard", {"name": "wall", "query": ""}, callback=True)["ok"]
    refused = tab.emit("join_dashboard", {"name": "wall", "query": "window=2h"}, callback=True)
    assert refused == {"ok": False, "error": (
        f"your address watches its limit of {MAX_PANELS + 6} live views already, over all "
        "its connections (DASH_MAX_VIEWS_PER_IP); close some pages or views first")}
    assert len(state.live.rooms.watched) == MAX_PANELS
    # The first page swapping its own views stays within the budget.
    assert page.emit("join_dashboard", {"name": "wall", "query": "window=2h"},
                     callback=True)["ok"] is True


@pytest.mark.parametrize("event", ["join_dashboard", "leave_dashboard", "subscribe",
                                   "unsubscribe", "refresh_data"])
def test_a_message_without_payload_is_answered_not_crashed_on(app: Flask, event: str) -> None:
    page = new_client(app)
    ack = page.emit(event, callback=True)
    assert ack["ok"] is False and "expected an object with" in ack["error"]


# Datasets that come and go under an open dashboard.

def hand_written(data_dir: Path, name: str, doc: dict[str, Any]) -> None:
    folder = data_dir / "dashboards"
    folder.mkdir(exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(doc))


GONE: dict[str, Any] = {"title": "Fleet", "panels": [
    {"id": "cpu", "type": "timeseries", "dataset": "hosts", "query": "metric=cpu"},
    {"id": "load", "type": "stat", "dataset": "later", "query": "metric=load"},
]}


def test_a_panel_on_a_dataset_not_loaded_joins_when_it_comes(
        app: Flask, state: AppState, data_dir: Path, write_csv: Any) -> None:
    hand_written(data_dir, "fleet", GONE)
    page = new_client(app)
    ack = page.emit("join_dashboard", {"name": "fleet", "query": ""}, callback=True)
    assert ack["ok"] is True
    cpu_panel, load = ack["panels"]
    assert cpu_panel == {"id": "cpu", "dataset": "hosts", "query": "metric=cpu"}
    assert load["id"] == "load" and "dataset 'later' is not loaded" in load["error"]
    assert [f["query"] for f in received(page, "update_chart")] == ["metric=cpu"]

    write_csv("later", OTHER_CSV.replace("load", "load"))  # it comes (a file, or ingest)
    state.folder.scan()
    [change] = received(page, "dashboard_changed")
    assert change == {"name": "fleet", "version": 1, "datasets": ["later"]}
    again = page.emit("join_dashboard", {"name": "fleet", "query": ""}, callback=True)
    assert again["panels"][1] == {"id": "load", "dataset": "later", "query": "metric=load"}

    (data_dir / "later.csv").unlink()  # and goes again
    state.folder.scan()
    assert received(page, "dashboard_changed") == [
        {"name": "fleet", "version": 1, "datasets": ["later"]}]


def test_poll_answers_a_missing_panel_with_its_error_and_then_with_its_view(
        app: Flask, client: FlaskClient, state: AppState, data_dir: Path,
        write_csv: Any) -> None:
    hand_written(data_dir, "fleet", GONE)
    first = client.get("/api/dashboards/fleet/poll?timeout=0")
    assert first.status_code == 200
    cpu_panel, load = first.json["panels"]
    assert cpu_panel["id"] == "cpu" and cpu_panel["figure"]["data"]
    assert load["id"] == "load" and "error" in load and "figure" not in load
    answers: list[Any] = []
    waiter = threading.Thread(target=lambda: answers.append(app.test_client().get(
        f"/api/dashboards/fleet/poll?cursor={first.json['cursor']}&timeout=20"
        "&figures=timeseries")))
    waiter.start()
    write_csv("later", OTHER_CSV)
    state.folder.scan()  # ingest or a file: the store hears of "later"
    waiter.join(10)
    [answer] = answers
    assert answer.status_code == 200  # not 404 "unknown dataset": the dashboard is whole
    [load] = answer.json["panels"]  # only the panel whose dataset changed
    later = state.store.get("later")
    assert load == {"id": "load", "dataset": "later", "query": "metric=load",
                    "version": later.version, "epoch": later.epoch}  # a stat: no figure


def test_poll_sends_every_panels_figure_or_only_time_series_when_asked(
        client: FlaskClient) -> None:
    put(client, "fleet", {**FLEET, "panels": [*FLEET["panels"], {
        "id": "rows", "type": "table", "dataset": "hosts", "query": "metric=cpu"}]})
    spec = {p["id"]: p for p in client.get(
        "/api/dashboards/fleet/poll?timeout=0").json["panels"]}
    assert all("figure" in entry for entry in spec.values())  # SPEC's shape for scripts
    panels = {p["id"]: p for p in client.get(  # what the page asks for
        "/api/dashboards/fleet/poll?timeout=0&figures=timeseries").json["panels"]}
    assert "figure" in panels["cpu"] and "figure" in panels["load"]
    for stat_or_table in ("peak", "rows"):
        entry = panels[stat_or_table]
        assert "figure" not in entry
        assert set(entry) == {"id", "dataset", "query", "version", "epoch"}


# A dashboard whose file breaks while it is open.

def test_a_broken_file_stops_the_pages_views_until_it_is_fixed(
        app: Flask, client: FlaskClient, state: AppState, data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    page = new_client(app)
    page.emit("join_dashboard", {"name": "fleet", "query": ""}, callback=True)
    path = data_dir / "dashboards" / "fleet.json"
    good = path.read_text()
    path.write_text("{ not json")
    state.scan_dashboards()
    assert received(page, "dashboard_changed") == [{"name": "fleet", "version": 2}]
    ack = page.emit("join_dashboard", {"name": "fleet", "query": ""}, callback=True)
    assert ack["ok"] is False and "dashboards/fleet.json" in ack["error"]
    assert state.live.rooms.watched == {}  # nothing it shows can be kept up to date
    state.store.append("hosts", cpu("2024-05-01T00:03:00", 99.0))
    assert received(page, "update_chart") == [] and received(page, "extend_chart") == []
    path.write_text(good)
    state.scan_dashboards()
    assert received(page, "dashboard_changed") == [{"name": "fleet", "version": 3}]
    assert page.emit("join_dashboard", {"name": "fleet", "query": ""}, callback=True)["ok"]


def test_poll_of_a_broken_file_says_so_once_then_waits_for_its_fix(
        app: Flask, client: FlaskClient, state: AppState, data_dir: Path) -> None:
    put(client, "fleet", FLEET)
    path = data_dir / "dashboards" / "fleet.json"
    good = path.read_text()
    path.write_text("{ not json")
    broken = client.get("/api/dashboards/fleet/poll?timeout=0")
    assert broken.status_code == 422
    assert "dashboards/fleet.json" in broken.json["error"] and broken.json["version"] == 2
    cursor = broken.json["cursor"]
    waited = client.get(f"/api/dashboards/fleet/poll?cursor={cursor}&timeout=0.2")
    assert waited.status_code == 204  # no 422 again and again while nothing changes
    answers: list[Any] = []
    waiter = threading.Thread(target=lambda: answers.append(app.test_client().get(
        f"/api/dashboards/fleet/poll?cursor={cursor}&timeout=20")))
    waiter.start()
    (path.parent / "fixed.tmp").write_text(good)  # in one step: no half-written file to read
    (path.parent / "fixed.tmp").replace(path)
    state.scan_dashboards()
    waiter.join(10)
    [fixed] = answers
    assert fixed.status_code == 200 and fixed.json["version"] == 3
    assert [p["id"] for p in fixed.json["panels"]] == ["cpu", "peak", "load"]


@pytest.mark.parametrize("url", ["/api/dashboards/fleet/poll", "/api/d/hosts/poll"])
@pytest.mark.parametrize("timeout", ["999", "60.5", "-1"])
def test_both_polls_refuse_a_timeout_past_60_naming_it(client: FlaskClient, url: str,
                                                      timeout: str) -> None:
    put(client, "fleet", FLEET)
    answer = client.get(f"{url}?timeout={timeout}")
    assert answer.status_code == 400
    assert answer.json["param"] == "timeout" and "0 to 60" in answer.json["error"]
