"""The view page as people use it: focus and scroll that stay through live updates, the time
picker (quick ranges, steps, typed ranges in the view's zone, drag-zoom), the status line,
stable table pages, pause, the 400 page, and a strict Content-Security-Policy."""
from __future__ import annotations

import re
import signal
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Locator, Page, Route, ViewportSize, WebSocketRoute, expect

from e2e.conftest import Server

HOSTS = ("web-1", "web-2", "web-3")
TEN = datetime(2024, 5, 1, 10, 0)  # the first minute of the steps dataset, UTC
LIVE_TIMEOUT = 15_000  # ms: the demo ticks every 0.5 s, but the machine is shared


def steps_csv() -> str:
    """An hour of cpu, one point a minute for each of three hosts: 180 rows, 4 table pages."""
    lines = ["time,cpu,host"]
    for minute in range(60):
        for n, host in enumerate(HOSTS):
            lines.append(f"2024-05-01 10:{minute:02d}:00,{minute + n / 10},{host}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def server(demo_server: Server) -> Iterator[Server]:
    """The module's demo server (ticks every 0.5 s) with the ``steps`` dataset beside it."""
    demo_server.write_csv("steps", steps_csv())
    yield demo_server


def wait_listed(page: Page, server: Server, name: str) -> None:
    """Wait until the server lists dataset ``name`` (files are picked up by a scan)."""
    page.goto(f"{server.url}/")
    expect(page.get_by_role("link", name=name, exact=True)).to_be_visible(timeout=10_000)


def open_view(page: Page, server: Server, path: str) -> None:
    """Open a view once the server lists its dataset, and wait for the live chart."""
    wait_listed(page, server, path.split("?")[0].rsplit("/", 1)[-1])
    page.goto(f"{server.url}{path}")
    expect(page.locator("#chart")).not_to_have_attribute("data-version", "", timeout=10_000)


def chart_version(page: Page) -> int:
    return int(page.locator("#chart").get_attribute("data-version") or 0)


def wait_for_versions(page: Page, attribute: str, at_least: int) -> None:
    """Wait (without sleeping) until the chart's ``data-<attribute>`` reaches ``at_least``."""
    page.wait_for_function(
        "([name, n]) => Number(document.getElementById('chart').dataset[name] || 0) >= n",
        arg=[attribute, at_least], timeout=LIVE_TIMEOUT)


def counted(page: Page) -> int:
    """The points the stats count over every trace of the view."""
    cells = page.locator("#stats tbody tr td:nth-child(2)").all_inner_texts()
    return sum(int(cell.replace(",", "")) for cell in cells)


def range_line(page: Page) -> Locator:
    return page.locator("#range")


# -- focus and scroll stay through live updates ---------------------------------------------

TALL: ViewportSize = {"width": 1280, "height": 2400}  # every block on screen: all follow the data


@pytest.mark.parametrize("target", ["facet", "older", "csv"])
def test_focus_survives_three_seconds_of_live_updates(page: Page, server: Server,
                                                      target: str) -> None:
    page.set_viewport_size(TALL)
    open_view(page, server, "/d/demo?metric=cpu&agg=raw")
    link = {"facet": page.locator("#facets").get_by_role("link", name="web-2", exact=True),
            "older": page.get_by_role("link", name="older →"),
            "csv": page.get_by_role("link", name="CSV", exact=True)}[target]
    link.focus()
    expect(link).to_be_focused()
    stats = page.locator("#stats tbody").inner_text()
    first_row = page.locator("#table tbody tr").first.inner_text()
    wait_for_versions(page, "version", chart_version(page) + 6)  # 3 s of ticks
    expect(page.locator("#stats tbody")).not_to_have_text(stats)  # the blocks did follow
    expect(page.locator("#table tbody tr").first).not_to_have_text(first_row)
    expect(link).to_be_focused()
    if target == "facet":  # and the keyboard still works it
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/d/demo\?metric=cpu&host=web-2&agg=raw$"))
        expect(page.locator("#facets").get_by_role("link", name="web-2")).to_be_focused()


def test_focus_on_the_datasets_page_survives_its_refresh(page: Page, server: Server) -> None:
    page.goto(f"{server.url}/")
    link = page.get_by_role("link", name="demo", exact=True)
    link.focus()
    points = page.locator("#dataset-demo td").nth(2)
    for _ in range(2):  # two refreshes (every 3 s) that changed the demo's row
        before = points.inner_text()
        expect(points).not_to_have_text(before, timeout=LIVE_TIMEOUT)
    expect(link).to_be_focused()


def viewport_top(locator: Locator) -> float:
    """Where the element is on the screen (px from the top of the viewport)."""
    box = locator.bounding_box()
    assert box is not None
    return box["y"]


def test_paging_and_facets_keep_the_scroll_position(page: Page, server: Server) -> None:
    """The link someone clicked stays where it was on the screen: no jump to the top (the
    browser may scroll by the height of a line added above it, to keep it in place)."""
    page.set_viewport_size({"width": 1280, "height": 800})
    open_view(page, server, "/d/steps?metric=cpu&agg=raw")
    older = page.get_by_role("link", name="older →")
    older.scroll_into_view_if_needed()
    before = viewport_top(older)
    assert page.evaluate("window.scrollY") > 300
    older.click()
    expect(page).to_have_url(re.compile(r"page=2$"))
    expect(page.locator(".pager")).to_contain_text("page 2 of 4")
    assert abs(viewport_top(older) - before) <= 1
    expect(older).to_be_focused()

    web2 = page.locator("#facets").get_by_role("link", name="web-2", exact=True)
    web2.scroll_into_view_if_needed()
    before = viewport_top(web2)
    assert page.evaluate("window.scrollY") > 0
    web2.click()
    expect(page).to_have_url(re.compile(r"host=web-2&agg=raw$"))
    expect(page.locator("#table")).to_contain_text("60 rows")
    expect(page.locator("#controls .filters")).to_contain_text("host = web-2")
    assert abs(viewport_top(web2) - before) <= 1
    expect(web2).to_be_focused()


def test_a_page_past_the_end_shows_the_last_page(page: Page, server: Server) -> None:
    open_view(page, server, "/d/steps?metric=cpu&agg=raw&page=999")
    expect(page).to_have_url(re.compile(r"/d/steps\?metric=cpu&agg=raw&page=4$"))
    expect(page.locator(".pager")).to_contain_text("page 4 of 4")
    expect(page.locator("#table tbody tr")).to_have_count(30)  # 180 rows, 50 a page


def test_blocks_off_screen_wait_until_they_are_scrolled_into_view(page: Page,
                                                                  server: Server) -> None:
    page.set_viewport_size({"width": 1280, "height": 600})
    wanted: list[str] = []
    page.on("request", lambda request: wanted.append(request.headers.get("x-dash-want", ""))
            if request.headers.get("x-dash-refresh") else None)
    open_view(page, server, "/d/demo?metric=cpu&agg=raw")
    stats = page.locator("#stats tbody")
    expect(page.locator("#stats")).not_to_be_in_viewport()
    before = stats.inner_text()
    wait_for_versions(page, "version", chart_version(page) + 4)
    expect(range_line(page)).to_contain_text("All data")
    assert wanted and all("stats" not in w and "table" not in w for w in wanted)
    assert stats.inner_text() == before  # not fetched while nobody can see it
    page.locator("#stats").scroll_into_view_if_needed()
    expect(stats).not_to_have_text(before)  # fetched at once when it comes into view


def test_a_live_table_page_stays_put_and_says_how_many_rows_came(page: Page,
                                                                server: Server) -> None:
    page.set_viewport_size(TALL)
    open_view(page, server, "/d/demo?metric=cpu&agg=raw&page=2")
    rows = page.locator("#table tbody tr")
    first = rows.first.inner_text()
    pager = page.locator(".pager").inner_text()
    news = page.locator("#table-news")
    expect(news).to_have_text(re.compile(r"^\d+ new rows since this page was shown"),
                              timeout=LIVE_TIMEOUT)
    wait_for_versions(page, "version", chart_version(page) + 3)
    expect(news).to_have_text(re.compile(r"^([4-9]|\d\d+) new rows"))  # 4 hosts a tick
    assert rows.first.inner_text() == first  # page 2 did not shift under the reader
    assert page.locator(".pager").inner_text() == pager  # nor did its count of pages
    page.get_by_role("link", name="show the newest").click()
    expect(page).to_have_url(re.compile(r"/d/demo\?metric=cpu&agg=raw$"))
    expect(rows.first).not_to_have_text(first)


# -- the time picker -----------------------------------------------------------------------

def test_quick_ranges_and_steps_change_the_url_and_the_shown_range(page: Page,
                                                                  server: Server) -> None:
    open_view(page, server, "/d/steps?metric=cpu")
    expect(range_line(page)).to_contain_text(
        "All data, 2024-05-01 10:00:00 to 2024-05-01 10:59:00 UTC")
    page.locator(".quick-ranges").get_by_role("link", name="15 min").click()
    expect(page).to_have_url(re.compile(r"/d/steps\?metric=cpu&window=15m$"))
    expect(range_line(page)).to_contain_text("Last 15 min of data, to 2024-05-01 10:59:00 UTC")
    expect(page.locator("#f-window")).to_have_value("15m")
    expect(page.locator("#stats tbody")).to_be_visible()
    assert counted(page) == 16 * 3  # 10:44 to 10:59, both ends, three hosts

    page.get_by_role("link", name="← earlier").click()
    expect(page).to_have_url(re.compile(
        r"metric=cpu&start=2024-05-01T10:29:00Z&end=2024-05-01T10:44:00Z$"))
    expect(range_line(page)).to_contain_text(
        "From 2024-05-01 10:29:00 to 2024-05-01 10:44:00 UTC.")
    expect(page.locator("#f-window")).to_have_value("")  # no "15m" over a fixed range
    expect(page.locator("#f-start")).to_have_value("2024-05-01 10:29:00")
    expect(page.locator("#f-end")).to_have_value("2024-05-01 10:44:00")
    expect(page.locator("#chart")).to_have_attribute(
        "data-query", "metric=cpu&start=2024-05-01T10:29:00Z&end=2024-05-01T10:44:00Z")
    assert counted(page) == 16 * 3

    page.get_by_role("link", name="later →").click()  # back at the newest point: live again
    expect(page).to_have_url(re.compile(r"/d/steps\?metric=cpu&window=15m$"))


def test_a_typed_window_and_a_typed_range_in_the_views_zone(page: Page, server: Server) -> None:
    open_view(page, server, "/d/steps?metric=cpu")
    page.locator("#f-window").fill("2h")
    page.locator("#f-window").press("Enter")
    expect(page).to_have_url(re.compile(r"/d/steps\?metric=cpu&window=2h$"))
    expect(range_line(page)).to_contain_text("Last 2 h of data")

    page.goto(f"{server.url}/d/steps?metric=cpu&window=2h&tz=Asia/Tokyo")
    expect(page.get_by_label("from (Asia/Tokyo)")).to_be_visible()
    page.get_by_label("from (Asia/Tokyo)").fill("2024-05-01 19:30")  # 10:30 UTC
    expect(page.locator("#f-window")).to_have_value("")  # the range replaces the window
    page.get_by_label("to (Asia/Tokyo)").fill("2024-05-01 19:40")
    page.get_by_label("to (Asia/Tokyo)").press("Enter")
    expect(page).to_have_url(re.compile(
        r"metric=cpu&start=2024-05-01T10:30:00Z&end=2024-05-01T10:40:00Z&tz=Asia/Tokyo$"))
    expect(range_line(page)).to_contain_text(
        "From 2024-05-01 19:30:00 to 2024-05-01 19:40:00 Asia/Tokyo.")
    assert counted(page) == 11 * 3


def minute_of(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def drag_zoom(page: Page, left: float = 0.25, right: float = 0.75) -> None:
    """Drag across the plot from ``left`` to ``right`` (shares of its width)."""
    plot = page.locator("#chart .nsewdrag").first
    expect(plot).to_be_visible()
    box = plot.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * left, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * (left + right) / 2, y + 2, steps=5)
    page.mouse.move(box["x"] + box["width"] * right, y + 4, steps=5)
    page.mouse.up()


def test_dragging_on_the_chart_zooms_the_view_through_the_url(page: Page,
                                                             server: Server) -> None:
    open_view(page, server, "/d/steps?metric=cpu")
    drag_zoom(page)
    expect(page).to_have_url(re.compile(r"start=2024-05-01T10:\d\d:\d\dZ"
                                        r"&end=2024-05-01T10:\d\d:\d\dZ$"))
    found = re.search(r"start=([^&]+)&end=([^&]+)$", page.url)
    assert found is not None
    start, end = minute_of(found[1]), minute_of(found[2])
    # A quarter to three quarters of an hour's chart: about 10:15 to 10:45.
    assert TEN + timedelta(minutes=5) < start < TEN + timedelta(minutes=25)
    assert TEN + timedelta(minutes=35) < end < TEN + timedelta(minutes=55)
    expect(range_line(page)).to_contain_text(
        f"From {start:%Y-%m-%d %H:%M:%S} to {end:%Y-%m-%d %H:%M:%S} UTC.")
    expect(page.locator("#chart")).to_have_attribute("data-query", re.compile(r"start="))
    minutes = [m for m in range(60) if start <= TEN + timedelta(minutes=m) <= end]
    expect(page.locator("#stats tbody tr").first).to_be_visible()
    assert counted(page) == len(minutes) * 3  # the stats and table follow the zoom


def test_range_boxes_not_typed_in_show_the_range_as_the_page_writes_it(page: Page,
                                                                        server: Server) -> None:
    """The focused "to" box (a drag on the chart leaves the focus where it was) is rewritten
    with its zone's abbreviation after a zoom, and after a double-click shows the range it
    goes back to as the page writes times, not the URL's ISO text."""
    open_view(page, server, "/d/steps?metric=cpu&tz=Europe/Berlin"
                            "&start=2024-05-01T10:00:00Z&end=2024-05-01T11:00:00Z")
    start, end = page.locator("#f-start"), page.locator("#f-end")
    expect(end).to_have_value("2024-05-01 13:00:00 CEST")  # 11:00 UTC, summer time
    end.click()  # focused, nothing typed
    drag_zoom(page)
    expect(page).to_have_url(re.compile(r"start=2024-05-01T10:[1-2]\d:\d\dZ"))
    assert page.evaluate("document.activeElement.id") == "f-end"
    expect(start).to_have_value(re.compile(r"^2024-05-01 12:[1-2]\d:\d\d CEST$"))
    expect(end).to_have_value(re.compile(r"^2024-05-01 12:[3-5]\d:\d\d CEST$"))
    page.locator("#chart .nsewdrag").first.dblclick()
    expect(page).to_have_url(re.compile(r"end=2024-05-01T11:00:00Z(&|$)"))
    expect(start).to_have_value("2024-05-01 12:00:00 CEST")
    expect(end).to_have_value("2024-05-01 13:00:00 CEST")


@pytest.mark.parametrize("how", ["double-click", "Reset axes"])
def test_zooming_out_goes_back_to_the_view_before_the_zoom(page: Page, server: Server,
                                                           how: str) -> None:
    open_view(page, server, "/d/steps?metric=cpu&window=30m")
    drag_zoom(page)
    expect(page).to_have_url(re.compile(r"metric=cpu&start=[^&]+&end=[^&]+$"))
    first = page.url
    expect(page.locator("#chart")).to_have_attribute("data-query", first.split("?")[1])
    drag_zoom(page, 0.4, 0.6)  # a second zoom, inside the first
    expect(page).not_to_have_url(first)
    expect(page.locator("#chart")).to_have_attribute("data-query", page.url.split("?")[1])
    for _ in range(2):  # one step back each time, to the view the page began with
        before = page.url
        if how == "double-click":
            page.locator("#chart .nsewdrag").first.dblclick()
        else:
            page.locator("#chart .modebar-btn[data-title='Reset axes']").click()
        expect(page).not_to_have_url(before)
        expect(page.locator("#chart")).to_have_attribute(
            "data-query", page.url.split("?")[1])
    expect(page).to_have_url(re.compile(r"/d/steps\?metric=cpu&window=30m$"))
    expect(range_line(page)).to_contain_text("Last 30 min of data")
    assert counted(page) == 31 * 3


# -- the status line -------------------------------------------------------------------------

def record_status(page: Page) -> None:
    page.evaluate("""() => {
        const el = document.getElementById('live-status');
        window.__states = [el.dataset.state + ' ' + el.textContent];
        new MutationObserver(() => window.__states.push(el.dataset.state + ' ' + el.textContent))
            .observe(el, {attributes: true, childList: true, subtree: true,
                          characterData: true});
    }""")


@pytest.mark.parametrize("block, transport", [
    ("no-websocket", "polling"),  # Engine.IO's long-polling
    ("no-socket", "long-poll"),  # /api/d/<name>/poll while the socket keeps failing
])
def test_the_status_says_live_and_never_reconnecting_while_long_polling(
        page: Page, server: Server, block: str, transport: str) -> None:
    if block == "no-websocket":
        page.add_init_script("delete window.WebSocket;")
    else:
        page.route(re.compile(r".*/socket\.io/.*"), lambda route: route.abort())
    open_view(page, server, "/d/demo?metric=cpu")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", transport, timeout=LIVE_TIMEOUT)
    expect(status).to_have_text(re.compile(r"^Live · newest point (just now|\d s ago)$"))
    record_status(page)
    wait_for_versions(page, "version", chart_version(page) + 20)  # 10 s of ticks
    states: list[str] = page.evaluate("window.__states")
    assert [s for s in states if not s.startswith("live Live · newest point")] == []
    expect(status).to_have_attribute("title", re.compile(r"HTTP (long-)?poll"))


def record_status_times(page: Page) -> None:
    """Keep every text the page's status line shows, with the browser's time of it."""
    page.evaluate("""() => {
        const el = document.getElementById('live-status');
        window.__behind = [];
        new MutationObserver(() => window.__behind.push([Date.now(), el.textContent]))
            .observe(el, {childList: true, subtree: true, characterData: true});
    }""")


def expect_behind_since(page: Page, status: Locator, dropped_at: float) -> None:
    """The status turns to "Behind · updates N s late", N at least the seconds since
    ``dropped_at`` (browser ms) when it first said so (``record_status_times`` first)."""
    expect(status).to_have_text(re.compile(r"^Behind · updates \d+ s late$"), timeout=30_000)
    seen: list[tuple[float, str]] = page.evaluate("window.__behind")
    at, text = next((at, text) for at, text in seen if text.startswith("Behind"))
    late = re.search(r"(\d+) s late", text)
    assert late is not None and int(late[1]) >= (at - dropped_at) / 1000 - 2, seen


def drop_pushes(page: Page) -> dict[str, bool]:
    """Route the page's WebSocket through the test: while ``["drop"]`` is set, the server's
    chart pushes are dropped and everything else (pings, acks) passes: a link that stalls
    without closing, or a server whose pushes queue up."""
    switch = {"drop": False}

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else ""
            if switch["drop"] and ("update_chart" in text or "extend_chart" in text):
                return
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(re.compile(r".*/socket\.io/.*"), route)
    return switch


def test_the_status_says_when_the_page_falls_behind_the_data(page: Page,
                                                             server: Server) -> None:
    """"Live · newest point just now" is the age of the data, not of the last push: when the
    pushes stop arriving while the data goes on, the status says the page is behind."""
    switch = drop_pushes(page)
    open_view(page, server, "/d/demo?metric=cpu")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", "websocket", timeout=LIVE_TIMEOUT)
    expect(status).to_have_text(re.compile(r"^Live · newest point (just now|\d s ago)$"))
    expect(status).to_have_attribute("data-freshness", "fresh")
    record_status_times(page)
    # Drop from a moment when the page knows of nothing newer than its chart: it learns of
    # the newer data only by its check after 10 s without an update.
    page.wait_for_function("""() => document.getElementById('range').dataset.version ===
                                    document.getElementById('chart').dataset.version""",
                           timeout=LIVE_TIMEOUT)
    switch["drop"] = True  # set before Playwright dispatches the next message
    dropped_at: float = page.evaluate("Date.now()")
    shown = chart_version(page)
    # No push for 10 s: the page asks the server, which holds newer data; "Behind", late
    # by as long as the server has held data the page lacks (from the first version
    # missed, ~0.5 s after the drop), not from the newest version it learned of at the check.
    expect_behind_since(page, status, dropped_at)
    expect(status).to_have_attribute("data-freshness", "behind")
    expect(status).to_have_attribute("data-state", "live")  # connected all along
    assert chart_version(page) == shown
    switch["drop"] = False  # the next push does not fit: the whole figure, and caught up
    expect(status).to_have_text(re.compile(r"^Live · newest point (just now|\d s ago)$"),
                                timeout=LIVE_TIMEOUT)
    assert chart_version(page) > shown


def held_render(page: Page, server: Server, path: str, shift_ms: int) -> None:
    """Open ``path`` with its HTML saying the server's clock was ``shift_ms`` later than it
    was: what a page delivered and started ``-shift_ms`` ms after it was rendered (a slow
    link, slow scripts) reads from its render time."""
    def shifted(route: Route) -> None:
        answer = route.fetch()
        html = re.sub(r'data-server-now="(\d+)"',
                      lambda m: f'data-server-now="{int(m[1]) + shift_ms}"', answer.text())
        route.fulfill(response=answer, body=html)

    wait_listed(page, server, path.split("?")[0].rsplit("/", 1)[-1])
    page.route(re.compile(r".*/d/demo\?.*"), shifted, times=1)  # the page, not its refreshes
    page.goto(f"{server.url}{path}")
    expect(page.locator("#chart")).not_to_have_attribute("data-version", "", timeout=10_000)


def test_a_slowly_delivered_page_never_says_its_newest_point_is_in_the_future(
        page: Page, server: Server) -> None:
    """Rendered 7 s before its scripts ran, the page used to read the server's clock as 7 s
    behind: "newest point 7 s from now", for as long as it stayed open."""
    held_render(page, server, "/d/demo?metric=cpu", -7000)
    record_status(page)
    page.evaluate("""() => {
        const ages = document.getElementById('range');
        window.__ages = [ages.textContent];
        new MutationObserver(() => window.__ages.push(ages.textContent))
            .observe(ages, {childList: true, subtree: true, characterData: true});
    }""")
    wait_for_versions(page, "version", chart_version(page) + 6)  # 3 s of ticks
    expect(page.locator("#live-status")).to_have_text(
        re.compile(r"^Live · newest point (just now|\d s ago)$"))
    seen: list[str] = page.evaluate("window.__states") + page.evaluate("window.__ages")
    assert [text for text in seen if "from now" in text] == []


def test_the_clock_is_corrected_by_the_answers_after_the_page(page: Page,
                                                              server: Server) -> None:
    """A page whose render time is 20 s off (a clock read wrong) learns the server's clock
    from the refreshes' answers: the newest point of a demo ticking twice a second is not
    "20 s ago"."""
    held_render(page, server, "/d/demo?metric=cpu", 20_000)
    expect(page.locator("#live-status")).to_have_text(
        re.compile(r"^Live · newest point (just now|[1-4] s ago)$"), timeout=LIVE_TIMEOUT)
    expect(range_line(page).locator(".ago")).to_have_text(
        re.compile(r"^(just now|[1-4] s ago)$"), timeout=LIVE_TIMEOUT)


def test_a_hung_server_is_said_within_seconds_and_recovers(
        page: Page, server_factory: Callable[..., Server]) -> None:
    """A server that stops answering (SIGSTOP: its connections stay open, nothing moves)
    used to read "Live" for ~36 s; the check after 10 s without an update, unanswered for
    4 s, says so, and the status is live again once the server answers."""
    hung = server_factory(demo=True)
    open_view(page, hung, "/d/demo?metric=cpu")
    status = page.locator("#live-status")
    expect(status).to_have_text(re.compile(r"^Live · newest point (just now|\d s ago)$"),
                                timeout=LIVE_TIMEOUT)
    hung.process.send_signal(signal.SIGSTOP)
    try:
        # 10 s without an update, then 4 s without an answer: well before a TCP timeout.
        expect(status).to_have_text(
            re.compile(r"^No answer from the server · last update 1\d s ago$"), timeout=20_000)
        expect(status).to_have_attribute("data-state", "reconnecting")
    finally:
        hung.process.send_signal(signal.SIGCONT)
    expect(status).to_have_text(re.compile(r"^Live · newest point (just now|\d s ago)$"),
                                timeout=30_000)


def test_stats_and_the_range_line_write_numbers_and_times_alike(page: Page,
                                                                 server: Server) -> None:
    """Whole numbers keep the decimals of their column ("20.00" beside a mean of "25.67", as
    the rows table writes them); the range line's times share one precision (".560", not
    ".56", beside ".439")."""
    server.write_csv("alike", "time,cpu\n2024-05-01 10:00:00.560,20\n"
                              "2024-05-01 10:00:01,32\n2024-05-01 10:00:02.439,25\n")
    open_view(page, server, "/d/alike?metric=cpu&window=all")
    cells = page.locator("#stats tbody tr td.num").all_inner_texts()
    # count; min 20, mean (20 + 32 + 25) / 3 = 25.666…, max 32, last 25
    assert cells == ["3", "20.00", "25.67", "32.00", "25.00"]
    expect(range_line(page)).to_contain_text(
        "All data, 2024-05-01 10:00:00.560 to 2024-05-01 10:00:02.439 UTC")


def test_the_status_of_old_data_says_how_old(page: Page, server: Server) -> None:
    """The steps file was loaded a moment ago, but its newest point is of 2024-05-01."""
    open_view(page, server, "/d/steps?metric=cpu")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "live")
    expect(status).to_have_text(re.compile(r"^Live · newest point [\d,]+ d ago$"))
    expect(status).to_have_attribute("data-freshness", "old")
    found = re.search(r"([\d,]+) d ago", status.inner_text())
    assert found is not None
    days = (datetime.now(UTC) - datetime(2024, 5, 1, 10, 59, tzinfo=UTC)).days
    assert abs(int(found[1].replace(",", "")) - days) <= 1


def test_no_javascript_message_while_scripts_load(page: Page, server: Server) -> None:
    wait_listed(page, server, "steps")
    held: list[Route] = []
    page.route(re.compile(r".*/plotly-basic-[\d.]+\.min\.js(\?.*)?$"),
               lambda route: held.append(route))  # never answered: still loading
    page.goto(f"{server.url}/d/steps?metric=cpu", wait_until="commit")
    expect(page.locator("#controls")).to_be_visible()
    expect(page.locator(".live-bar")).not_to_contain_text("JavaScript", use_inner_text=True)
    assert held  # the scripts really were still loading


# -- pause -------------------------------------------------------------------------------

def test_pause_freezes_the_chart_stats_and_table_even_when_the_window_changes(
        page: Page, server: Server) -> None:
    page.set_viewport_size(TALL)
    open_view(page, server, "/d/demo?metric=cpu&agg=raw")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "live")
    page.get_by_role("button", name="pause").click()
    expect(status).to_have_text(re.compile(r"^Paused"))
    mark = page.locator("#chart .annotation-text", has_text="Paused")
    expect(mark).to_be_visible()

    def frozen() -> dict[str, Any]:
        return {"version": chart_version(page),
                "stats": page.locator("#stats tbody").inner_text(),
                "row": page.locator("#table tbody tr").first.inner_text()}

    shown = frozen()
    wait_for_versions(page, "pending", shown["version"] + 4)  # 2 s of ticks held back
    assert frozen() == shown
    expect(status).to_have_text("Paused · new data waiting")

    page.locator(".quick-ranges").get_by_role("link", name="5 min", exact=True).click()
    expect(page).to_have_url(re.compile(r"/d/demo\?metric=cpu&window=5m&agg=raw$"))
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-query", "metric=cpu&window=5m&agg=raw")  # redrawn
    expect(range_line(page)).to_contain_text("Last 5 min of data")
    expect(mark).to_be_visible()  # still paused, on the new view too
    expect(status).to_have_attribute("data-state", "paused")
    shown = frozen()
    wait_for_versions(page, "pending", shown["version"] + 4)
    assert frozen() == shown

    page.get_by_role("button", name="resume").click()
    expect(mark).to_have_count(0)
    expect(status).to_have_text(re.compile(r"^Live"))
    wait_for_versions(page, "version", shown["version"] + 5)
    expect(page.locator("#table tbody tr").first).not_to_have_text(shown["row"])


def test_paused_then_a_new_view_shows_chart_and_stats_of_one_version(page: Page,
                                                                     server: Server) -> None:
    """Paused, a new view's blocks come with the navigation and its chart after it, over
    the socket: a tick in between froze them one version apart. Here the navigation's
    answer is held until two ticks have passed, so its blocks are older than the chart."""
    page.set_viewport_size(TALL)
    open_view(page, server, "/d/demo?metric=cpu&agg=raw")
    page.get_by_role("button", name="pause").click()
    status = page.locator("#live-status")
    expect(status).to_have_text(re.compile(r"^Paused"))
    held: list[tuple[Route, Any]] = []

    def hold(route: Route) -> None:
        if route.request.headers.get("hx-request") and not route.request.headers.get(
                "x-dash-refresh"):
            held.append((route, route.fetch()))  # rendered now, delivered below
        else:
            route.continue_()

    page.route(re.compile(r".*/d/demo\?.*window=5m.*"), hold)
    page.locator(".quick-ranges").get_by_role("link", name="5 min", exact=True).click()
    expect(page.locator("#chart")).to_have_attribute("data-pending", re.compile(r"\d"))
    pending = int(page.locator("#chart").get_attribute("data-pending") or 0)
    wait_for_versions(page, "pending", pending + 2)  # the old view's ticks, held by pause
    assert len(held) == 1
    route, answer = held[0]
    route.fulfill(response=answer)
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-query", "metric=cpu&window=5m&agg=raw")
    page.wait_for_function("""() => document.getElementById('chart').dataset.version ===
                                    document.getElementById('range').dataset.version""",
                           timeout=LIVE_TIMEOUT)
    shown = chart_version(page)
    stats = page.locator("#stats tbody").inner_text()
    wait_for_versions(page, "pending", shown + 2)  # still paused: both stay
    assert chart_version(page) == shown
    assert page.locator("#range").get_attribute("data-version") == str(shown)
    assert page.locator("#stats tbody").inner_text() == stats
    expect(status).to_have_attribute("data-state", "paused")
    page.unroute_all(behavior="ignoreErrors")


# -- the 400 page --------------------------------------------------------------------------

def test_the_400_page_lists_every_bad_parameter_and_keeps_the_good_ones(
        page: Page, server: Server) -> None:
    wait_listed(page, server, "steps")
    response = page.goto(f"{server.url}/d/steps?metric=cpu&host=web-2&window=2hours"
                         "&agg=median&tz=Asia/Tokyo")
    assert response is not None and response.status == 400
    problem = page.get_by_role("alert")
    expect(problem.locator("li strong")).to_have_text(["window", "agg"])
    expect(problem).to_contain_text("2 parameters need a change")
    expect(page.get_by_role("checkbox", name="cpu")).to_be_checked()
    expect(page.locator("#controls .filters")).to_contain_text("host = web-2")
    expect(page.locator("#f-window")).to_have_value("2hours")  # as typed, to correct
    expect(page.locator("#f-tz")).to_have_value("Asia/Tokyo")
    expect(page.locator("#facets")).not_to_contain_text("no labels")
    expect(page.locator("#stats")).not_to_contain_text("No points")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "error")

    page.locator("#f-agg").select_option("mean")  # one fixed: only the window is left
    expect(problem.locator("li strong")).to_have_text(["window"])
    expect(page.locator("#f-window")).to_have_value("2hours")
    page.locator("#f-window").fill("2h")
    page.locator("#f-window").press("Enter")
    expect(page).to_have_url(re.compile(
        r"/d/steps\?metric=cpu&host=web-2&window=2h&agg=mean&tz=Asia/Tokyo$"))
    expect(page.get_by_role("alert")).to_have_count(0)


# -- hover ---------------------------------------------------------------------------------

def test_hover_lists_every_metric_of_small_multiples_with_the_zone(page: Page,
                                                                  server: Server) -> None:
    """cpu (%) and latency_ms (ms) are drawn one above the other; hovering the lower one
    names both, and the time says its zone."""
    lines = ["time,cpu,latency_ms"] + [f"2024-05-01 10:{m:02d}:00,{m},{100 + m}"
                                       for m in range(30)]
    server.write_csv("units", "\n".join(lines) + "\n")
    open_view(page, server, "/d/units?metric=cpu&metric=latency_ms&tz=Asia/Tokyo")
    plots = page.locator("#chart .nsewdrag")
    expect(plots).to_have_count(2)  # two rows
    lower = max((plots.nth(i).bounding_box() for i in range(2)), key=lambda b: b["y"] if b else 0)
    assert lower is not None
    page.mouse.move(lower["x"] + lower["width"] / 2, lower["y"] + lower["height"] / 2)
    hover = page.locator("#chart .hoverlayer")
    expect(hover).to_contain_text("latency_ms")
    expect(hover).to_contain_text("cpu")
    expect(hover).to_contain_text(re.compile(r"2024-05-01 19:\d\d:00 Asia/Tokyo"))


# -- the chart to screen readers -----------------------------------------------------------

def test_the_live_chart_is_one_named_image_not_its_tick_labels(page: Page,
                                                              server: Server) -> None:
    open_view(page, server, "/d/steps?metric=cpu")
    expect(page.locator("#chart .main-svg").first).to_be_visible()
    chart = page.get_by_role("img", name="Chart of steps: cpu", exact=True)
    expect(chart).to_have_count(1)
    tree = page.locator("#chart").aria_snapshot()
    assert "10:30" not in tree and "web-1" not in tree  # no tick or legend text read out
    assert 'img "Chart of steps: cpu"' in tree
    expect(page.locator("#chart-summary")).to_contain_text("Last values: web-1 59.00")


# -- metric checkboxes --------------------------------------------------------------------

def test_metrics_are_checkboxes(page: Page, server: Server) -> None:
    open_view(page, server, "/d/demo?metric=cpu")
    page.get_by_role("checkbox", name="mem").check()
    expect(page).to_have_url(re.compile(r"/d/demo\?metric=cpu&metric=mem$"))
    expect(page.get_by_role("checkbox", name="cpu")).to_be_checked()
    page.get_by_role("checkbox", name="cpu").uncheck()
    expect(page).to_have_url(re.compile(r"/d/demo\?metric=mem$"))


# -- the server's Content-Security-Policy ------------------------------------------------------

def test_the_page_works_under_the_content_security_policy(page: Page, server: Server) -> None:
    """No inline script, no eval, no event handler attribute: nothing of the page's own is
    refused (the policy allows inline styles for plotly.js only)."""
    page.add_init_script("""window.__violations = [];
        document.addEventListener('securitypolicyviolation',
            (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));""")
    wait_listed(page, server, "steps")
    response = page.goto(f"{server.url}/d/steps?metric=cpu&agg=raw")
    assert response is not None
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-eval" not in policy
    expect(page.locator("#chart .main-svg").first).to_be_visible()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    page.locator("#facets").get_by_role("link", name="web-3", exact=True).click()
    expect(page).to_have_url(re.compile(r"host=web-3"))
    page.get_by_role("link", name="older →").click()
    expect(page.locator(".pager")).to_contain_text("page 2 of 2")
    page.get_by_role("button", name="pause").click()
    expect(page.locator("#chart .annotation-text", has_text="Paused")).to_be_visible()
    page.get_by_role("link", name="← newer").click()
    expect(page.locator(".pager")).to_contain_text("page 1 of 2")
    assert page.evaluate("window.__violations") == []


def test_a_typed_end_survives_a_slow_answer_to_the_typed_start(page: Page,
                                                                server: Server) -> None:
    """The answer to "from" arrives after "to" was typed and left: the form it brings must
    not empty "to", and the next request sends what was typed."""
    open_view(page, server, "/d/steps?metric=cpu")
    held: list[Route] = []

    def hold_first(route: Route) -> None:
        if not held and route.request.headers.get("hx-request") and "start=" in route.request.url:
            held.append(route)  # answered below, once "to" is typed
        else:
            route.continue_()

    page.route(re.compile(r".*/d/steps\?.*"), hold_first)
    with page.expect_request(lambda request: "start=" in request.url):
        page.get_by_label("from (UTC)").fill("2024-05-01 10:30")
        page.get_by_label("from (UTC)").press("Tab")  # change: the form is sent
    page.get_by_label("to (UTC)").fill("2024-05-01 10:40")
    page.get_by_label("to (UTC)").press("Tab")  # change again, while the first is out
    assert len(held) == 1
    held[0].continue_()
    expect(page).to_have_url(re.compile(
        r"/d/steps\?metric=cpu&start=2024-05-01T10:30:00Z&end=2024-05-01T10:40:00Z$"))
    expect(page.get_by_label("to (UTC)")).to_have_value(re.compile(r"^2024-05-01 10:40"))
    expect(range_line(page)).to_contain_text(
        "From 2024-05-01 10:30:00 to 2024-05-01 10:40:00 UTC.")
    assert counted(page) == 11 * 3
