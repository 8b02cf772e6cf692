"""Long-poll, deltas and coalescing: the live machinery without a browser."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.data.schema import Batch
from app.engine import charts
from app.engine.delta import extended, extension
from app.engine.view import parse_view
from app.jsoncodec import dumps
from app.state import AppState

SECOND = 1_000_000_000
MAY_1 = 1_714_521_600 * SECOND


def cpu(*points: tuple[int, float, str]) -> Batch:
    """Points (seconds after 2024-05-01, value, host) for the ``hosts`` dataset."""
    ts = np.array([MAY_1 + s * SECOND for s, _, _ in points], dtype=np.int64)
    return Batch(ts, np.array(["cpu"] * len(points), object),
                 np.array([v for _, v, _ in points]),
                 {"host": np.array([h for _, _, h in points], object),
                  "region": np.array(["eu"] * len(points), object)})


def test_poll_answers_at_once_for_an_old_version_or_another_epoch(client: FlaskClient,
                                                                  state: AppState) -> None:
    dataset = state.store.get("hosts")
    for query in (f"since={dataset.version - 1}&epoch={dataset.epoch}",
                  f"since={dataset.version}&epoch=other", "", "since=0"):
        response = client.get(f"/api/d/hosts/poll?metric=cpu&host=web-1&{query}&timeout=30")
        assert response.status_code == 200, query
        body = response.json
        assert (body["version"], body["epoch"]) == (dataset.version, dataset.epoch)
        assert body["query"] == "metric=cpu&host=web-1"
        assert body["figure"]["data"][0]["y"] == [10, 11, 12]


def test_poll_answers_204_after_the_timeout(client: FlaskClient, state: AppState) -> None:
    dataset = state.store.get("hosts")
    started = time.monotonic()
    response = client.get(f"/api/d/hosts/poll?since={dataset.version}&epoch={dataset.epoch}"
                          "&timeout=0.3")
    assert response.status_code == 204 and response.data == b""
    assert time.monotonic() - started >= 0.3


def test_poll_wakes_when_the_dataset_changes(app: Flask, state: AppState) -> None:
    dataset = state.store.get("hosts")
    url = (f"/api/d/hosts/poll?metric=cpu&host=web-1&since={dataset.version}"
           f"&epoch={dataset.epoch}&timeout=20")
    answers: list[Any] = []
    waiter = threading.Thread(target=lambda: answers.append(app.test_client().get(url)))
    started = time.monotonic()
    waiter.start()
    # Whether the poller already waits or not, a change must answer it (never the timeout).
    version = state.store.append("hosts", cpu((180, 13.0, "web-1")))
    waiter.join(10)
    assert time.monotonic() - started < 10
    [response] = answers
    assert response.status_code == 200
    assert response.json["version"] == version
    assert response.json["figure"]["data"][0]["y"][-1] == 13.0


@pytest.mark.parametrize("query, message", [
    ("since=x", "since: 'x' is not a version"),
    ("since=-1", "since: '-1' is not a version"),
    ("timeout=61", "timeout: seconds from 0 to 60"),
    ("timeout=soon", "timeout: seconds from 0 to 60"),
    ("window=3x", "window: '3x' is not a duration"),
])
def test_poll_rejects_bad_parameters(client: FlaskClient, query: str, message: str) -> None:
    response = client.get(f"/api/d/hosts/poll?{query}")
    assert response.status_code == 400
    assert message in response.json["error"]


def test_poll_unknown_dataset_is_404(client: FlaskClient) -> None:
    assert client.get("/api/d/nope/poll?timeout=0").status_code == 404


def as_lists(figure: dict[str, Any]) -> list[tuple[list[Any], list[Any]]]:
    return [(list(t["x"]), list(t["y"])) for t in figure["data"]]


def figure_of(state: AppState, query: str) -> dict[str, Any]:
    snap = state.store.get("hosts").snapshot()
    view = parse_view([tuple(p.split("=")) for p in query.split("&")], snap.metrics,
                      snap.label_values)
    return charts.build(snap, view)


@pytest.mark.parametrize("query", ["metric=cpu&by=host", "metric=mem&host=web-2&agg=raw",
                                   "metric=cpu&by=host&window=5m"])
def test_a_delta_applied_to_the_old_figure_equals_the_new_one(state: AppState, query: str) -> None:
    old = figure_of(state, query)
    state.store.append("hosts", Batch(
        np.array([MAY_1 + 180 * SECOND] * 2 + [MAY_1 + 360 * SECOND] * 2),
        np.array(["cpu", "mem"] * 2, object), np.array([13.0, 53.0, 14.0, 54.0]),
        {"host": np.array(["web-1", "web-1", "web-2", "web-2"], object),
         "region": np.array(["eu", "eu", "us", "us"], object)}))
    new = figure_of(state, query)
    change = extension(old, new)
    assert change is not None
    assert as_lists(extended(old, change)) == as_lists(new)
    assert sum(len(x) for x in change["x"]) < sum(len(t["x"]) for t in new["data"])


def test_a_point_inside_the_window_replaces_the_points_after_it(state: AppState) -> None:
    old = figure_of(state, "metric=cpu&by=host")
    state.store.append("hosts", cpu((30, 99.0, "web-1")))  # between 00:00 and 00:01
    new = figure_of(state, "metric=cpu&by=host")
    change = extension(old, new)
    assert change is not None
    # web-1 drops 00:01 and 00:02 and gets 00:00:30, 00:01, 00:02; web-2 is as it was.
    assert change["replace"] == [2, 0] and [len(x) for x in change["x"]] == [3, 0]
    assert as_lists(extended(old, change)) == as_lists(new)


def test_an_aggregated_view_replaces_its_last_bucket(state: AppState) -> None:
    old = figure_of(state, "metric=cpu&by=none")  # two hosts at each instant: auto averages
    assert [t["meta"] for t in old["data"]] == ["band", "band", "mean"]
    state.store.append("hosts", cpu((150, 30.0, "web-1")))  # into the 00:02 minute
    new = figure_of(state, "metric=cpu&by=none")
    change = extension(old, new)
    assert change is not None
    # The 00:02 bucket held 12 and 22; now 12, 22 and 30: its min stays 12, its max
    # becomes 30 and its mean 64/3. Only what changed is sent.
    assert change["replace"] == [0, 1, 1]
    assert [list(y) for y in change["y"]] == [[], [30.0], [64 / 3]]
    assert as_lists(extended(old, change)) == as_lists(new)


def test_no_delta_when_the_layout_changes(state: AppState) -> None:
    old = figure_of(state, "metric=cpu&by=host")
    state.store.append("hosts", cpu((180, 1e6, "web-1")))  # other decimals on the axis
    new = figure_of(state, "metric=cpu&by=host")
    assert old["layout"] != new["layout"] and extension(old, new) is None


def test_rooms_get_extend_chart_with_the_base_version(app: Flask, state: AppState) -> None:
    watcher = app.extensions["socketio"].test_client(app)
    ack = watcher.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu&by=host"},
                       callback=True)
    watcher.get_received()
    version = state.store.append("hosts", cpu((180, 13.0, "web-1")))
    [message] = watcher.get_received()
    assert message["name"] == "extend_chart"
    change = message["args"][0]
    assert (change["version"], change["base_version"]) == (version, ack["version"])
    assert change["traces"] == [0, 1] and change["x"] == [["2024-05-01T00:03:00"], []]
    assert change["y"] == [[13.0], []] and change["max_points"] == [4, 3]
    assert "replace" not in change and "head" not in change  # what extendTraces takes


def test_an_aggregated_room_gets_its_last_bucket_replaced_and_shows_what_a_reload_shows(
        app: Flask, state: AppState) -> None:
    query = "metric=cpu&agg=p95&bucket=1m&by=host"
    watcher = app.extensions["socketio"].test_client(app, auth={"parts": True})
    watcher.emit("subscribe", {"dataset": "hosts", "query": query}, callback=True)
    [first] = watcher.get_received()
    redraws = state.live.figures.redraws
    version = state.store.append("hosts", cpu((150, 30.0, "web-1")))
    [message] = watcher.get_received()
    assert message["name"] == "extend_chart"
    change = message["args"][0]
    # web-1's 00:02 bucket held 12; now 12 and 30: its p95 is 12 + 0.95 * 18 = 29.1.
    assert change["replace"] == [1, 0] and change["y"] == [[pytest.approx(29.1)], []]
    assert change["x"] == [["2024-05-01T00:02:00"], []]
    assert state.live.figures.redraws == redraws + 1  # not computed whole
    shown = extended(first["args"][0]["figure"], change)
    reloaded = app.test_client().get(f"/api/d/hosts/figure?{query}").json
    assert reloaded["version"] == version
    assert as_lists(shown) == as_lists(reloaded["figure"])


@pytest.mark.parametrize("auth", [None, {}, {"parts": "yes"}])
def test_a_client_of_specs_appending_extend_chart_gets_the_whole_figure_for_a_change_by_parts(
        app: Flask, state: AppState, auth: dict[str, object] | None) -> None:
    query = "metric=cpu&agg=p95&bucket=1m&by=host"
    socketio = app.extensions["socketio"]
    plain = socketio.test_client(app, auth=auth)
    parts = socketio.test_client(app, auth={"parts": True})
    for client in (plain, parts):
        client.emit("subscribe", {"dataset": "hosts", "query": query}, callback=True)
        client.get_received()
    version = state.store.append("hosts", cpu((150, 30.0, "web-1")))
    [whole], [change] = plain.get_received(), parts.get_received()
    assert (whole["name"], change["name"]) == ("update_chart", "extend_chart")
    assert whole["args"][0]["version"] == change["args"][0]["version"] == version
    # web-1's 00:02 bucket held 12; now 12 and 30: its p95 is 12 + 0.95 * 18 = 29.1.
    assert whole["args"][0]["figure"]["data"][0]["y"][-1] == pytest.approx(29.1)
    # Points that only append reach both as extend_chart, as SPEC describes it.
    state.store.append("hosts", cpu((180, 13.0, "web-1")))
    [grew], [grew_too] = plain.get_received(), parts.get_received()
    assert grew["name"] == grew_too["name"] == "extend_chart"
    assert "replace" not in grew["args"][0]  # nothing replaced: only what extendTraces takes


def test_a_long_poll_gets_the_whole_figure_computed_by_parts(app: Flask, state: AppState
                                                             ) -> None:
    query = "metric=cpu&agg=max&bucket=1m&by=none"
    client = app.test_client()
    before = client.get(f"/api/d/hosts/figure?{query}").json
    redraws = state.live.figures.redraws
    state.store.append("hosts", cpu((130, 40.0, "web-1")))
    answer = client.get(f"/api/d/hosts/poll?{query}&since={before['version']}"
                        f"&epoch={before['epoch']}&timeout=5").json
    assert state.live.figures.redraws == redraws + 1
    # The 00:02 minute held 12 and 22; 40 came: its max is 40, the others as they were.
    assert answer["figure"]["data"][0]["y"] == [20.0, 21.0, 40.0]
    assert answer["figure"] == json.loads(dumps(figure_of(state, query)))


def test_a_flood_of_changes_is_coalesced(app_config: dict[str, Any], write_csv: Any) -> None:
    write_csv("hosts", "timestamp,cpu,host\n2024-05-01T00:00:00Z,1,web-1\n")
    app = create_app({**app_config, "BACKGROUND": True, "MAX_UPDATES_PER_SECOND": 5,
                      "SCAN_INTERVAL": 60})
    state: AppState = app.extensions["dash"]
    watcher = app.extensions["socketio"].test_client(app)
    watcher.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu&agg=max"},
                 callback=True)
    watcher.get_received()
    started = time.monotonic()
    appended = 0
    while time.monotonic() - started < 1.0:  # a flood: as many appends as fit in a second
        appended += 1
        state.store.append("hosts", cpu((appended, float(appended), "web-1")))
    received: list[Any] = []
    deadline = time.monotonic() + 2
    final = state.store.get("hosts").version
    while time.monotonic() < deadline and not any(
            m["args"][0]["version"] == final for m in received):
        received += watcher.get_received()
        threading.Event().wait(0.05)  # let the fan-out thread run
    assert appended > 100
    assert any(m["args"][0]["version"] == final for m in received)  # the last state arrives
    assert len(received) <= 5 * 1.0 + 3  # ~5 a second, not one per append


class Backlog:
    """Stands in for an Engine.IO socket with ``n`` messages waiting to be sent."""

    def __init__(self, n: int) -> None:
        self.queue = type("Queue", (), {"qsize": lambda _self: n})()


def test_a_client_that_is_behind_is_skipped_until_it_drains(app: Flask, state: AppState) -> None:
    socketio = app.extensions["socketio"]
    fast, slow = socketio.test_client(app), socketio.test_client(app)
    for client in (fast, slow):
        client.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu&by=host"},
                    callback=True)
        client.get_received()
    behind = state.live.transport.manager.max_backlog + 1
    socketio.server.eio.sockets[slow.eio_sid] = Backlog(behind)
    try:
        state.store.append("hosts", cpu((180, 13.0, "web-1")))
        assert [m["name"] for m in fast.get_received()] == ["extend_chart"]
        assert slow.get_received() == []  # not queued behind the backlog
        assert state.live.fanout.skipped == 1
        socketio.server.eio.sockets[slow.eio_sid] = Backlog(0)  # it caught up
        version = state.store.append("hosts", cpu((240, 14.0, "web-1")))
        [message] = slow.get_received()
        # Its next message says where it starts from; the client sees the gap and resyncs.
        assert message["args"][0]["version"] == version
        assert message["args"][0]["base_version"] == version - 1
    finally:
        socketio.server.eio.sockets.pop(slow.eio_sid, None)


def test_a_room_is_pushed_a_version_that_http_clients_built_first(app: Flask,
                                                                  state: AppState) -> None:
    watcher = app.extensions["socketio"].test_client(app)
    watcher.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu&by=host"},
                 callback=True)
    watcher.get_received()
    dataset = state.store.get("hosts")
    version = dataset.append(cpu((180, 13.0, "web-1")))  # changed, fan-out not run yet
    assert app.test_client().get("/api/d/hosts/figure?metric=cpu&by=host").json[
        "version"] == version  # a page load fills the cache at the new version first
    state.store.changed("hosts")
    [message] = watcher.get_received()
    assert message["args"][0]["version"] == version


def test_a_change_during_a_subscribers_first_build_still_reaches_it(
        app: Flask, state: AppState, monkeypatch: pytest.MonkeyPatch) -> None:
    # Build through the offload, as big views do.
    monkeypatch.setattr("app.live.figures.INLINE_ROWS", 0)
    compute, once = state.live.figures.offload, list[int | None]()

    def ingest_mid_build(fn: Any, *args: Any) -> Any:
        if not once:  # another request's batch lands while this figure is being built
            once.append(None)
            once[0] = state.store.append("hosts", cpu((180, 13.0, "web-1")))
        return compute(fn, *args)

    state.live.figures.offload = ingest_mid_build
    watcher = app.extensions["socketio"].test_client(app)
    watcher.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu&by=host"},
                 callback=True)
    versions = [m["args"][0]["version"] for m in watcher.get_received()]
    assert once[0] in versions  # the newest version arrived (older ones the page ignores)


def test_a_skipped_client_is_caught_up_once_it_drains(app: Flask, state: AppState) -> None:
    socketio = app.extensions["socketio"]
    slow = socketio.test_client(app)
    slow.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu&by=host"}, callback=True)
    slow.get_received()
    behind = state.live.transport.manager.max_backlog + 1
    socketio.server.eio.sockets[slow.eio_sid] = Backlog(behind)
    try:
        version = state.store.append("hosts", cpu((180, 13.0, "web-1")))
        assert slow.get_received() == [] and state.live.fanout.catch_up() == 0  # still behind
        socketio.server.eio.sockets[slow.eio_sid] = Backlog(0)
        assert state.live.fanout.catch_up() == 1  # no new change needed
        [message] = slow.get_received()
        assert message["name"] == "update_chart" and message["args"][0]["version"] == version
    finally:
        socketio.server.eio.sockets.pop(slow.eio_sid, None)


def test_concurrent_requests_for_one_view_build_it_once(app: Flask, state: AppState,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Build through the offload, as big views do.
    monkeypatch.setattr("app.live.figures.INLINE_ROWS", 0)
    compute, started, release = state.live.figures.offload, threading.Event(), threading.Event()

    def slow_build(fn: Any, *args: Any) -> Any:
        started.set()
        release.wait(5)
        return compute(fn, *args)

    state.live.figures.offload = slow_build
    builds = state.live.figures.builds
    answers: list[int] = []
    threads = [threading.Thread(target=lambda: answers.append(
        app.test_client().get("/api/d/hosts/figure?metric=mem").json["version"]))
        for _ in range(5)]
    for thread in threads:
        thread.start()
    assert started.wait(5)
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(answers) == 5 and len(set(answers)) == 1
    assert state.live.figures.builds == builds + 1


def test_views_outlive_a_file_losing_the_label_they_filter_on(
        app: Flask, state: AppState, write_csv: Any) -> None:
    watcher = app.extensions["socketio"].test_client(app)
    ack = watcher.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu&host=web-1"},
                       callback=True)
    watcher.get_received()
    write_csv("hosts", "timestamp,cpu\n2024-06-01T00:00:00Z,5\n")  # no host column any more
    state.folder.reload("hosts")
    [message] = watcher.get_received()
    assert message["name"] == "update_chart"
    assert message["args"][0]["figure"]["data"][0]["y"] == []  # nothing matches host=web-1
    assert watcher.emit("unsubscribe", {"dataset": "hosts", "query": ack["query"]},
                        callback=True) == {"ok": True}
    assert state.live.rooms.watched == {}


def test_a_figure_built_before_a_newer_one_was_sent_is_not_sent_back(
        app: Flask, state: AppState, monkeypatch: pytest.MonkeyPatch) -> None:
    # A flush whose build ran in the thread pool can resume holding version V-1 after a
    # joiner was welcomed with V: sending it would take the room back a version.
    watcher = app.extensions["socketio"].test_client(app, auth={"parts": True})
    watcher.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu&by=host"},
                 callback=True)
    [welcome] = watcher.get_received()
    newest = welcome["args"][0]
    older = {**newest, "version": newest["version"] - 1}
    monkeypatch.setattr(state.live.figures, "payload", lambda *_: older)
    state.live.fanout.flush({"hosts"})
    assert watcher.get_received() == []
    [watched] = state.live.rooms.watched.values()
    assert watched.sent is not None and watched.sent["version"] == newest["version"]


@pytest.mark.parametrize(("old", "new"), [([0.0, 1.0], [-0.0, 1.0]), ([1.0, -0.0], [1.0, 0.0])])
def test_a_value_that_changed_sign_at_zero_reaches_the_client_as_drawn(
        old: list[float], new: list[float]) -> None:
    def figure(y: list[float]) -> dict[str, object]:
        return {"data": [{"type": "scatter", "x": ["2024-05-01T00:00:00", "2024-05-01T00:01:00"],
                          "y": y}], "layout": {"title": "t"}}
    change = extension(figure(old), figure(new))
    shown = figure(new) if change is None else extended(figure(old), change)  # None: sent whole
    assert [str(y) for y in shown["data"][0]["y"]] == [str(y) for y in new]
