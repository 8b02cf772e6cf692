"""Dashboards in a real browser against the real server: built through the UI, live on
every transport, whole without JavaScript, thresholds where they belong, titles inert."""
from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Request, expect

from e2e.conftest import ADMIN_TOKEN, Server

EVIL = "<script>window.__pwned = 1</script>"


def fleet_point(second: int, cpu: float, mem: float, host: str = "web-1") -> dict[str, Any]:
    return {"timestamp": f"2024-05-01T00:{second // 60:02d}:{second % 60:02d}Z", "cpu": cpu,
            "mem": mem, "host": host}


@pytest.fixture
def fleet(live_server: Server) -> Server:
    """A server with dataset ``fleet``: cpu and mem of web-1 over three seconds."""
    live_server.post_points("fleet", [fleet_point(s, 10.0 + s, 50.0 + s) for s in range(3)])
    return live_server


def sign_in(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/login")
    page.get_by_label("admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator(".signin")).to_contain_text("Signed in")


def add_view(page: Page, server: Server, query: str, dashboard: str | None, new_name: str,
             kind: str, title: str) -> None:
    """On the view page of ``fleet?query``: "add to dashboard"."""
    page.goto(f"{server.url}/d/fleet?{query}")
    page.locator("#add-panel summary").click()
    if dashboard is not None:
        page.locator("#add-dashboard").select_option(dashboard)
    else:
        page.locator("#add-new-name").fill(new_name)
    page.locator("#add-type").select_option(kind)
    page.locator("#add-title").fill(title)
    page.get_by_role("button", name="Add panel").click()


def live_chart(page: Page, panel: str) -> None:
    """Wait until a time series panel is drawn by Plotly from a live figure."""
    section = page.locator(f"#panel-{panel}")
    expect(section).to_have_attribute("data-drawn", "plotly")
    expect(section.locator(".main-svg").first).to_be_visible()


def test_a_dashboard_built_from_two_views_in_the_browser_is_live_after_a_reload(
        page: Page, fleet: Server) -> None:
    sign_in(page, fleet)
    add_view(page, fleet, "metric=cpu", None, "ops", "timeseries", "CPU")
    expect(page).to_have_url(re.compile(r"/dashboards/ops#panel-cpu$"))
    add_view(page, fleet, "metric=mem", "ops", "", "stat", "Memory")
    expect(page).to_have_url(re.compile(r"/dashboards/ops#panel-memory$"))
    page.reload()
    expect(page.locator("#panels .panel")).to_have_count(2)
    live_chart(page, "cpu")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    expect(page.locator("#panel-memory .stat-number text")).to_have_text("52")

    answer = fleet.post_points("fleet", [fleet_point(3, 40.0, 77.0)])
    for panel in ("cpu", "memory"):
        expect(page.locator(f"#panel-{panel}")).to_have_attribute(
            "data-version", str(answer["version"]))
    expect(page.locator("#panel-cpu")).to_have_attribute("data-points", "4")
    expect(page.locator("#panel-memory .stat-number text")).to_have_text("77")


def two_panel_board(server: Server, name: str, title: str = "Fleet") -> None:
    server.put_dashboard(name, {"title": title, "panels": [
        {"id": "cpu", "title": "CPU", "type": "timeseries", "width": 8, "dataset": "fleet",
         "query": "metric=cpu&agg=raw", "thresholds": [{"value": 12, "color": "red"}]},
        {"id": "mem", "title": "Memory", "type": "stat", "width": 4, "dataset": "fleet",
         "query": "metric=mem", "thresholds": [{"value": 51, "color": "orange"}]},
        {"id": "rows", "title": "Rows", "type": "table", "width": 12, "dataset": "fleet",
         "query": "metric=cpu&agg=raw"},
    ]})


def test_changing_the_window_once_moves_every_panel(page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    page.goto(f"{fleet.url}/dashboards/fleet")
    live_chart(page, "cpu")
    page.locator("#o-window").select_option("5m")
    expect(page).to_have_url(re.compile(r"/dashboards/fleet\?window=5m$"))
    for panel in ("cpu", "mem", "rows"):
        expect(page.locator(f"#panel-{panel}")).to_have_attribute(
            "data-query", re.compile(r"(^|&)window=5m(&|$)"))
    live_chart(page, "cpu")  # the new view's figure replaced the server's SVG
    answer = fleet.post_points("fleet", [fleet_point(4, 30.0, 60.0)])
    for panel in ("cpu", "mem", "rows"):
        expect(page.locator(f"#panel-{panel}")).to_have_attribute(
            "data-version", str(answer["version"]))


@pytest.fixture
def no_js_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_without_javascript_every_panel_is_drawn(no_js_page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    no_js_page.goto(f"{fleet.url}/dashboards/fleet")
    chart = no_js_page.locator("#panel-cpu svg.svg-chart")
    expect(chart.locator("polyline.trace")).to_have_count(1)
    expect(chart.locator("line.threshold")).to_have_attribute("stroke", "red")
    expect(chart.locator("line.threshold")).to_have_attribute("data-value", "12")
    number = no_js_page.locator("#panel-mem .stat-number text")
    expect(number).to_have_text("52")  # the last mem point
    expect(number).to_have_attribute("fill", "orange")  # 52 reaches the threshold at 51
    expect(no_js_page.locator("#panel-rows tbody tr")).to_have_count(3)
    expect(no_js_page.locator("#panel-rows tbody tr").first).to_contain_text("12")
    expect(no_js_page.locator("#live-status")).to_have_text("live updates need JavaScript")


def test_without_websocket_one_long_poll_carries_every_panel(page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    polls = {"open": 0, "most": 0, "started": 0}

    def started(request: Request) -> None:
        if "/api/dashboards/fleet/poll" in request.url:
            polls["open"] += 1
            polls["started"] += 1
            polls["most"] = max(polls["most"], polls["open"])

    def ended(request: Request) -> None:
        if "/api/dashboards/fleet/poll" in request.url:
            polls["open"] -= 1

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    page.add_init_script("delete window.WebSocket;")
    page.goto(f"{fleet.url}/dashboards/fleet")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", "long-poll")
    expect(status).to_have_attribute("data-state", "live")
    live_chart(page, "cpu")
    for second, value in ((5, 31.0), (6, 32.0)):
        answer = fleet.post_points("fleet", [fleet_point(second, value, 70.0 + second)])
        for panel in ("cpu", "mem", "rows"):
            expect(page.locator(f"#panel-{panel}")).to_have_attribute(
                "data-version", str(answer["version"]))
    expect(page.locator("#panel-mem .stat-number text")).to_have_text("76")
    assert polls["started"] >= 3  # the first answer, then one per change
    assert polls["most"] == 1  # never two polls at once, whatever the number of panels


def test_a_threshold_line_sits_at_its_value(page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    page.goto(f"{fleet.url}/dashboards/fleet")
    live_chart(page, "cpu")
    line = page.locator("#panel-cpu .shapelayer path")
    expect(line).to_have_count(1)
    where = page.evaluate("""() => {
        const gd = document.querySelector('#panel-cpu .panel-chart');
        const path = gd.querySelector('.shapelayer path');
        const box = path.getBoundingClientRect();
        const plot = gd.querySelector('.main-svg').getBoundingClientRect();
        const full = gd._fullLayout;
        return {drawn: box.top + box.height / 2 - plot.top,
                expected: full._size.t + full.yaxis.l2p(12),
                stroke: getComputedStyle(path).stroke,
                ticks: full.yaxis._vals.map((t) => t.x)};
    }""")
    assert abs(where["drawn"] - where["expected"]) < 1.5, where
    assert where["stroke"] == "rgb(255, 0, 0)"  # red
    assert min(where["ticks"]) <= 12 <= max(where["ticks"])  # on the axis, between 10 and 12


def test_titles_with_script_are_text(page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "evil", title=EVIL)
    page.goto(f"{fleet.url}/dashboards/evil")
    expect(page.locator("#board-head h1")).to_have_text(EVIL)
    live_chart(page, "cpu")
    assert page.evaluate("window.__pwned") is None
    page.goto(f"{fleet.url}/dashboards")
    expect(page.locator("tr[data-dashboard=evil] td").nth(1)).to_have_text(EVIL)
    assert page.evaluate("window.__pwned") is None


def test_editing_in_the_page_saves_and_a_stale_save_overwrites_nothing(
        page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    sign_in(page, fleet)
    page.goto(f"{fleet.url}/dashboards/fleet")
    page.locator("#panel-mem").get_by_role("link", name="edit").click()
    form = page.locator("#edit-mem")
    form.get_by_label("title").fill(EVIL)
    form.get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_contain_text("Saved")
    page.locator("#edit-mem").get_by_role("button", name="Move up").click()
    expect(page.locator(".panel-form h2").first).to_contain_text(EVIL)
    assert page.evaluate("window.__pwned") is None
    theirs = fleet.get_json("/api/dashboards/fleet")
    fleet.put_dashboard("fleet", {**theirs, "title": "Theirs"})  # someone else saves
    page.locator("#edit-cpu").get_by_label("title").fill("Mine")
    page.locator("#edit-cpu").get_by_role("button", name="Save").click()
    expect(page.locator("#edit-problem")).to_contain_text(
        "someone else saved this dashboard since you opened it")
    saved = fleet.get_json("/api/dashboards/fleet")
    assert saved["title"] == "Theirs" and saved["panels"][1]["title"] == "CPU"
    assert [p["id"] for p in saved["panels"]] == ["mem", "cpu", "rows"]
