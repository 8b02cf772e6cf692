"""Cluster mode inside one test process: several apps over one real redis-server.

Each app is what one product process builds (``DASH_REDIS_URL`` set), with its own data
folder and no background loops: a test reads the shared log with ``StreamLog.poll``
where a process's reader green thread would. The proof with real processes, nginx and
kill -9 is ``e2e/test_cluster.py``.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from app.config import from_environment
from app.data import demo
from app.data.demo import Demo, SharedDemo
from app.data.lease import Lease
from app.data.redislog import Broken, RedisLog, redacted
from app.data.schema import Batch, Schema
from app.data.store import Snapshot, Store
from app.data.streams import SOURCE, StreamLog, merge, schema_json
from app.live.transport import SharedFrameManager, SharedFrameRedisManager
from app.state import AppState
from e2e.services import REDIS_SERVER, RedisServer, redis_server
from tests.samples import WIDE_CSV

TOKEN = "cluster-token"
ADMIN = "cluster-admin"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ADMIN_AUTH = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server, configured as deploy/redis.conf ships it."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.fail(f"{REDIS_SERVER} is missing: run "
                    "tools/apt-ensure /usr/bin/redis-server=redis-server", pytrace=False)
    with redis_server(tmp_path / "redis-work") as running:
        yield running


Start = Callable[..., Flask]


@pytest.fixture
def start(server: RedisServer, tmp_path: Path) -> Start:
    """``start(name, files={...}, **settings)``: one product process of the cluster."""
    def make(name: str, files: dict[str, str] | None = None, **settings: Any) -> Flask:
        data = tmp_path / name
        data.mkdir(exist_ok=True)
        for stem, text in (files or {}).items():
            (data / f"{stem}.csv").write_text(text)
        config = {"TESTING": True, "DATA_DIR": str(data), "BACKGROUND": False, "DEMO": False,
                  "REDIS_URL": server.url, "INGEST_TOKEN": TOKEN, "ADMIN_TOKEN": ADMIN,
                  **settings}
        return create_app(config)
    return make


def state_of(app: Flask) -> AppState:
    state: AppState = app.extensions["dash"]
    return state


def streams_of(app: Flask) -> StreamLog:
    streams = state_of(app).streams
    assert streams is not None
    return streams


def caught_up(*apps: Flask) -> None:
    """Each app reads the shared log until it has nothing new (what its reader does)."""
    for app in apps:
        while streams_of(app).poll(0):
            pass


def ingest(client: FlaskClient, name: str, points: list[dict[str, Any]]) -> Any:
    return client.post(f"/api/d/{name}/points", json=points, headers=AUTH)


def cpu(second: int, value: float, host: str = "web-1") -> dict[str, Any]:
    return {"timestamp": f"2024-05-01T00:00:{second:02d}Z", "cpu": value, "host": host}


def listing(client: FlaskClient) -> dict[str, tuple[Any, ...]]:
    """name -> (rows, version, epoch, start, end) from /api/datasets."""
    return {d["name"]: (d["rows"], d["version"], d["epoch"], d["start"], d["end"])
            for d in client.get("/api/datasets").json}


# -- settings and the pieces without Redis -------------------------------------------

@pytest.mark.parametrize("environ, expected", [
    ({"DASH_REDIS_URL": "redis://10.0.0.5:6379/2"}, {"REDIS_URL": "redis://10.0.0.5:6379/2"}),
    ({"DASH_REDIS_URL": " rediss://cache:6380/0 "}, {"REDIS_URL": "rediss://cache:6380/0"}),
    ({"DASH_REDIS_DURABILITY": "Relaxed"}, {"REDIS_DURABILITY": "relaxed"}),
    ({"DASH_REDIS_PREFIX": "fleet:"}, {"REDIS_PREFIX": "fleet:"}),
])
def test_cluster_settings(environ: dict[str, str], expected: dict[str, str]) -> None:
    assert from_environment(environ) == expected


@pytest.mark.parametrize("environ, named", [
    ({"DASH_REDIS_URL": "10.0.0.5:6379"}, "DASH_REDIS_URL='10.0.0.5:6379' is not valid: use "
                                         "redis://host:port/db"),
    ({"DASH_REDIS_DURABILITY": "fast"}, "DASH_REDIS_DURABILITY='fast' is not valid: use strict"),
])
def test_bad_cluster_settings_name_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=re.escape(named)):
        from_environment(environ)


@pytest.mark.parametrize("url, shown", [
    ("redis://127.0.0.1:6390/0", "redis://127.0.0.1:6390/0"),
    ("redis://:s3cret@cache.internal:6379/2", "redis://cache.internal:6379/2"),
    ("rediss://dash:s3cret@[::1]:6380/0", "rediss://[::1]:6380/0"),
    ("redis://dash:s3cret@cache/1?ssl_cert_reqs=none", "redis://cache/1"),
])
def test_messages_and_healthz_never_show_the_redis_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


def long_batch(ts: list[int], labels: dict[str, list[str | None]],
               rows: int | None = None) -> Batch:
    return Batch(np.array(ts, np.int64), np.array(["cpu"] * len(ts), object),
                 np.array([float(t) for t in ts]),
                 {k: np.array(v, object) for k, v in labels.items()}, rows=rows)


@pytest.mark.parametrize("batches, labels, rows", [
    ([long_batch([1], {"host": ["a"]})], {"host": ["a"]}, 1),
    ([long_batch([1], {"host": ["a"]}), long_batch([2, 3], {"host": ["b", None]})],
     {"host": ["a", "b", None]}, 3),
    # a label one batch lacks is missing (None) for its points
    ([long_batch([1], {"host": ["a"]}), long_batch([2], {"region": ["eu"]}, rows=1)],
     {"host": ["a", None], "region": [None, "eu"]}, 2),
    # wide rows count as rows, not points
    ([long_batch([1, 1], {}, rows=1), long_batch([2, 2, 2], {}, rows=1)], {}, 2),
])
def test_entries_read_together_are_applied_as_one_batch(
        batches: list[Batch], labels: dict[str, list[str | None]], rows: int) -> None:
    merged = merge(batches)
    assert merged.ts.tolist() == [t for b in batches for t in b.ts.tolist()]
    assert {k: v.tolist() for k, v in merged.labels.items()} == labels
    assert (len(merged) if merged.rows is None else merged.rows) == rows


def test_a_dataset_takes_the_logs_epoch_and_versions() -> None:
    store = Store(max_label_values=1)
    dataset = store.create("cpu", Schema("timestamp", "long", (), ("host",)), source=SOURCE,
                           epoch="from-redis")
    assert dataset.epoch == "from-redis"
    assert dataset.apply(long_batch([1], {"host": ["a"]}), 7) == 7
    # another process admitted this batch: the label limit does not refuse it here
    assert dataset.apply(long_batch([2], {"host": ["b"]}), 9) == 9
    assert (dataset.version, len(dataset), dataset.epoch) == (9, 2, "from-redis")
    assert dataset.max_label_values == 1


# -- the shared log -----------------------------------------------------------

def test_a_batch_ingested_at_one_process_is_at_every_process_with_the_same_version(
        start: Start) -> None:
    a, b = start("a"), start("b")
    first = ingest(a.test_client(), "cpu", [cpu(0, 1.0), cpu(1, 2.0)])
    assert first.status_code == 200
    assert first.json["accepted"] == 2 and first.json["version"] == 1
    second = ingest(b.test_client(), "cpu", [cpu(2, 3.0)])  # the other process, same dataset
    assert second.json == {"accepted": 1, "version": 2, "epoch": first.json["epoch"]}
    caught_up(a, b)
    expected = (3, 2, first.json["epoch"], "2024-05-01T00:00:00Z", "2024-05-01T00:00:02Z")
    assert listing(a.test_client())["cpu"] == listing(b.test_client())["cpu"] == expected


def test_the_ingesting_process_shows_its_batch_when_it_answers(start: Start) -> None:
    a = start("a")
    answer = ingest(a.test_client(), "cpu", [cpu(0, 1.0)]).json
    assert listing(a.test_client())["cpu"][1:3] == (answer["version"], answer["epoch"])


def test_versions_come_from_the_log_not_from_local_appends(start: Start) -> None:
    a, b = start("a"), start("b")
    ca, cb = a.test_client(), b.test_client()
    answers = [ingest(ca if i % 2 else cb, "cpu", [cpu(i, float(i))]).json for i in range(6)]
    assert [x["version"] for x in answers] == [1, 2, 3, 4, 5, 6]
    caught_up(a, b)
    # b applied a's batches too, yet its version is the log's 6, not 3 of its own plus 3
    assert listing(ca)["cpu"][:3] == listing(cb)["cpu"][:3] == (6, 6, answers[0]["epoch"])
    figure = cb.get("/api/d/cpu/figure?metric=cpu&agg=raw").json
    assert figure["version"] == 6
    assert figure["figure"]["data"][0]["y"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


def test_a_process_started_later_catches_up_with_the_same_versions(start: Start) -> None:
    a = start("a")
    for i in range(5):
        answer = ingest(a.test_client(), "cpu", [cpu(i, float(i))]).json
    late = start("late")  # e.g. restarted after kill -9: it replays the log at start
    assert listing(late.test_client())["cpu"] == listing(a.test_client())["cpu"]
    assert listing(late.test_client())["cpu"][1:3] == (5, answer["epoch"])


def test_bad_points_are_checked_against_the_schema_in_redis(start: Start) -> None:
    a, b = start("a"), start("b")
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    # b has not read the dataset yet, but validates against its columns in Redis
    refused = ingest(b.test_client(), "cpu", [{"timestamp": "2024-05-01T00:00:05Z", "mem": 3}])
    assert refused.status_code == 400
    assert "mem" in json.dumps(refused.json)
    caught_up(a, b)
    assert listing(b.test_client())["cpu"][:2] == (1, 1)


def test_a_name_that_is_a_file_here_stays_the_file(start: Start) -> None:
    a = start("a", files={"hosts": WIDE_CSV})
    b = start("b")
    refused = ingest(a.test_client(), "hosts", [cpu(0, 1.0)])
    assert refused.status_code == 409
    assert "hosts.csv" in refused.json["error"]
    # b has no such file: the name is a stream there, and a keeps showing its file
    assert ingest(b.test_client(), "hosts", [cpu(0, 1.0)]).status_code == 200
    caught_up(a, b)
    assert listing(a.test_client())["hosts"][0] == 6  # the file's six rows
    assert listing(b.test_client())["hosts"][0] == 1
    assert state_of(a).store.get("hosts").source == "file"
    (Path(state_of(a).folder.directory) / "hosts.csv").unlink()
    state_of(a).folder.scan()  # the file went away: the stream shows there now
    caught_up(a)
    assert listing(a.test_client())["hosts"] == listing(b.test_client())["hosts"]
    assert state_of(a).store.get("hosts").source == SOURCE


def test_reload_from_disk_is_offered_only_for_a_dataset_read_from_a_file(start: Start) -> None:
    a = start("a", files={"hosts": WIDE_CSV})
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    assert 'id="refresh"' in a.test_client().get("/d/hosts?metric=cpu").text
    assert 'id="refresh"' not in a.test_client().get("/d/cpu?metric=cpu").text  # a stream


# -- Redis away -----------------------------------------------------------------

def test_redis_away_is_503_with_retry_after_and_nothing_acknowledged_is_lost(
        start: Start, server: RedisServer) -> None:
    a, b = start("a"), start("b")
    acknowledged = [ingest(a.test_client(), "cpu", [cpu(0, 1.0)]).json]
    server.stop()
    refused = ingest(a.test_client(), "cpu", [cpu(1, 2.0)])
    assert refused.status_code == 503
    assert refused.headers["Retry-After"] == "1"
    assert "not stored" in refused.json["error"]
    assert a.test_client().get("/api/d/cpu/figure").status_code == 200  # views keep their data
    server.start()
    acknowledged.append(ingest(b.test_client(), "cpu", [cpu(2, 3.0)]).json)
    caught_up(a, b)
    for app in (a, b):
        rows, version, epoch, *_ = listing(app.test_client())["cpu"]
        assert (rows, version, epoch) == (2, 2, acknowledged[0]["epoch"])
    assert [x["version"] for x in acknowledged] == [1, 2]


def test_redis_away_at_start_is_refused_saying_what_to_do(start: Start,
                                                           server: RedisServer) -> None:
    server.stop()
    with pytest.raises(RuntimeError, match="Start Redis"):
        start("a")


@pytest.mark.parametrize("durability, starts", [("strict", False), ("relaxed", True)])
def test_redis_that_could_lose_acknowledged_points_is_refused_unless_relaxed(
        start: Start, server: RedisServer, durability: str, starts: bool) -> None:
    redis.Redis.from_url(server.url).config_set("appendfsync", "everysec")
    if starts:
        app = start("a", REDIS_DURABILITY=durability)
        assert ingest(app.test_client(), "cpu", [cpu(0, 1.0)]).status_code == 200
    else:
        with pytest.raises(RuntimeError, match="appendfsync is 'everysec'"):
            start("a", REDIS_DURABILITY=durability)


def test_an_entry_this_version_cannot_read_is_shown_as_the_datasets_error(
        start: Start, server: RedisServer) -> None:
    a, b = start("a"), start("b")
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    caught_up(b)
    client = redis.Redis.from_url(server.url)
    client.xadd("dash:stream:cpu", {"v": 2, "e": listing(b.test_client())["cpu"][2],
                                    "h": b'{"f": 9}', "d": b""})
    events: list[str] = []
    streams_of(b).on_error = events.append
    caught_up(b)
    entry = next(d for d in b.test_client().get("/api/datasets").json if d["name"] == "cpu")
    assert entry["rows"] == 1  # what came before it is kept
    assert "entry format 9" in entry["error"]
    assert events == ["cpu"]


def test_the_log_stops_reading_a_dataset_at_an_entry_it_cannot_read(
        server: RedisServer) -> None:
    redis_log = RedisLog(server.url)
    cursors, _ = redis_log.start()
    schema = json.dumps({"timestamp": "timestamp", "kind": "long", "metrics": [],
                         "labels": []})
    redis_log.append("x", schema, Batch(np.array([1], np.int64), np.array(["m"], object),
                                        np.array([1.0])))
    redis.Redis.from_url(server.url).xadd("dash:stream:x", {"v": 2, "e": "?", "h": b"{}",
                                                            "d": b""})
    redis_log.append("y", schema, Batch(np.array([1], np.int64), np.array(["m"], object),
                                        np.array([1.0])))
    events = []
    while more := redis_log.read(cursors, 0):
        events += more
    assert [(type(e).__name__, e.dataset) for e in events] == [
        ("Created", "x"), ("Created", "y"), ("StreamBatch", "x"), ("Broken", "x"),
        ("StreamBatch", "y")]
    assert isinstance(events[3], Broken) and "format None" in events[3].error
    redis_log.close()


# -- retention ------------------------------------------------------------------

def test_retention_trims_the_streams_and_a_late_process_ends_with_the_same_points(
        start: Start, server: RedisServer) -> None:
    a = start("a", RETENTION="4m")  # what memory keeps: 4 minutes back from the newest
    for minute in range(3):  # 1,200 points: memory drops old points 1,024 at a time at least
        ingest(a.test_client(), "cpu", [
            {"timestamp": f"2024-05-01T00:0{minute}:{ms // 1000:02d}.{ms % 1000:03d}Z",
             "cpu": 1.0} for ms in range(400)])
    streams = streams_of(a)
    assert streams.trim(now=0) == 0  # memory still holds all of it
    ingest(a.test_client(), "cpu", [{"timestamp": "2024-05-01T01:00:00Z", "cpu": 2.0}])
    assert state_of(a).store.get("cpu").start == state_of(a).store.get("cpu").end
    assert streams.trim(now=1e12) == 3  # the three early batches; the newest stays
    assert redis.Redis.from_url(server.url).xlen("dash:stream:cpu") == 1
    late = start("late", RETENTION="4m")
    assert listing(late.test_client())["cpu"] == listing(a.test_client())["cpu"]
    assert listing(late.test_client())["cpu"][:2] == (1, 4)


@pytest.mark.parametrize("first, then, starts", [
    ("4m", "4m", True),
    ("4m", "240s", True),  # the same age written otherwise
    ("4m", "1h", False),  # would keep an hour the first one trims after 4 minutes
    ("2000000", "0", False),  # keep everything, against a cluster that trims
])
def test_a_process_with_another_retention_than_the_clusters_is_refused(
        start: Start, first: str, then: str, starts: bool) -> None:
    start("a", RETENTION=first)
    if starts:
        assert start("b", RETENTION=then).test_client().get("/healthz").status_code == 200
        return
    with pytest.raises(RuntimeError) as refused:
        start("b", RETENTION=then)
    message = str(refused.value)
    assert "\n" not in message
    assert f"DASH_RETENTION is {then!r} here but this cluster keeps {first!r}" in message
    assert f"start this process with DASH_RETENTION={first}" in message
    assert f"SET dash:retention {then}" in message  # how to change the cluster's


def test_a_process_no_longer_trims_once_the_clusters_retention_changed(
        start: Start, server: RedisServer) -> None:
    a = start("a", RETENTION="4m")
    for minute in (0, 60):
        ingest(a.test_client(), "cpu", [
            {"timestamp": f"2024-05-01T{minute // 60:02d}:{minute % 60:02d}:{s:02d}Z",
             "cpu": 1.0} for s in range(60)] * (20 if minute == 0 else 1))
    assert state_of(a).store.get("cpu").start == state_of(a).store.get("cpu").end - 59 * 10**9
    admin = redis.Redis.from_url(server.url)
    admin.set("dash:retention", "1h")  # as the refusal says: the cluster keeps an hour now
    assert streams_of(a).trim(now=1e12) == 0  # a still keeps 4 minutes: it cuts nothing
    assert admin.xlen("dash:stream:cpu") == 2
    health = a.test_client().get("/healthz").json["redis"]
    assert "restart it with DASH_RETENTION=1h" in health["retention_error"]
    admin.set("dash:retention", "4m")
    assert streams_of(a).trim(now=2e12) == 1
    assert a.test_client().get("/healthz").json["redis"]["retention_error"] is None


# -- dashboards -----------------------------------------------------------------

BOARD = {"title": "Fleet", "panels": [{"id": "cpu", "type": "timeseries", "dataset": "cpu",
                                       "query": "metric=cpu"}]}


def test_a_fresh_cluster_copies_a_dashboard_file_whose_dataset_comes_later(
        start: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    boards = tmp_path / "a" / "dashboards"
    boards.mkdir(parents=True)
    (boards / "fleet.json").write_text(json.dumps(BOARD))  # "cpu": nobody ingested it yet
    a = start("a")
    assert "not copied to redis" not in caplog.text
    listed = a.test_client().get("/api/dashboards").json
    assert [(d["name"], d["panels"]) for d in listed] == [("fleet", 1)]
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    caught_up(a)
    assert a.test_client().get("/dashboards/fleet").status_code == 200


def test_a_dashboard_saved_at_one_process_is_at_every_process_at_once(start: Start) -> None:
    a, b = start("a"), start("b")
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    caught_up(a, b)
    state_of(b).dashboards.scan()  # what b's scanner saw before
    created = a.test_client().put("/api/dashboards/fleet", json=BOARD, headers=ADMIN_AUTH)
    assert created.status_code == 201 and created.json["version"] == 1
    read = b.test_client().get("/api/dashboards/fleet")
    assert read.status_code == 200 and read.json["title"] == "Fleet" and read.json["version"] == 1
    # b's scan announces the change to its own pages; a announced it when it saved it
    assert state_of(b).dashboards.scan() == {"fleet": 1}
    assert state_of(a).dashboards.scan() == {}
    replaced = b.test_client().put("/api/dashboards/fleet",
                                   json={**BOARD, "title": "Fleet 2", "version": 1},
                                   headers=ADMIN_AUTH)
    assert replaced.json == {"name": "fleet", "version": 2}
    stale = a.test_client().put("/api/dashboards/fleet", json={**BOARD, "version": 1},
                                headers=ADMIN_AUTH)  # a still had version 1
    assert stale.status_code == 409 and stale.json["version"] == 2
    assert a.test_client().get("/api/dashboards").json == [
        {"name": "fleet", "title": "Fleet 2", "panels": 1, "version": 2}]
    conflict = a.test_client().delete("/api/dashboards/fleet?version=1", headers=ADMIN_AUTH)
    assert conflict.status_code == 409
    assert a.test_client().delete("/api/dashboards/fleet?version=2",
                                  headers=ADMIN_AUTH).status_code == 204
    assert b.test_client().get("/api/dashboards/fleet").status_code == 404
    assert state_of(b).dashboards.scan() == {"fleet": None}


def test_a_fresh_cluster_gets_the_dashboards_of_the_data_folder(start: Start,
                                                                 tmp_path: Path) -> None:
    a = start("a", files={"hosts": WIDE_CSV})
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    folder = tmp_path / "b" / "dashboards"
    folder.mkdir(parents=True)
    (folder / "fleet.json").write_text(json.dumps(BOARD))
    (folder / "broken.json").write_text('{"title": "x", "panels": [{"id": 1}]}')
    b = start("b")
    assert [d["name"] for d in a.test_client().get("/api/dashboards").json] == ["fleet"]
    # a document in Redis wins over the file once it is there
    (folder / "fleet.json").write_text(json.dumps({**BOARD, "title": "Other"}))
    start("c", files={})
    assert b.test_client().get("/api/dashboards/fleet").json["title"] == "Fleet"


def test_dashboards_while_redis_is_away_are_503(start: Start, server: RedisServer) -> None:
    a = start("a")
    server.stop()
    answer = a.test_client().get("/api/dashboards")
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"


def test_pages_while_redis_is_away_show_the_datasets_and_say_dashboards_are_unavailable(
        start: Start, server: RedisServer) -> None:
    a = start("a")
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    client = a.test_client()
    client.put("/api/dashboards/fleet", json=BOARD, headers=ADMIN_AUTH)
    server.stop()
    index = client.get("/")
    assert index.status_code == 200
    assert 'data-dataset="cpu"' in index.text  # from memory
    assert "Dashboards: <span" in index.text and "unavailable for now" in index.text
    for path in ("/dashboards", "/dashboards/fleet"):
        page = client.get(path)
        assert (page.status_code, page.mimetype) == (503, "text/html"), path
        assert page.headers["Retry-After"] == "1"
        assert "<h1>Not available for now</h1>" in page.text
        assert "dashboards are kept in Redis" in page.text
        # A wall screen left on it asks again by itself, JavaScript or not.
        assert '<meta http-equiv="refresh" content="1">' in page.text
        assert "tries again by itself every 1 s" in page.text
    api = client.get("/api/dashboards/fleet")
    assert (api.status_code, api.mimetype) == (503, "application/json")
    assert client.get("/d/cpu?metric=cpu").status_code == 200
    server.start()
    # What the refresh asks for once Redis is back: the dashboard, no longer the 503.
    assert a.test_client().get("/dashboards/fleet").status_code == 200


def test_a_hung_redis_is_noticed_within_seconds_and_pages_do_not_wait_for_it(
        start: Start, server: RedisServer) -> None:
    a = start("a")
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    streams = streams_of(a)
    assert streams.tick()
    assert server.process is not None
    os.kill(server.process.pid, signal.SIGSTOP)  # hung: the socket stays open, no answer
    try:
        began = time.monotonic()
        refused = ingest(a.test_client(), "cpu", [cpu(1, 2.0)])
        took_ingest = time.monotonic() - began
        assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
        began = time.monotonic()
        assert not streams.tick()  # the reader's XREAD: a 1 s block and a 1 s margin
        took_reader = time.monotonic() - began
        health = a.test_client().get("/healthz").json["redis"]
        assert health["connected"] is False
        began = time.monotonic()
        index = a.test_client().get("/")
        took_page = time.monotonic() - began
        assert index.status_code == 200 and "unavailable for now" in index.text
        assert a.test_client().get("/dashboards").status_code == 503
    finally:
        os.kill(server.process.pid, signal.SIGCONT)
    # before: 5.0 s per ingest, ~10 s for the reader, 5 s per page
    assert took_ingest < 2.5 and took_reader < 3.0 and took_page < 0.5, (
        took_ingest, took_reader, took_page)
    assert streams.tick()  # back by itself
    assert a.test_client().get("/healthz").json["redis"]["connected"] is True


@pytest.mark.parametrize("durability, accepted", [("strict", False), ("relaxed", True)])
def test_durability_made_unsafe_at_run_time_is_noticed(
        start: Start, server: RedisServer, durability: str, accepted: bool) -> None:
    a = start("a", REDIS_DURABILITY=durability)
    assert ingest(a.test_client(), "cpu", [cpu(0, 1.0)]).status_code == 200
    admin = redis.Redis.from_url(server.url)
    admin.config_set("appendfsync", "no")
    streams = streams_of(a)
    assert streams.check_durability(now=1e12) == ["appendfsync is 'no' (needs 'always')"]
    answer = ingest(a.test_client(), "cpu", [cpu(1, 2.0)])
    if accepted:
        assert answer.status_code == 200
    else:
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
        assert "appendfsync is 'no'" in answer.json["error"]
        assert "not stored" in answer.json["error"]
    health = a.test_client().get("/healthz").json["redis"]
    assert health["durability"] == durability
    assert health["unsafe"] == ["appendfsync is 'no' (needs 'always')"]
    assert "dash_redis_durable 0.0" in a.test_client().get("/metrics").text
    admin.config_set("appendfsync", "always")
    assert streams.check_durability(now=2e12) == []
    assert ingest(a.test_client(), "cpu", [cpu(2, 3.0)]).status_code == 200
    assert "dash_redis_durable 1.0" in a.test_client().get("/metrics").text


@pytest.mark.parametrize("prepare, environ, says", [
    ({"appendfsync": "everysec"}, {}, "could lose acknowledged points: appendfsync is "
                                      "'everysec' (needs 'always')"),
    ({"retention": "7d"}, {"DASH_RETENTION": "2000000"},
     "DASH_RETENTION is '2000000' here but this cluster keeps '7d'"),
])
def test_python_wsgi_refuses_in_one_line_without_a_traceback(
        server: RedisServer, tmp_path: Path, prepare: dict[str, str],
        environ: dict[str, str], says: str) -> None:
    admin = redis.Redis.from_url(server.url)
    if "appendfsync" in prepare:
        admin.config_set("appendfsync", prepare["appendfsync"])
    if "retention" in prepare:
        admin.set("dash:retention", prepare["retention"])
    env = {"PATH": os.environ.get("PATH", ""), "DASH_REDIS_URL": server.url,
           "DASH_DATA_DIR": str(tmp_path / "data"), "DASH_DEMO": "0",
           "DASH_PORT": "0", "DASH_SECRET_KEY": "k" * 32, **environ}
    (tmp_path / "data").mkdir()
    done = subprocess.run([sys.executable, "wsgi.py"], cwd=Path(__file__).parent.parent,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("realtime-dash cannot start: "), done.stderr
    assert says in lines[0]


# -- the demo -------------------------------------------------------------------

def test_one_demo_for_the_whole_cluster(start: Start) -> None:
    a, b = start("a", DEMO=True), start("b", DEMO=True)
    caught_up(a, b)
    assert listing(a.test_client())["demo"] == listing(b.test_client())["demo"]
    assert listing(a.test_client())["demo"][:2] == (3600, 1)  # 900 ticks of 4 hosts, once
    assert isinstance(state_of(a).demo, SharedDemo) and isinstance(state_of(b).demo, SharedDemo)
    writers = [state_of(app).demo.step() for app in (a, b)]
    assert writers == [True, False]  # a holds the lease; b waits
    caught_up(a, b)
    assert listing(a.test_client())["demo"][:2] == listing(b.test_client())["demo"][:2] \
        == (3604, 2)
    refused = ingest(b.test_client(), "demo", [{"timestamp": "2024-05-01T00:00:00Z",
                                                "cpu": 1.0}])
    assert refused.status_code == 409 and "demo stream" in refused.json["error"]


def newest_values(snap: Snapshot) -> dict[tuple[str, str], float]:
    """(metric, host) -> the newest value of that demo series."""
    hosts = snap.label_values["host"]
    return {(snap.metrics[snap.series_metric[i]], hosts[snap.series_labels["host"][i]]):
            float(snap.value[snap.series_start[i] + snap.series_count[i] - 1])
            for i in range(len(snap.series_count)) if snap.series_count[i]}


def test_another_process_takes_the_demo_over_and_goes_on_from_its_last_values(
        start: Start, server: RedisServer) -> None:
    a = start("a", DEMO=True, DEMO_INTERVAL=0.1)
    b = start("b")
    shared_a = state_of(a).demo
    assert isinstance(shared_a, SharedDemo)
    shared_a.lease.release()  # as if a died and its lease ran out
    caught_up(b)
    store = state_of(b).store
    snap = store.get(demo.NAME).snapshot()
    redis_log = RedisLog(server.url)
    taker = SharedDemo(Demo(store, 0.1), redis_log, Lease(server.url, "dash:lease:demo", 1.0),
                       schema_json(demo.SCHEMA))
    assert snap.end is not None
    assert taker.step(snap.end / 1e9 + 0.1)  # takes the lease, goes on, writes a tick
    assert taker.demo.level != Demo(store, 0.1).level
    caught_up(a, b)
    after = listing(b.test_client())["demo"]
    assert after == listing(a.test_client())["demo"]
    assert after[:3] == (3604, 2, snap.epoch)  # one more tick under the same epoch
    tick = store.get(demo.NAME).snapshot()
    # each walk moved one step on from a's last value (noise of a few units), not from 0
    for key, value in newest_values(tick).items():
        assert abs(value - newest_values(snap)[key]) < 25, key
    assert not shared_a.step()  # a, back, finds the lease taken
    redis_log.close()


# -- Socket.IO ------------------------------------------------------------------

def test_the_message_queue_delivers_through_the_shared_frame_fan_out() -> None:
    order = SharedFrameRedisManager.__mro__
    pubsub = next(c for c in order if c.__name__ == "PubSubManager")
    assert order.index(pubsub) < order.index(SharedFrameManager) < order.index(
        next(c for c in order if c.__name__ == "Manager"))


# -- operations -----------------------------------------------------------------

def test_healthz_shows_the_redis_link(start: Start, server: RedisServer) -> None:
    a = start("a")
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    health = a.test_client().get("/healthz").json
    assert health["status"] == "ok" and health["pid"] == os.getpid()
    assert health["redis"]["connected"] is True and health["redis"]["streams"] == 1
    assert health["redis"]["applied"] == 1
    assert "redis" not in start_single(server).test_client().get("/healthz").json


def start_single(server: RedisServer) -> Flask:
    return create_app({"TESTING": True, "BACKGROUND": False, "DEMO": False,
                       "DATA_DIR": str(server.data_dir.parent / "single")})


def test_metrics_count_ingest_and_show_the_redis_link(start: Start) -> None:
    a = start("a")
    ingest(a.test_client(), "cpu", [cpu(0, 1.0), cpu(1, 2.0)])
    ingest(a.test_client(), "cpu", [cpu(2, 3.0)])
    a.test_client().get("/api/d/cpu/figure?metric=cpu")
    answer = a.test_client().get("/metrics")
    assert answer.content_type.startswith("text/plain; version=")
    samples = dict(line.rsplit(" ", 1) for line in answer.text.splitlines()
                   if line and not line.startswith("#"))
    assert float(samples["dash_ingest_points_total"]) == 3
    assert float(samples["dash_ingest_batches_total"]) == 2
    assert float(samples["dash_figure_build_seconds_count"]) == 1
    assert float(samples["dash_redis_lag_seconds_count"]) == 2
    assert float(samples["dash_redis_up"]) == 1
    assert float(samples['dash_clients{transport="websocket"}']) == 0
    assert float(samples["dash_datasets"]) == 1


def test_stream_datasets_say_where_they_come_from(start: Start) -> None:
    a = start("a")
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    assert state_of(a).store.get("cpu").source == SOURCE


# -- sign-ins -------------------------------------------------------------------

def csrf_in(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def test_a_sign_in_at_one_process_is_honoured_and_ended_at_every_process(
        start: Start) -> None:
    secret = {"SECRET_KEY": "shared-by-the-cluster"}
    a, b = start("a", **secret), start("b", **secret)
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    caught_up(a, b)
    at_a = a.test_client()
    login = at_a.get("/login").text
    assert at_a.post("/login", data={"token": ADMIN, "csrf_token": csrf_in(login),
                                     "next": "/dashboards"}).status_code == 303
    at_b = b.test_client()  # the proxy sent the same browser to b (a died)
    cookie = at_a.get_cookie("session")
    assert cookie is not None
    at_b.set_cookie("session", cookie.value)
    csrf = csrf_in(at_b.get("/dashboards").text)
    saved = at_b.put("/api/dashboards/fleet", json=BOARD, headers={"X-CSRFToken": csrf})
    assert saved.status_code == 201, saved.text
    assert at_b.post("/logout", data={"csrf_token": csrf}).status_code == 303
    at_a.set_cookie("session", cookie.value)  # a copy of the cookie from before signing out
    refused = at_a.put("/api/dashboards/fleet", json={**BOARD, "version": 1},
                       headers={"X-CSRFToken": csrf})
    assert refused.status_code == 401


def test_a_form_saved_without_a_sign_in_answers_a_page_that_signs_in_and_comes_back(
        start: Start) -> None:
    a = start("a")
    ingest(a.test_client(), "cpu", [cpu(0, 1.0)])
    caught_up(a)
    assert a.test_client().put("/api/dashboards/fleet", json=BOARD,
                               headers=ADMIN_AUTH).status_code == 201
    page = a.test_client().post("/dashboards/fleet/delete", data={"confirm": "yes"},
                                headers={"Referer": "http://localhost/dashboards/fleet/edit"})
    assert (page.status_code, page.mimetype) == (401, "text/html")
    assert "<h1>Sign in to save</h1>" in page.text
    assert 'href="/login?next=/dashboards/fleet/edit"' in page.text
    elsewhere = a.test_client().post("/dashboards/fleet/delete", data={"confirm": "yes"},
                                     headers={"Referer": "https://evil.example/x"})
    assert 'href="/login?next=/dashboards"' in elsewhere.text  # never another site
