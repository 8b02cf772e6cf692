"""The demo stream and the JSON logs."""
from __future__ import annotations

import json
from typing import Any

from flask import Flask

from app import create_app
from app.data.demo import HOSTS, METRICS


def test_demo_installs_history_and_each_tick_adds_a_point_per_series(
        app_config: dict[str, Any]) -> None:
    app = create_app({**app_config, "DEMO": True})
    state = app.extensions["dash"]
    demo = state.store.get("demo")
    rows, version = len(demo), demo.version
    assert rows == state.demo.history * len(METRICS) * len(HOSTS)
    state.demo.tick()
    assert len(demo) == rows + len(METRICS) * len(HOSTS)
    assert demo.version == version + 1
    assert demo.snapshot().metrics == METRICS
    body = app.test_client().get("/api/d/demo/figure").json
    # Four hosts report at the same instants: by=series draws each host as its own line.
    assert [t["name"] for t in body["figure"]["data"]] == [h for h, _ in HOSTS]
    assert {t["meta"] for t in body["figure"]["data"]} == {"raw"}
    # Across hosts (by=none), "auto" averages them with their min-max band, never zig-zags.
    body = app.test_client().get("/api/d/demo/figure?by=none").json
    assert body["figure"]["layout"]["yaxis"]["title"]["text"].startswith("mean(cpu)")


def test_demo_is_skipped_when_a_file_is_called_demo(app_config: dict[str, Any],
                                                    write_csv: Any) -> None:
    write_csv("demo", "timestamp,value\n2024-01-01T00:00:00Z,1\n")
    app = create_app({**app_config, "DEMO": True})
    assert app.extensions["dash"].demo is None
    assert app.extensions["dash"].store.get("demo").source == "file"


def test_logs_are_json_lines_with_an_event(app: Flask, capsys: Any) -> None:
    client = app.extensions["socketio"].test_client(app)
    client.emit("subscribe", {"dataset": "hosts", "query": ""}, callback=True)
    client.disconnect()
    records = [json.loads(line) for line in capsys.readouterr().err.splitlines()
               if line.startswith("{")]
    events = [r.get("event") for r in records]
    assert {"connect", "subscribe", "disconnect"} <= set(events)
    subscribe = next(r for r in records if r.get("event") == "subscribe")
    assert subscribe["dataset"] == "hosts" and subscribe["level"] == "INFO"
