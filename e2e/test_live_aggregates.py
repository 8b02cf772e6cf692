"""Live aggregated views in a real browser: the last buckets replaced and new ones appended
by extend_chart draw exactly the chart a reload draws, on a view page and a dashboard."""
from __future__ import annotations

from typing import Any

from playwright.sync_api import Locator, Page, expect

from e2e.conftest import Server

QUERY = "metric=cpu&agg=p95&bucket=1m&by=host"
# Plotly's traces as drawn: name, x and y, in order.
TRACES = ("el => Array.from(el.data).map(t => ({name: t.name, x: Array.from(t.x),"
          " y: Array.from(t.y)}))")


def point(second: int, cpu: float, host: str) -> dict[str, Any]:
    return {"timestamp": f"2024-05-01T00:{second // 60:02d}:{second % 60:02d}Z", "cpu": cpu,
            "host": host}


def history(server: Server) -> int:
    """Three minutes of two hosts every 10 s (values with ties); the version."""
    return int(server.post_points("agg", [point(s, float(s % 7) * 3 + i, host)
                                          for s in range(0, 180, 10)
                                          for i, host in enumerate(("web-1", "web-2"))])
               ["version"])


def changes(server: Server) -> int:
    """Three batches: into the last minute, into a new one, and a late point into the last
    but one; returns the last version."""
    server.post_points("agg", [point(175, 90.0, "web-1")])
    server.post_points("agg", [point(185, 5.0, "web-1"), point(186, 6.0, "web-2")])
    return int(server.post_points("agg", [point(177, 80.0, "web-2")])["version"])


class Frames:
    """The Socket.IO messages a page receives over its WebSocket."""

    def __init__(self, page: Page) -> None:
        self.texts: list[str] = []
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: str | bytes) -> None:
        self.texts.append(payload if isinstance(payload, str) else payload.decode())

    def replacing(self) -> int:
        """extend_chart messages that replaced points already drawn."""
        return sum(1 for text in self.texts
                   if '"extend_chart"' in text and '"replace":' in text)


def drawn(chart: Locator) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = chart.evaluate(TRACES)
    return data


def test_a_view_page_after_replaced_buckets_shows_what_a_reload_shows(page: Page,
                                                                      live_server: Server
                                                                      ) -> None:
    first = history(live_server)
    frames = Frames(page)
    page.goto(f"{live_server.url}/d/agg?{QUERY}")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-version", str(first))
    version = changes(live_server)
    expect(chart).to_have_attribute("data-version", str(version))
    live = drawn(chart)
    assert frames.replacing() >= 1  # changed by parts, not sent whole
    assert [t["name"] for t in live] == ["web-1", "web-2"]
    # web-1's 00:02 bucket: 3 * (s % 7) for s = 120..170 is 3, 12, 0, 9, 18, 6, and 90
    # came: the p95 of 7 values is at rank 0.95 * 6 = 5.7, 18 + 0.7 * (90 - 18) = 68.4.
    assert live[0]["x"][2] == "2024-05-01T00:02:00"
    assert abs(live[0]["y"][2] - 68.4) < 1e-9
    page.reload()
    expect(chart).to_have_attribute("data-version", str(version))
    assert drawn(chart) == live


def test_a_dashboard_panel_after_replaced_buckets_shows_what_a_reload_shows(
        page: Page, live_server: Server) -> None:
    first = history(live_server)
    live_server.put_dashboard("p95", {"title": "p95", "panels": [
        {"id": "cpu", "title": "cpu p95", "type": "timeseries", "dataset": "agg",
         "query": QUERY}]})
    frames = Frames(page)
    page.goto(f"{live_server.url}/dashboards/p95")
    section = page.locator("#panel-cpu")
    expect(section).to_have_attribute("data-drawn", "plotly")
    expect(section).to_have_attribute("data-version", str(first))
    version = changes(live_server)
    expect(section).to_have_attribute("data-version", str(version))
    live = drawn(section.locator(".panel-chart"))
    assert frames.replacing() >= 1
    page.reload()
    expect(section).to_have_attribute("data-drawn", "plotly")
    expect(section).to_have_attribute("data-version", str(version))
    assert drawn(section.locator(".panel-chart")) == live


def test_a_moving_window_whose_first_bucket_is_cut_shows_what_a_reload_shows(
        page: Page, live_server: Server) -> None:
    query = "metric=cpu&agg=mean&bucket=1m&by=host&window=2m"
    first = history(live_server)
    frames = Frames(page)
    page.goto(f"{live_server.url}/d/agg?{query}")
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-version", str(first))
    # The newest point moves from 00:02:50 to 00:03:05, the window's start from 00:00:50
    # to 00:01:05: the 00:00 minute leaves, the 00:01 minute keeps its points from :10 on.
    version = int(live_server.post_points("agg", [point(185, 5.0, "web-1")])["version"])
    expect(chart).to_have_attribute("data-version", str(version))
    live = drawn(chart)
    assert any('"extend_chart"' in text and '"head"' in text for text in frames.texts)
    # web-1 at 00:01:10 .. 00:01:50: 3 * (s % 7) = 0, 9, 18, 6, 15, a mean of 9.6.
    assert live[0]["x"][0] == "2024-05-01T00:01:00"
    assert abs(live[0]["y"][0] - 9.6) < 1e-9
    page.reload()
    expect(chart).to_have_attribute("data-version", str(version))
    assert drawn(chart) == live


def test_a_dashboard_panel_with_a_cut_first_bucket_shows_what_a_reload_shows(
        page: Page, live_server: Server) -> None:
    first = history(live_server)
    live_server.put_dashboard("moving", {"title": "moving", "window": "2m", "panels": [
        {"id": "cpu", "title": "cpu mean", "type": "timeseries", "dataset": "agg",
         "query": "metric=cpu&agg=mean&bucket=1m&by=host"}]})
    frames = Frames(page)
    page.goto(f"{live_server.url}/dashboards/moving")
    section = page.locator("#panel-cpu")
    expect(section).to_have_attribute("data-drawn", "plotly")
    expect(section).to_have_attribute("data-version", str(first))
    version = int(live_server.post_points("agg", [point(185, 5.0, "web-1")])["version"])
    expect(section).to_have_attribute("data-version", str(version))
    live = drawn(section.locator(".panel-chart"))
    assert any('"extend_chart"' in text and '"head"' in text for text in frames.texts)
    assert abs(live[0]["y"][0] - 9.6) < 1e-9  # as on the view page above
    page.reload()
    expect(section).to_have_attribute("data-drawn", "plotly")
    expect(section).to_have_attribute("data-version", str(version))
    assert drawn(section.locator(".panel-chart")) == live
