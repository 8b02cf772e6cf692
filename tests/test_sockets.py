"""Socket.IO: subscribe/ack/update_chart, rooms per canonical view, one build per change,
origins."""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask_socketio import SocketIOTestClient

from app import create_app
from app.data.schema import Batch
from app.state import AppState


def updates(client: SocketIOTestClient) -> list[dict[str, Any]]:
    """The update_chart and extend_chart payloads received since the last call."""
    return [m["args"][0] for m in client.get_received()
            if m["name"] in ("update_chart", "extend_chart")]


def new_client(app: Flask) -> SocketIOTestClient:
    return app.extensions["socketio"].test_client(app)


def one_point(ts: str, cpu: float, host: str = "web-1", region: str = "eu") -> Batch:
    return Batch(np.array([np.datetime64(ts, "ns").astype(np.int64)]), np.array(["cpu"], object),
                 np.array([cpu]), {"host": np.array([host], object),
                                   "region": np.array([region], object)})


def test_subscribe_acks_with_canonical_query_and_sends_the_figure(
        socket_client: SocketIOTestClient) -> None:
    ack = socket_client.emit("subscribe", {"dataset": "hosts", "query": "host=web-1&window=all"},
                             callback=True)
    assert ack["ok"] is True
    assert ack["query"] == "metric=cpu&host=web-1"
    [payload] = updates(socket_client)
    assert payload["dataset"] == "hosts"
    assert payload["query"] == ack["query"]
    assert (payload["version"], payload["epoch"]) == (ack["version"], ack["epoch"])
    [trace] = payload["figure"]["data"]
    assert trace["y"] == [10.0, 11.0, 12.0]
    assert trace["x"][0] == "2024-05-01T00:00:00"  # the wall clock in the view's zone (UTC)
    assert payload["figure"]["layout"]["xaxis"]["type"] == "date"


@pytest.mark.parametrize("message, error", [
    ({"dataset": "nope", "query": ""}, "unknown dataset 'nope'"),
    ({"dataset": "hosts", "query": "window=3x"}, "window: '3x' is not a duration"),
    ({"dataset": "hosts", "query": "colour=red"}, "colour: unknown parameter"),
    ({"dataset": 5, "query": ""}, "'dataset' must be a string"),
    ("hosts", "expected an object"),
])
def test_subscribe_refuses_bad_requests_with_a_message(
        socket_client: SocketIOTestClient, message: Any, error: str) -> None:
    ack = socket_client.emit("subscribe", message, callback=True)
    assert ack["ok"] is False
    assert error in ack["error"]
    assert updates(socket_client) == []


def test_equivalent_queries_share_one_room(app: Flask, state: AppState) -> None:
    first, second = new_client(app), new_client(app)
    a = first.emit("subscribe", {"dataset": "hosts", "query": "host=web-1&metric=cpu"},
                   callback=True)
    b = second.emit("subscribe", {"dataset": "hosts",
                                  "query": "agg=auto&metric=cpu&window=all&host=web-1&page=1"},
                    callback=True)
    assert a["query"] == b["query"]
    assert list(state.live.rooms.watched) == ["hosts?metric=cpu&host=web-1"]
    assert len(state.live.transport.members("hosts?metric=cpu&host=web-1")) == 2


def test_a_change_is_computed_once_per_view_and_pushed_to_every_watcher(
        app: Flask, state: AppState) -> None:
    same_a, same_b, other = new_client(app), new_client(app), new_client(app)
    same_a.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu"}, callback=True)
    same_b.emit("subscribe", {"dataset": "hosts", "query": "metric=cpu&window=all"},
                callback=True)
    other.emit("subscribe", {"dataset": "hosts", "query": "by=host"}, callback=True)
    for c in (same_a, same_b, other):
        updates(c)  # drop the initial figures
    builds = state.live.figures.builds

    version = state.store.append("hosts", one_point("2024-05-01T00:03:00", 99.0))

    assert state.live.figures.builds == builds + 2  # two views, three watchers
    for c in (same_a, same_b, other):
        [payload] = updates(c)
        assert payload["version"] == version
    assert updates(same_a) == []  # nothing more arrives


def test_unsubscribe_stops_updates(socket_client: SocketIOTestClient, state: AppState) -> None:
    socket_client.emit("subscribe", {"dataset": "hosts", "query": ""}, callback=True)
    assert socket_client.emit("unsubscribe", {"dataset": "hosts", "query": "metric=cpu"},
                              callback=True) == {"ok": True}
    updates(socket_client)
    state.store.append("hosts", one_point("2024-05-01T00:03:00", 99.0))
    assert updates(socket_client) == []
    assert state.live.rooms.watched == {}


def test_disconnect_forgets_the_socket(socket_client: SocketIOTestClient, state: AppState) -> None:
    socket_client.emit("subscribe", {"dataset": "hosts", "query": ""}, callback=True)
    socket_client.disconnect()
    assert state.live.rooms.watched == {} and state.live.rooms.viewers == 0


def test_refresh_data_reloads_from_disk_and_pushes_a_new_epoch(
        socket_client: SocketIOTestClient, state: AppState, write_csv: Any) -> None:
    ack = socket_client.emit("subscribe", {"dataset": "hosts", "query": ""}, callback=True)
    updates(socket_client)
    write_csv("hosts", "timestamp,cpu\n2024-06-01T00:00:00Z,5\n")
    answer = socket_client.emit("refresh_data", {"dataset": "hosts"}, callback=True)
    assert answer["ok"] is True and answer["epoch"] != ack["epoch"]
    [payload] = updates(socket_client)
    assert payload["epoch"] == answer["epoch"]
    assert payload["figure"]["data"][0]["y"] == [5.0]


@pytest.mark.parametrize("origin, allowed, status", [
    (None, (), 200),  # not a browser
    ("http://localhost", (), 200),  # the page's own origin
    ("https://localhost", (), 200),  # the same, behind a proxy that terminates TLS
    ("http://localhost:8080", (), 400),  # another port is another origin
    ("http://evil.example", (), 400),
    ("http://evil.example", ("http://evil.example",), 200),
    ("http://other.example", ("http://evil.example",), 400),
])
def test_socket_origins(app_config: dict[str, Any], origin: str | None,
                        allowed: tuple[str, ...], status: int) -> None:
    app = create_app({**app_config, "ALLOWED_ORIGINS": allowed})
    headers = {"Origin": origin} if origin else {}
    response = app.test_client().get("/socket.io/?EIO=4&transport=polling", headers=headers)
    assert response.status_code == status


def test_refresh_data_is_limited_to_one_reload_every_few_seconds(
        socket_client: SocketIOTestClient) -> None:
    first = socket_client.emit("refresh_data", {"dataset": "hosts"}, callback=True)
    second = socket_client.emit("refresh_data", {"dataset": "hosts"}, callback=True)
    assert first["ok"] is True
    assert second == {"ok": False, "error": "'hosts' was reloaded less than 2 s ago; "
                                            "its viewers are up to date"}


def test_websocket_compression_offers_are_declined() -> None:
    from app import without_websocket_compression

    seen: dict[str, Any] = {}
    wrapped = without_websocket_compression(lambda environ, start: seen.update(environ) or [])
    wrapped({"HTTP_SEC_WEBSOCKET_EXTENSIONS": "permessage-deflate", "PATH_INFO": "/"}, None)
    assert "HTTP_SEC_WEBSOCKET_EXTENSIONS" not in seen and seen["PATH_INFO"] == "/"


def test_subscribe_to_a_file_that_failed_says_why(socket_client: SocketIOTestClient,
                                                   write_csv: Any, state: AppState) -> None:
    write_csv("broken", "when,what\nyesterday,nothing\n")
    state.folder.scan()
    ack = socket_client.emit("subscribe", {"dataset": "broken", "query": ""}, callback=True)
    assert ack["ok"] is False and "no timestamp column" in ack["error"]


def test_refresh_data_is_limited_per_connection_too(app: Flask, write_csv: Any) -> None:
    """One connection rotating over datasets reloads once, not once per dataset."""
    for name in ("a", "b"):
        write_csv(name, "timestamp,cpu\n2024-06-01T00:00:00Z,5\n")
    app.extensions["dash"].folder.scan()
    rotating, other = new_client(app), new_client(app)
    answers = [rotating.emit("refresh_data", {"dataset": name}, callback=True)
               for name in ("hosts", "a", "b")]
    assert [a["ok"] for a in answers] == [True, False, False]
    assert answers[1]["error"] == ("a connection may ask for one reload every 2 s; "
                                   "try again in a moment")
    assert other.emit("refresh_data", {"dataset": "a"}, callback=True)["ok"] is True


def test_past_the_view_budget_a_new_view_is_refused_and_watched_ones_still_work(
        app: Flask, app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "MAX_VIEWS": 2})  # over the same folder, hosts in it
    first, second = new_client(app), new_client(app)
    acks = [first.emit("subscribe", {"dataset": "hosts", "query": q}, callback=True)
            for q in ("host=web-1", "host=web-2")]
    assert all(ack["ok"] for ack in acks)
    refused = second.emit("subscribe", {"dataset": "hosts", "query": "region=eu"},
                          callback=True)
    assert refused == {"ok": False, "error": "the server already follows its limit of 2 "
                                             "distinct live views (DASH_MAX_VIEWS); views "
                                             "others watch still work, or try again later"}
    shared = second.emit("subscribe", {"dataset": "hosts", "query": "host=web-1"},
                         callback=True)
    assert shared["ok"] is True  # a view already watched costs nothing more
    first.emit("unsubscribe", {"dataset": "hosts", "query": acks[1]["query"]}, callback=True)
    assert second.emit("subscribe", {"dataset": "hosts", "query": "region=eu"},
                       callback=True)["ok"] is True


@pytest.mark.parametrize("event, payload, field", [
    # What a browser sends for a lone surrogate: JSON.stringify("\ud800") is "\\ud800",
    # valid JSON, but no UTF-8 text.
    ("subscribe", r'{"dataset": "\ud800", "query": ""}', "dataset"),
    ("subscribe", r'{"dataset": "hosts", "query": "host=\udc00"}', "query"),
    ("subscribe", r'{"dataset": "hosts", "query": "\udc00=1"}', "query"),
    ("unsubscribe", r'{"dataset": "hosts", "query": "host=\ud800x"}', "query"),
    ("refresh_data", r'{"dataset": "\ud800"}', "dataset"),
    ("join_dashboard", r'{"name": "demo", "query": "window=\ud83d"}', "query"),
])
def test_a_lone_surrogate_in_an_event_gets_an_error_ack(
        socket_client: SocketIOTestClient, event: str, payload: str, field: str) -> None:
    # The packet as it comes off the wire, ack id 7: the test client's own encoder (orjson)
    # cannot even write such a string.
    socket_client.socketio.server._handle_eio_message(
        socket_client.eio_sid, f'27["{event}",{payload}]')
    ack = socket_client.acks
    assert ack is not None, "no ack: the packet was dropped with a traceback"
    [answer] = ack["args"]
    assert answer["ok"] is False
    assert answer["error"].startswith(f"'{field}' is not valid text: it holds a lone surrogate")
    # And the connection keeps serving.
    assert socket_client.emit("subscribe", {"dataset": "hosts", "query": ""},
                              callback=True)["ok"] is True


def socket_from(app: Flask, address: str) -> SocketIOTestClient:
    """A Socket.IO connection from client ``address``."""
    http = app.test_client()
    http.environ_base["REMOTE_ADDR"] = address
    return app.extensions["socketio"].test_client(app, flask_test_client=http)


BUDGET_ERROR = ("your address watches its limit of 3 live views already, over all its "
                "connections (DASH_MAX_VIEWS_PER_IP); close some pages or views first")


def test_the_connections_of_one_address_share_its_budget_of_views(
        app_config: dict[str, Any], write_csv: Any) -> None:
    from tests.samples import WIDE_CSV

    write_csv("hosts", WIDE_CSV)
    app = create_app({**app_config, "MAX_VIEWS_PER_IP": 3})
    first, second = socket_from(app, "10.0.0.1"), socket_from(app, "10.0.0.1")
    for query in ("metric=cpu", "host=web-1"):
        assert first.emit("subscribe", {"dataset": "hosts", "query": query},
                          callback=True)["ok"] is True
    # The second connection counted as one view already: its first view costs nothing more.
    assert second.emit("subscribe", {"dataset": "hosts", "query": "host=web-2"},
                       callback=True)["ok"] is True
    refused = second.emit("subscribe", {"dataset": "hosts", "query": "region=eu"},
                          callback=True)
    assert refused == {"ok": False, "error": BUDGET_ERROR}
    # Another address has its own budget; a view given up makes room again.
    other = socket_from(app, "10.0.0.2")
    assert other.emit("subscribe", {"dataset": "hosts", "query": "region=eu"},
                      callback=True)["ok"] is True
    assert first.emit("unsubscribe", {"dataset": "hosts", "query": "metric=cpu"},
                      callback=True) == {"ok": True}
    assert second.emit("subscribe", {"dataset": "hosts", "query": "region=eu"},
                       callback=True)["ok"] is True


def test_a_new_connection_past_the_budget_of_its_address_is_a_429(
        app_config: dict[str, Any], write_csv: Any) -> None:
    from tests.samples import WIDE_CSV

    write_csv("hosts", WIDE_CSV)
    app = create_app({**app_config, "MAX_VIEWS_PER_IP": 3})
    held = [socket_from(app, "10.0.0.1") for _ in range(3)]  # one view each, so far
    handshake = "/socket.io/?EIO=4&transport=polling"
    response = app.test_client().get(handshake, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "5"
    assert response.json == {"error": f"{BUDGET_ERROR}; try again in 5 s"}
    websocket = app.test_client().get("/socket.io/?EIO=4&transport=websocket",
                                      environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert websocket.status_code == 429
    # A handshake that got past the 429 at the same moment is refused on connecting.
    assert not socket_from(app, "10.0.0.1").is_connected()
    assert app.test_client().get(handshake, environ_base={"REMOTE_ADDR": "10.0.0.2"}) \
        .status_code == 200
    held[0].disconnect()
    assert app.test_client().get(handshake, environ_base={"REMOTE_ADDR": "10.0.0.1"}) \
        .status_code == 200


def test_behind_a_trusted_proxy_each_client_has_its_own_budget(
        app_config: dict[str, Any], write_csv: Any) -> None:
    from tests.samples import WIDE_CSV

    write_csv("hosts", WIDE_CSV)
    app = create_app({**app_config, "MAX_VIEWS_PER_IP": 1, "TRUSTED_PROXIES": ("10.0.0.5",)})
    http = app.test_client()
    handshake = "/socket.io/?EIO=4&transport=polling"

    def connect(remote: str, client: str) -> int:
        """Open a Socket.IO connection over HTTP polling, as a browser does; the status of
        its handshake."""
        environ = {"REMOTE_ADDR": remote, "HTTP_X_FORWARDED_FOR": client}
        opened = http.get(handshake, environ_base=environ)
        if opened.status_code == 200:
            sid = json.loads(opened.text[1:])["sid"]
            assert http.post(f"{handshake}&sid={sid}", data="40",
                             environ_base=environ).status_code == 200
        return opened.status_code

    assert connect("10.0.0.5", "203.0.113.9") == 200
    assert connect("10.0.0.5", "203.0.113.9") == 429  # that client's budget is spent
    assert connect("10.0.0.5", "203.0.113.10") == 200  # the next one behind the proxy
    assert connect("192.0.2.1", "203.0.113.11") == 200  # not a proxy: its own address counts
    assert connect("192.0.2.1", "203.0.113.12") == 429  # whatever it says it forwards


@pytest.mark.parametrize("event, payload", [
    ("subscribe", lambda i: {"dataset": "hosts", "query": f"window={i + 1}m"}),
    ("join_dashboard", lambda i: {"name": "nope", "query": f"window={i + 1}m"}),
])
def test_subscribes_and_joins_are_limited_per_connection(
        app: Flask, state: AppState, event: str, payload: Callable[[int], Any]) -> None:
    now = [1000.0]
    state.clock = lambda: now[0]
    spammer, other = new_client(app), new_client(app)
    limit = ("a connection may subscribe or join at most 5 times a second (after 20 at "
             "once); try again in a moment")
    acks = [spammer.emit(event, payload(i), callback=True) for i in range(21)]
    assert all(ack.get("error") != limit for ack in acks[:20])
    assert acks[20] == {"ok": False, "error": limit}
    # Other connections are served; the spammer gets one more every 0.2 s.
    assert other.emit("subscribe", {"dataset": "hosts", "query": ""}, callback=True)["ok"]
    now[0] += 0.2
    assert spammer.emit(event, payload(30), callback=True).get("error") != limit
    assert spammer.emit(event, payload(31), callback=True) == {"ok": False, "error": limit}
