"""A dashboard as people use it: focus that stays through live updates, and the view page's
status line (plain words, the age of the newest point, "Behind" when pushes stall)."""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from e2e.conftest import Server
from e2e.test_view_page import LIVE_TIMEOUT, drop_pushes, expect_behind_since, record_status_times

BOARD = {
    "title": "Fleet now",
    "panels": [
        {"id": "cpu", "title": "CPU", "type": "timeseries", "width": 6, "dataset": "demo",
         "query": "metric=cpu&agg=raw"},
        {"id": "mem", "title": "Memory", "type": "stat", "width": 6, "dataset": "demo",
         "query": "metric=mem", "reduce": "last"},
        {"id": "rows", "title": "Latest", "type": "table", "width": 12, "dataset": "demo",
         "query": "metric=cpu&agg=raw"},
    ],
}


@pytest.fixture(scope="module")
def server(demo_server: Server) -> Iterator[Server]:
    """The module's demo server (ticks every 0.5 s) with dashboard ``now`` over it."""
    demo_server.put_dashboard("now", BOARD)
    yield demo_server


def open_board(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/dashboards/now")
    expect(page.locator("#panel-cpu")).to_have_attribute("data-drawn", "plotly",
                                                         timeout=LIVE_TIMEOUT)
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def panel_version(page: Page, panel: str) -> int:
    return int(page.locator(f"#panel-{panel}").get_attribute("data-version") or 0)


def wait_for_panel_version(page: Page, panel: str, at_least: int) -> None:
    page.wait_for_function(
        "([id, n]) => Number(document.getElementById('panel-' + id).dataset.version) >= n",
        arg=[panel, at_least], timeout=LIVE_TIMEOUT)


@pytest.mark.parametrize("panel", ["cpu", "mem", "rows"])
def test_focus_on_a_panels_view_link_survives_live_updates(page: Page, server: Server,
                                                          panel: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 1600})
    open_board(page, server)
    link = page.locator(f"#panel-{panel}").get_by_role("link", name="view")
    link.focus()
    expect(link).to_be_focused()
    first_row = page.locator("#panel-rows tbody tr").first.inner_text()
    wait_for_panel_version(page, panel, panel_version(page, panel) + 8)  # 4 s of ticks
    expect(page.locator("#panel-rows tbody tr").first).not_to_have_text(first_row)
    expect(link).to_be_focused()
    page.keyboard.press("Enter")  # and the keyboard still works it
    expect(page).to_have_url(re.compile(r"/d/demo\?metric=(cpu|mem)"))


def test_the_status_speaks_as_on_the_view_page(page: Page, server: Server) -> None:
    open_board(page, server)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", "websocket")
    expect(status).to_have_text(re.compile(r"^Live · newest point (just now|\d s ago)$"))
    expect(status).to_have_attribute("data-freshness", "fresh")
    expect(status).to_have_attribute("title", re.compile(r"^WebSocket · dashboard version \d+$"))


def test_the_status_says_when_the_panels_fall_behind_the_data(page: Page,
                                                             server: Server) -> None:
    switch = drop_pushes(page)
    open_board(page, server)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", "websocket")
    switch["drop"] = True
    shown = panel_version(page, "cpu")
    expect(status).to_have_text(re.compile(r"^Behind · updates \d+ s late$"), timeout=30_000)
    expect(status).to_have_attribute("data-freshness", "behind")
    assert panel_version(page, "cpu") == shown
    switch["drop"] = False
    expect(status).to_have_text(re.compile(r"^Live · newest point (just now|\d s ago)$"),
                                timeout=LIVE_TIMEOUT)


def test_behind_counts_from_the_first_change_the_panels_missed(page: Page,
                                                              server: Server) -> None:
    """As on the view page: "Behind · updates N s late" counts from when the server first
    held data the panels lack (X-Dash-Shown / X-Dash-Missed-At), not from the newest
    version the page happened to learn of at its check (which said ~5 s while 15 s late)."""
    switch = drop_pushes(page)

    def checks(route: Route) -> None:
        # Until the drop the page learns of no version newer than its panels: it can tell
        # how late it is only by the server's word.
        if route.request.headers.get("x-dash-freshness") and not switch["drop"]:
            route.abort()
        else:
            route.continue_()

    page.route(re.compile(r".*/dashboards/now(\?.*)?$"), checks)
    open_board(page, server)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", "websocket")
    record_status_times(page)
    switch["drop"] = True
    dropped_at: float = page.evaluate("Date.now()")
    expect_behind_since(page, status, dropped_at)
    page.unroute_all(behavior="ignoreErrors")


def test_both_pages_word_a_lost_server_alike(page: Page,
                                             server_factory: Callable[..., Server]) -> None:
    """One status line (window.dashLive.statusLine) for the view page and dashboards: the
    view said "Reconnecting…" and a dashboard "Reconnecting… · showing what was drawn last"."""
    lost = server_factory(demo=True)
    lost.put_dashboard("now", BOARD)
    open_board(page, lost)
    view = page.context.new_page()
    view.goto(f"{lost.url}/d/demo?metric=cpu")
    expect(view.locator("#live-status")).to_have_attribute("data-state", "live",
                                                           timeout=LIVE_TIMEOUT)
    lost.process.kill()
    lost.process.wait()
    for shown in (page, view):
        status = shown.locator("#live-status")
        expect(status).to_have_text("Reconnecting… · showing what was drawn last",
                                    timeout=LIVE_TIMEOUT)
        expect(status).to_have_attribute("data-state", "reconnecting")
    view.close()


def test_no_javascript_message_while_scripts_load(page: Page, server: Server) -> None:
    held: list[Route] = []
    page.route(re.compile(r".*/plotly-basic-[\d.]+\.min\.js(\?.*)?$"),
               lambda route: held.append(route))  # never answered: still loading
    page.goto(f"{server.url}/dashboards/now", wait_until="commit")
    expect(page.locator("#panel-cpu")).to_be_visible()
    expect(page.locator(".live-bar")).not_to_contain_text("JavaScript", use_inner_text=True)
    assert held  # the scripts really were still loading


def test_a_panels_chart_is_one_named_image(page: Page, server: Server) -> None:
    open_board(page, server)
    chart = page.locator("#panel-cpu .panel-chart")
    expect(chart.get_by_role("img", name="Chart of demo: cpu", exact=True)).to_have_count(1)
    assert "web-1" not in chart.aria_snapshot()  # the legend is not read out
