"""Ingest against the real server: live views update, and kill -9 loses no acknowledged point."""
from __future__ import annotations

import json
import re
import signal
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import INGEST_TOKEN, Server, run_server

BATCH = 200
BASE_MS = 1_714_521_600_000  # 2024-05-01T00:00:00Z


def point(n: int, batch: int) -> dict[str, Any]:
    ms = BASE_MS + n
    stamp = f"2024-05-01T{ms // 3_600_000 % 24:02d}:{ms // 60_000 % 60:02d}:" \
            f"{ms // 1000 % 60:02d}.{ms % 1000:03d}Z"
    return {"timestamp": stamp, "v": float(n), "batch": str(batch)}


def test_an_open_view_updates_when_points_are_posted(page: Page, live_server: Server) -> None:
    live_server.post_points("pushed", [point(0, 0), point(1000, 0)])
    page.goto(f"{live_server.url}/d/pushed?metric=v&agg=raw")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-points", "2")
    answer = live_server.post_points("pushed", [point(2000, 1), point(3000, 1)])
    expect(chart).to_have_attribute("data-points", "4")
    expect(chart).to_have_attribute("data-version", str(answer["version"]))
    expect(page.locator("#live-status")).to_have_attribute(  # the details name the version
        "title", re.compile(rf"showing version {answer['version']} · "))
    # Stats and the table follow the new version too, without a reload (as they come on screen).
    page.locator("#table").scroll_into_view_if_needed()
    expect(page.locator("#table")).to_contain_text("4 rows")
    expect(page.locator("#table tbody tr").first).to_contain_text("2024-05-01 00:00:03")
    expect(page.locator("#stats tbody tr").first.locator("td").nth(1)).to_have_text("4")


def post(url: str, body: bytes) -> int:
    request = urllib.request.Request(
        f"{url}/api/d/crash/points", data=body, method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {INGEST_TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


def test_kill_9_loses_no_acknowledged_point(tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("crash")
    acked: list[int] = []
    enough = threading.Event()
    with run_server(workdir, demo=False) as server:
        def pump() -> None:
            for batch in range(2000):  # bounded; the server dies long before
                body = json.dumps([point(batch * BATCH + j, batch) for j in range(BATCH)])
                try:
                    status = post(server.url, body.encode())
                except (urllib.error.URLError, OSError):
                    return
                if status == 200:
                    acked.append(batch)
                if len(acked) >= 40:
                    enough.set()

        sender = threading.Thread(target=pump, daemon=True)
        sender.start()
        assert enough.wait(60), f"no 40 acknowledged batches in 60 s; log:\n{server.log()}"
        server.process.send_signal(signal.SIGKILL)  # mid-stream: a batch may be half written
        server.process.wait(10)
        sender.join(10)
    last_acked = max(acked)
    with run_server(workdir, demo=False) as server:
        body = server.get_json("/api/d/crash/rows?metric=v&agg=raw&format=json")
    per_batch: dict[int, list[float]] = {}
    for row in body["rows"]:
        per_batch.setdefault(int(row["batch"]), []).append(row["value"])
    for batch in acked:  # every acknowledged point, exactly once
        assert sorted(per_batch.get(batch, [])) == [float(batch * BATCH + j)
                                                    for j in range(BATCH)], batch
    unacked = set(per_batch) - set(acked)
    assert unacked <= {last_acked + 1}  # at most the batch in flight, and only whole
    for batch in unacked:
        assert len(per_batch[batch]) == BATCH
