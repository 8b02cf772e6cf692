"""The Redis log of cluster mode, against a real redis-server subprocess (Debian's package)."""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from app.data.redisdashboards import DashboardChange, RedisDashboards, VersionConflict
from app.data.redislog import (
    Created,
    Cursors,
    Dropped,
    Event,
    LogCorrupt,
    LogUnavailable,
    RedisLog,
    SchemaMismatch,
    StreamBatch,
    UnsafeDurability,
    decode_batch,
    encode_batch,
)
from app.data.schema import Batch, Schema
from app.data.store import Dataset
from e2e.services import REDIS_SERVER, RedisServer, free_port, redis_server

LONG = '{"kind": "long", "labels": ["host"], "metrics": [], "timestamp": "timestamp"}'
WIDE = '{"kind": "wide", "labels": ["host"], "metrics": ["cpu"], "timestamp": "timestamp"}'


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    """A fresh redis-server for one test, configured as deploy/redis.conf ships it."""
    if not os.access(REDIS_SERVER, os.X_OK):
        pytest.fail(f"{REDIS_SERVER} is missing: run "
                    "tools/apt-ensure /usr/bin/redis-server=redis-server", pytrace=False)
    with redis_server(tmp_path) as running:
        yield running


@pytest.fixture
def log(server: RedisServer) -> Iterator[RedisLog]:
    """A RedisLog on ``server`` with a short connect timeout, agreed on the cluster's
    retention (without that it does not trim)."""
    opened = RedisLog(server.url, timeout=2.0, max_block_ms=500)
    opened.claim_retention("2000000", str.__eq__)
    yield opened
    opened.close()


def batch(ts: list[int], values: list[float] | None = None,
          hosts: list[str | None] | None = None, metric: str = "cpu",
          rows: int | None = None) -> Batch:
    """Long-form points at ``ts`` (small integers stand in for ns); values default to ts."""
    values = [float(t) for t in ts] if values is None else values
    hosts = ["web-1"] * len(ts) if hosts is None else hosts
    return Batch(np.array(ts, dtype=np.int64), np.array([metric] * len(ts), dtype=object),
                    np.array(values, dtype=np.float64), {"host": np.array(hosts, dtype=object)},
                    rows=rows)


def drain(log: RedisLog, cursors: Cursors) -> list[Event]:
    """Every event ready now (reads until one comes back empty)."""
    events: list[Event] = []
    while more := log.read(cursors, block_ms=50):
        events += more
    return events


def versions(events: list[Event]) -> list[tuple[str, int, str]]:
    """(dataset, version, epoch) of each entry among ``events``."""
    return [(e.dataset, e.version, e.epoch) for e in events if isinstance(e, StreamBatch)]


# -- the entry format ------------------------------------------------------

@pytest.mark.parametrize("points", [
    batch([1]),
    batch([3, 1, 2], [0.1, -2.5, 1e300], ["web-2", None, "wéb-ü"]),
    batch([5, 6], hosts=[None, None], rows=1),
    Batch(np.array([7], np.int64), np.array(["mem"], object), np.array([1.5]), {}),
    batch([-(2**63) + 1, 2**63 - 1]),
    batch([]),
])
def test_a_batch_reads_back_as_it_was_written(points: Batch) -> None:
    read = decode_batch(*encode_batch(points))
    assert read.ts.tolist() == points.ts.tolist()
    assert read.value.tolist() == points.value.tolist()
    assert read.metric.tolist() == points.metric.tolist()
    assert {k: v.tolist() for k, v in read.labels.items()} == \
        {k: v.tolist() for k, v in points.labels.items()}
    assert read.rows == points.rows


@pytest.mark.parametrize("header, data, message", [
    (b'{"f": 2, "n": 0, "rows": null, "metrics": [], "labels": {}}', b"", "format 2"),
    (b'{"f": 1, "n": 1, "rows": null, "metrics": ["cpu"], "labels": {}}', b"\0" * 19,
     "1 points has 19 bytes"),
])
def test_an_entry_of_another_shape_is_refused(header: bytes, data: bytes, message: str) -> None:
    with pytest.raises(LogCorrupt, match=message):
        decode_batch(header, data)


# -- appending -------------------------------------------------------------

def test_batches_get_consecutive_versions_under_one_epoch(log: RedisLog) -> None:
    first = log.append("cpu", LONG, batch([10, 20], [1.0, 2.0], ["a", "b"]))
    second = log.append("cpu", LONG, batch([30], [3.0], [None]))
    assert (first[0], second[0]) == (1, 2)
    assert first[1] == second[1] and len(first[1]) == 12
    entries = log.replay("cpu")
    assert [(e.version, e.epoch) for e in entries] == [(1, first[1]), (2, first[1])]
    assert [e.batch.ts.tolist() for e in entries] == [[10, 20], [30]]
    assert [e.batch.value.tolist() for e in entries] == [[1.0, 2.0], [3.0]]
    assert [e.batch.labels["host"].tolist() for e in entries] == [["a", "b"], [None]]


def test_the_schema_is_compared_whatever_the_key_order(log: RedisLog) -> None:
    log.append("cpu", LONG, batch([1]))
    reordered = '{"timestamp": "timestamp", "metrics": [], "labels": ["host"], "kind": "long"}'
    assert log.append("cpu", reordered, batch([2]))[0] == 2


def test_a_batch_of_another_schema_stores_nothing(log: RedisLog, server: RedisServer) -> None:
    _, epoch = log.append("cpu", LONG, batch([1]))
    with pytest.raises(SchemaMismatch, match='"kind":"long"'):
        log.append("cpu", WIDE, batch([2]))
    assert [e.version for e in log.replay("cpu")] == [1]
    assert log.append("cpu", LONG, batch([3])) == (2, epoch)  # the counter did not move


def test_a_batch_redis_refuses_out_of_memory_is_not_stored_at_all(
        log: RedisLog, server: RedisServer) -> None:
    _, epoch = log.append("cpu", LONG, batch([1]))
    admin = redis.Redis.from_url(server.url)
    admin.config_set("maxmemory", 1)  # noeviction: every write is refused
    with pytest.raises(LogUnavailable, match="OOM"):
        log.append("cpu", LONG, batch(list(range(1000))))
    with pytest.raises(LogUnavailable, match="OOM"):
        log.append("fresh", LONG, batch([1]))  # a new dataset: not even its epoch is made
    admin.config_set("maxmemory", 0)
    assert [len(e.batch) for e in log.replay("cpu")] == [1]
    assert log.datasets() == {"cpu": epoch}
    assert log.append("cpu", LONG, batch([2])) == (2, epoch)


# -- durability ------------------------------------------------------------

@pytest.mark.parametrize("settings, named", [
    ({"appendonly": "no"}, "appendonly is 'no'"),
    ({"appendfsync": "everysec"}, "appendfsync is 'everysec'"),
    ({"no-appendfsync-on-rewrite": "yes"}, "no-appendfsync-on-rewrite is 'yes'"),
    ({"maxmemory": "100mb", "maxmemory-policy": "allkeys-lru"},
     "maxmemory-policy is 'allkeys-lru'"),
])
def test_unsafe_settings_are_refused_unless_relaxed(
        log: RedisLog, server: RedisServer, settings: dict[str, str], named: str) -> None:
    assert log.check_durability(relaxed=False) == []
    admin = redis.Redis.from_url(server.url)
    for key, value in settings.items():
        admin.config_set(key, value)
    with pytest.raises(UnsafeDurability) as refused:
        log.check_durability(relaxed=False)
    assert named in str(refused.value)
    assert "DASH_REDIS_DURABILITY=relaxed" in str(refused.value)
    problems = log.check_durability(relaxed=True)
    assert len(problems) == 1 and named in problems[0]


def test_a_killed_redis_keeps_every_acknowledged_batch(log: RedisLog,
                                                        server: RedisServer) -> None:
    acknowledged = [log.append("cpu", LONG, batch([i], [float(i)])) for i in range(1, 201)]
    server.kill()  # SIGKILL straight after the last answer
    server.start()  # same port, same folder: it reads its AOF back
    entries = log.replay("cpu")
    assert [(e.version, e.epoch) for e in entries] == acknowledged
    assert [e.batch.value.tolist() for e in entries] == [[float(i)] for i in range(1, 201)]
    assert log.append("cpu", LONG, batch([201])) == (201, acknowledged[0][1])


def test_redis_down_means_unavailable_and_nothing_is_lost_after(log: RedisLog,
                                                                 server: RedisServer) -> None:
    cursors, _ = log.start()
    log.append("cpu", LONG, batch([1]))
    assert versions(drain(log, cursors)) == [("cpu", 1, log.datasets()["cpu"])]
    server.stop()
    with pytest.raises(LogUnavailable):
        log.append("cpu", LONG, batch([2]))
    with pytest.raises(LogUnavailable):
        log.read(cursors, block_ms=50)
    assert not log.ping()
    server.start()
    # The pooled connections died with the old server; the first append must not.
    version, epoch = log.append("cpu", LONG, batch([3]))
    assert version == 2
    assert versions(drain(log, cursors)) == [("cpu", 2, epoch)]


# -- reading at several processes -----------------------------------------

def test_every_reader_sees_the_same_versions(server: RedisServer) -> None:
    writers = [RedisLog(server.url) for _ in range(2)]
    readers = [RedisLog(server.url) for _ in range(2)]
    cursors = [reader.start()[0] for reader in readers]
    acknowledged = []
    for i in range(10):  # the two processes take turns ingesting
        name = "cpu" if i % 3 else "mem"
        version, epoch = writers[i % 2].append(name, LONG, batch([i]))
        acknowledged.append((name, version, epoch))
    seen = [versions(drain(reader, c)) for reader, c in zip(readers, cursors, strict=True)]
    assert seen[0] == seen[1]
    assert sorted(seen[0]) == sorted(acknowledged)
    assert [v for n, v, _ in acknowledged if n == "mem"] == [1, 2, 3, 4]
    late = RedisLog(server.url)  # a process started later replays the same versions
    cursors_late, created = late.start()
    assert {c.dataset for c in created} == {"cpu", "mem"}
    assert sorted(versions(drain(late, cursors_late))) == sorted(acknowledged)
    for client in [*writers, *readers, late]:
        client.close()


def test_a_reader_learns_of_datasets_created_and_recreated(log: RedisLog) -> None:
    cursors, created = log.start()
    assert created == []
    _, first = log.append("cpu", LONG, batch([1]))
    log.append("cpu", LONG, batch([2]))
    events = drain(log, cursors)
    assert events[0] == Created("cpu", first, LONG.replace(" ", ""))
    assert versions(events) == [("cpu", 1, first), ("cpu", 2, first)]
    assert log.drop("cpu")
    _, second = log.append("cpu", WIDE, batch([3]))
    events = drain(log, cursors)
    assert events[:2] == [Dropped("cpu"), Created("cpu", second, WIDE.replace(" ", ""))]
    assert versions(events) == [("cpu", 1, second)]
    assert second != first


def test_a_reader_cut_off_meanwhile_resyncs_with_redis(log: RedisLog,
                                                        server: RedisServer) -> None:
    cursors, _ = log.start()
    log.append("cpu", LONG, batch([1]))
    log.append("gone", LONG, batch([1]))
    drain(log, cursors)
    server.stop()
    with pytest.raises(LogUnavailable):
        log.read(cursors, block_ms=50)
    server.start()
    log.drop("cpu")
    log.drop("gone")
    _, epoch = log.append("cpu", LONG, batch([5]))
    events = drain(log, cursors)
    assert set(events[:2]) == {Dropped("gone"), Created("cpu", epoch, LONG.replace(" ", ""))}
    assert versions(events) == [("cpu", 1, epoch)]


def test_a_reader_waits_at_most_the_block_time(log: RedisLog) -> None:
    cursors, _ = log.start()
    assert log.read(cursors, block_ms=20) == []


# -- retention ---------------------------------------------------------------

# Batches arrive with newest points at ts 3, 5, 30, 4, 20 (versions 1..5).
@pytest.mark.parametrize("before, kept", [
    (0, [1, 2, 3, 4, 5]),
    (4, [2, 3, 4, 5]),  # v1 (newest 3) goes; v2 (newest 5) stops the trim
    (6, [3, 4, 5]),  # v3 (newest 30) stops it, though v4 (newest 4) is older
    (31, [5]),  # everything is older, but the last entry always stays
])
def test_trimming_drops_only_a_prefix_older_than_the_store(log: RedisLog, before: int,
                                                           kept: list[int]) -> None:
    for newest in (3, 5, 30, 4, 20):
        log.append("cpu", LONG, batch([0, newest]))
    assert log.trim("cpu", before) == 5 - len(kept)
    assert [e.version for e in log.replay("cpu")] == kept
    assert log.append("cpu", LONG, batch([40]))[0] == 6  # versions go on after a trim


# -- dashboards --------------------------------------------------------------

def test_dashboards_are_written_with_a_version_check(server: RedisServer) -> None:
    here, there = RedisDashboards(server.url), RedisDashboards(server.url)
    cursor = there.last_change()
    assert here.put("fleet", b'{"title": "Fleet"}', None) == (1, True)
    stored = there.get("fleet")
    assert stored is not None and stored.document == b'{"title": "Fleet"}'
    assert there.put("fleet", b'{"title": "Fleet 2"}', 1) == (2, False)
    with pytest.raises(VersionConflict) as stale:
        here.put("fleet", b'{"title": "mine"}', 1)
    assert stale.value.current == 2
    with pytest.raises(VersionConflict):
        here.put("fleet", b"{}", None)  # creating over an existing one
    with pytest.raises(VersionConflict) as absent:
        here.put("other", b"{}", 1)
    assert absent.value.current is None
    assert {n: d.version for n, d in there.all().items()} == {"fleet": 2}
    assert here.delete("fleet") and not here.delete("fleet")
    assert there.get("fleet") is None and there.all() == {}
    assert here.put("fleet", b"{}", None) == (4, True)  # the delete was version 3
    changes = there.changes(cursor, block_ms=50)
    assert [(c.name, c.version, c.event) for c in changes] == [
        ("fleet", 1, "put"), ("fleet", 2, "put"), ("fleet", 3, "delete"), ("fleet", 4, "put")]
    assert there.changes(changes[-1].id, block_ms=20) == []
    assert isinstance(changes[0], DashboardChange)
    here.close()
    there.close()


def test_a_hung_redis_holds_a_dashboard_read_for_one_second_not_five() -> None:
    with socket.socket() as hung:  # connections are taken (the backlog), never answered
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        documents = RedisDashboards(f"redis://127.0.0.1:{hung.getsockname()[1]}/0")
        took = []
        for read in (lambda: documents.get("fleet"), lambda: documents.changes("0-0", 0)):
            began = time.monotonic()
            with pytest.raises(LogUnavailable, match="unreachable"):
                read()
            took.append(time.monotonic() - began)
        documents.close()
    # The page's read: the 1 s timeout cluster mode had always passed (the default was
    # 5.0 s); the changes read, without blocking: 1 s and its 1 s margin (was 10 s).
    assert 0.9 < took[0] < 2.0 and took[1] < 3.0, took


def test_dashboards_unreachable(tmp_path: Path) -> None:
    nowhere = RedisDashboards(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(LogUnavailable):
        nowhere.put("fleet", b"{}", None)
    with pytest.raises(LogUnavailable):
        nowhere.get("fleet")


def test_a_replayed_log_fills_a_store_dataset_like_the_one_that_ingested(
        log: RedisLog) -> None:
    schema = Schema("timestamp", "long", (), ("host",))
    log.append("cpu", json.dumps(asdict(schema)), batch([30, 10], [3.0, 1.0], ["b", None]))
    log.append("cpu", json.dumps(asdict(schema)), batch([20], [2.0], ["a"]))
    fields: dict[str, Any] = json.loads(log.schema("cpu") or "{}")
    stored = Schema(fields["timestamp"], fields["kind"], tuple(fields["metrics"]),
                    tuple(fields["labels"]), fields["numeric_time"])
    assert stored == schema
    dataset = Dataset("cpu", stored)
    for entry in log.replay("cpu"):
        dataset.append(entry.batch)
    snap = dataset.snapshot()
    points = snap.merged()
    assert points.ts.tolist() == [10, 20, 30]
    assert points.value.tolist() == [1.0, 2.0, 3.0]
    assert [snap.label_values["host"][c] if c >= 0 else None for c in points.labels["host"]] \
        == [None, "a", "b"]
