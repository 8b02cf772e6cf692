"""Dashboards in a real browser against the real server: built through the UI, live on
every transport, whole without JavaScript, thresholds where they belong, titles inert."""
from __future__ import annotations

import json
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


def test_a_bad_zone_keeps_every_other_override_and_the_panels_live(page: Page,
                                                                   fleet: Server) -> None:
    """As on the view page: the typed zone stays in its box with the message, the window
    stays, and the panels and address keep the last good overrides, live; nothing is saved."""
    two_panel_board(fleet, "fleet")
    saved = fleet.put_dashboard("fleet", {**json.loads(page.request.get(
        f"{fleet.url}/api/dashboards/fleet").text()), "window": "6h", "tz": "Europe/Berlin"})
    shown = f"{fleet.url}/dashboards/fleet?window=24h&tz=Asia/Kolkata"
    page.goto(shown)
    live_chart(page, "cpu")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    page.locator("#o-tz").fill("Mars/Olympus")
    page.locator("#o-tz").press("Enter")
    expect(page.locator("#o-tz")).to_have_attribute("aria-invalid", "true")  # answered
    expect(page.locator("#o-tz")).to_have_value("Mars/Olympus")
    expect(page.locator("#o-window")).to_have_value("24h")
    expect(page).to_have_url(shown)
    kolkata = {"cpu": "metric=cpu&window=24h&agg=raw&tz=Asia/Kolkata",
               "mem": "metric=mem&window=24h&tz=Asia/Kolkata",
               "rows": "metric=cpu&window=24h&agg=raw&tz=Asia/Kolkata"}
    for panel, query in kolkata.items():
        expect(page.locator(f"#panel-{panel}")).to_have_attribute("data-query", query)
    answer = fleet.post_points("fleet", [fleet_point(4, 30.0, 60.0)])
    for panel in ("cpu", "mem", "rows"):
        expect(page.locator(f"#panel-{panel}")).to_have_attribute(
            "data-version", str(answer["version"]))
    problem = page.locator("#overrides").get_by_role("alert")
    expect(problem).to_contain_text("One parameter needs a change")
    expect(problem).to_contain_text(
        "tz: 'Mars/Olympus' is not an IANA time zone; write it like UTC, Europe/Berlin, "
        "America/New_York or Asia/Kolkata")  # the view page's words
    assert page.request.get(f"{fleet.url}/api/dashboards/fleet").json()["version"] == \
        saved["version"]

    page.locator("#o-tz").fill("UTC")  # corrected: every override applies, the address too
    page.locator("#o-tz").press("Enter")
    expect(page).to_have_url(f"{fleet.url}/dashboards/fleet?window=24h&tz=UTC")
    expect(problem).to_have_count(0)
    expect(page.locator("#panel-cpu")).to_have_attribute(
        "data-query", "metric=cpu&window=24h&agg=raw")  # UTC is a view's default: not written


def test_a_url_with_a_bad_override_is_live_under_the_others(page: Page, fleet: Server) -> None:
    """Opened as a link (not typed in the form): the panels show every good override and
    follow new points, while the form names the bad one."""
    two_panel_board(fleet, "fleet")
    page.goto(f"{fleet.url}/dashboards/fleet?window=24h&tz=Mars/Olympus")
    expect(page.locator("#o-tz")).to_have_value("Mars/Olympus")
    expect(page.locator("#panel-cpu")).to_have_attribute(
        "data-query", "metric=cpu&window=24h&agg=raw")
    live_chart(page, "cpu")
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    answer = fleet.post_points("fleet", [fleet_point(4, 30.0, 60.0)])
    expect(page.locator("#panel-cpu")).to_have_attribute("data-version",
                                                         str(answer["version"]))


def test_choosing_a_window_over_a_range_shows_that_window(page: Page, fleet: Server) -> None:
    """A range wins over a window in the URL; choosing a window in the form drops the range
    (as typing a window does on the view page) instead of snapping back."""
    two_panel_board(fleet, "fleet")
    page.goto(f"{fleet.url}/dashboards/fleet?start=2024-05-01T10:00:00Z"
              "&end=2024-05-01T11:00:00Z&tz=UTC")
    expect(page.locator("#o-start")).not_to_have_value("")
    page.locator("#o-window").select_option("24h")
    expect(page).to_have_url(f"{fleet.url}/dashboards/fleet?window=24h&tz=UTC")
    expect(page.locator("#o-start")).to_have_value("")
    expect(page.locator("#o-end")).to_have_value("")
    expect(page.locator("#panel-cpu")).to_have_attribute(
        "data-query", "metric=cpu&window=24h&agg=raw")


@pytest.fixture
def no_js_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


def test_without_javascript_every_panel_is_drawn(no_js_page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    no_js_page.goto(f"{fleet.url}/dashboards/fleet")
    chart = no_js_page.locator("#panel-cpu svg.svg-chart:visible")  # of its two sizes
    expect(chart.locator("polyline.trace")).to_have_count(1)
    expect(chart.locator("line.threshold")).to_have_attribute("stroke", "red")
    expect(chart.locator("line.threshold")).to_have_attribute("data-value", "12")
    number = no_js_page.locator("#panel-mem .stat-number text")
    expect(number).to_have_text("52")  # the last mem point
    expect(number).to_have_attribute("fill", "orange")  # 52 reaches the threshold at 51
    expect(no_js_page.locator("#panel-rows tbody tr")).to_have_count(3)
    expect(no_js_page.locator("#panel-rows tbody tr").first).to_contain_text("12")
    expect(no_js_page.locator(".live-bar")).to_have_text("live updates need JavaScript",
                                                          use_inner_text=True)


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


# What the first review of dashboards found, seen where users see it.

AGGS = ("auto", "raw", "mean", "sum", "min", "max", "count", "p50", "p90", "p95", "p99")


def wall(server: Server) -> list[str]:
    """A dashboard of 24 stat panels (the most there may be), 24 views apart; their ids."""
    panels = [{"id": f"{metric}-{agg}", "type": "stat", "width": 2, "dataset": "fleet",
               "query": f"metric={metric}&agg={agg}"}
              for metric in ("cpu", "mem") for agg in AGGS]
    panels += [{"id": f"{metric}-host", "type": "stat", "width": 2, "dataset": "fleet",
                "query": f"metric={metric}&by=host"} for metric in ("cpu", "mem")]
    server.put_dashboard("wall", {"title": "Wall", "panels": panels})
    return [panel["id"] for panel in panels]


class Joins:
    """Counts join_dashboard messages a page sends, over WebSocket or HTTP polling."""

    def __init__(self, page: Page) -> None:
        self.count = 0
        page.on("websocket", lambda ws: ws.on("framesent", self._frame))
        page.on("request", lambda request: self._frame(request.post_data or "")
                if request.method == "POST" and "/socket.io/" in request.url else None)

    def _frame(self, payload: str | bytes) -> None:
        text = payload if isinstance(payload, str) else payload.decode(errors="replace")
        self.count += text.count('"join_dashboard"')


def test_the_largest_dashboard_follows_a_window_change_with_one_join(
        page: Page, fleet: Server) -> None:
    ids = wall(fleet)
    joins = Joins(page)
    page.goto(f"{fleet.url}/dashboards/wall")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "live")
    expect(status).to_have_attribute("data-transport", "websocket")
    before = joins.count
    page.locator("#o-window").select_option("5m")
    for panel in ids:
        expect(page.locator(f"#panel-{panel}")).to_have_attribute(
            "data-query", re.compile(r"(^|&)window=5m(&|$)"))
    answer = fleet.post_points("fleet", [fleet_point(4, 30.0, 60.0)])
    for panel in ids:  # every panel still follows its (new) view
        expect(page.locator(f"#panel-{panel}")).to_have_attribute(
            "data-version", str(answer["version"]))
    expect(status).to_have_attribute("data-state", "live")
    assert joins.count - before == 1  # one change, one join (htmx settles three blocks)


def test_without_websocket_a_window_change_starts_one_poll(page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url)
            if "/api/dashboards/fleet/poll" in request.url else None)
    page.add_init_script("delete window.WebSocket;")
    page.goto(f"{fleet.url}/dashboards/fleet")
    expect(page.locator("#live-status")).to_have_attribute("data-transport", "long-poll")
    live_chart(page, "cpu")
    before = len(polls)
    page.locator("#o-window").select_option("5m")
    expect(page.locator("#panel-cpu")).to_have_attribute(
        "data-query", re.compile(r"(^|&)window=5m(&|$)"))
    answer = fleet.post_points("fleet", [fleet_point(4, 30.0, 60.0)])
    for panel in ("cpu", "mem", "rows"):
        expect(page.locator(f"#panel-{panel}")).to_have_attribute(
            "data-version", str(answer["version"]))
    fresh = [url for url in polls[before:] if "cursor=" not in url]
    assert len(fresh) == 1 and "window=5m" in fresh[0]  # one poll for the new view, not 3


def test_sign_in_from_a_view_page_opens_the_sign_in_page(page: Page, fleet: Server) -> None:
    page.goto(f"{fleet.url}/d/fleet?metric=cpu")
    page.locator("#add-panel summary").click()
    page.locator("#add-panel").get_by_role("link", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/login\?next="))
    expect(page.get_by_role("heading", name="Sign in to edit dashboards")).to_be_visible()
    page.get_by_label("admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/d/fleet\?metric=cpu$"))
    page.locator("#add-panel summary").click()
    expect(page.get_by_role("button", name="Add panel")).to_be_visible()


def test_back_to_the_dashboard_from_the_edit_page_is_live(page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    sign_in(page, fleet)
    page.goto(f"{fleet.url}/dashboards/fleet/edit")
    page.get_by_role("link", name="back to the dashboard").click()
    expect(page).to_have_url(re.compile(r"/dashboards/fleet$"))
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    live_chart(page, "cpu")


@pytest.mark.parametrize("transport", ["websocket", "long-poll"])
def test_a_panel_waits_for_its_dataset_and_the_rest_stays_live(
        page: Page, fleet: Server, transport: str) -> None:
    folder = fleet.data_dir / "dashboards"
    folder.mkdir(exist_ok=True)  # by hand: a PUT refuses a dataset that is not there
    (folder / "later.json").write_text(json.dumps({"title": "Later", "panels": [
        {"id": "cpu", "type": "timeseries", "dataset": "fleet", "query": "metric=cpu&agg=raw"},
        {"id": "load", "type": "stat", "dataset": "later", "query": "metric=load"}]}))
    if transport == "long-poll":
        page.add_init_script("delete window.WebSocket;")
    page.goto(f"{fleet.url}/dashboards/later")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", transport)
    expect(status).to_have_attribute("data-state", "live")
    expect(page.locator("#panel-load .panel-problem")).to_contain_text(
        "dataset 'later' is not loaded")
    live_chart(page, "cpu")
    answer = fleet.post_points("fleet", [fleet_point(5, 31.0, 70.0)])
    expect(page.locator("#panel-cpu")).to_have_attribute("data-version", str(answer["version"]))
    fleet.post_points("later", [{"timestamp": "2024-05-01T00:00:00Z", "load": 7.5}])
    expect(page.locator("#panel-load .stat-number text")).to_have_text("7.50")
    expect(page.locator("#panel-load .panel-problem")).to_have_count(0)
    fleet.post_points("later", [{"timestamp": "2024-05-01T00:00:01Z", "load": 9.0}])
    expect(page.locator("#panel-load .stat-number text")).to_have_text("9")
    expect(status).to_have_attribute("data-state", "live")


def test_a_file_broken_while_open_is_said_once_and_the_page_lets_go(
        page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    page.goto(f"{fleet.url}/dashboards/fleet")
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "live")
    live_chart(page, "cpu")
    path = fleet.data_dir / "dashboards" / "fleet.json"
    good = path.read_text()
    path.write_text("{ not json")
    expect(status).to_have_attribute("data-state", "error")
    expect(status).to_contain_text("fleet.json")
    views_of(page, 0)  # the page watches nothing it cannot keep up to date
    path.write_text(good)
    expect(status).to_have_attribute("data-state", "live")
    views_of(page, 2)  # cpu and rows show one view, mem another


def views_of(page: Page, count: int) -> None:
    """Wait until the server's /healthz counts ``count`` watched views."""
    page.evaluate("""(count) => {
        document.body.dataset.views = "";
        const check = async () => {
            const health = await (await fetch("/healthz", {cache: "no-store"})).json();
            if (health.views === count) document.body.dataset.views = String(count);
            else setTimeout(check, 100);
        };
        check();
    }""", count)
    expect(page.locator("body")).to_have_attribute("data-views", str(count), timeout=10_000)


def test_a_stale_save_keeps_what_was_typed_at_the_edit_page_address(
        page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    sign_in(page, fleet)
    page.goto(f"{fleet.url}/dashboards/fleet/edit")
    theirs = fleet.get_json("/api/dashboards/fleet")
    theirs["panels"][1]["title"] = "Memory (theirs)"
    fleet.put_dashboard("fleet", theirs)  # someone else saves
    form = page.locator("#edit-mem")
    form.get_by_label("title").fill("Mem (B)")
    form.get_by_role("button", name="Save").click()
    problem = page.locator("#edit-problem")
    expect(problem).to_contain_text("someone else saved this dashboard since you opened it")
    expect(problem).to_contain_text("title: 'Memory' → 'Memory (theirs)'")
    expect(page).to_have_url(re.compile(r"/dashboards/fleet/edit$"))
    expect(page.locator("#edit-mem").get_by_label("title")).to_have_value("Mem (B)")
    page.reload()  # a page, not a fragment
    expect(page.get_by_role("heading", name="Edit “Fleet”")).to_be_visible()
    page.locator("#edit-mem").get_by_label("title").fill("Mem (B)")
    page.locator("#edit-mem").get_by_role("button", name="Save").click()
    expect(page.locator(".notice")).to_contain_text("Saved")
    assert fleet.get_json("/api/dashboards/fleet")["panels"][1]["title"] == "Mem (B)"


def test_a_refused_add_can_be_reloaded_without_posting_again(page: Page, fleet: Server) -> None:
    sign_in(page, fleet)
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url)
            if request.method == "POST" and "/socket.io/" not in request.url else None)
    add_view(page, fleet, "metric=cpu", None, "bad name!", "timeseries", "CPU")
    expect(page.get_by_role("heading", name="The panel was not added")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/dashboards/add\?"))
    expect(page.locator("#add-new-name")).to_have_value("bad name!")
    assert len(posts) == 1
    page.reload()
    expect(page.get_by_role("heading", name="The panel was not added")).to_be_visible()
    assert len(posts) == 1  # the reload asked with GET
    page.locator("#add-new-name").fill("ops")
    page.get_by_role("button", name="Add panel").click()
    expect(page).to_have_url(re.compile(r"/dashboards/ops#panel-cpu$"))


def test_deleting_a_dashboard_asks_first(page: Page, fleet: Server) -> None:
    two_panel_board(fleet, "fleet")
    sign_in(page, fleet)
    page.goto(f"{fleet.url}/dashboards/fleet/edit")
    page.get_by_role("link", name="Delete this dashboard…").click()
    expect(page.get_by_role("heading", name="Delete “Fleet”?")).to_be_visible()
    assert fleet.get_json("/api/dashboards/fleet")["title"] == "Fleet"  # one click: no harm
    page.get_by_role("button", name="Yes, delete “Fleet”").click()
    expect(page).to_have_url(re.compile(r"/dashboards$"))
    expect(page.locator("tr[data-dashboard=fleet]")).to_have_count(0)


@pytest.fixture
def phone_without_js(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False,
                                  viewport={"width": 390, "height": 844})
    yield context.new_page()
    context.close()


def test_without_javascript_a_phone_shows_a_readable_chart(phone_without_js: Page,
                                                           fleet: Server) -> None:
    two_panel_board(fleet, "fleet")  # the cpu panel is 8 of 12 columns: a wide panel
    phone_without_js.goto(f"{fleet.url}/dashboards/fleet")
    chart = phone_without_js.locator("#panel-cpu svg.svg-chart:visible")
    expect(chart).to_have_count(1)
    expect(chart.locator("line.threshold")).to_have_attribute("data-value", "12")
    for text in ("g.x-ticks text", "g.y-ticks text", "g.legend text"):
        box = chart.locator(text).first.bounding_box()
        assert box is not None and box["height"] >= 9, (text, box)  # was ~4 px


def test_a_threshold_far_from_the_data_is_named_not_drawn(page: Page, fleet: Server) -> None:
    fleet.put_dashboard("far", {"title": "Far", "panels": [
        {"id": "cpu", "type": "timeseries", "width": 12, "dataset": "fleet",
         "query": "metric=cpu&agg=raw",
         "thresholds": [{"value": -1e308, "color": "blue"}, {"value": 12, "color": "red"}]}]})
    page.goto(f"{fleet.url}/dashboards/far")
    live_chart(page, "cpu")
    expect(page.locator("#panel-cpu .shapelayer path")).to_have_count(1)  # 12 only
    expect(page.locator("#panel-cpu .scatterlayer .trace path.js-line").first).to_have_attribute(
        "d", re.compile(r"^M-?[\d.]+,-?[\d.]+L[\d.,L-]+$"))  # no NaN in the line
    expect(page.locator("#panel-cpu .off-chart")).to_have_text(
        "threshold -1e+308 (blue) is far outside the data: not drawn")
    ticks = page.evaluate("() => document.querySelector('#panel-cpu .panel-chart')"
                          "._fullLayout.yaxis._vals.map((t) => t.x)")
    assert min(ticks) >= 0 and max(ticks) <= 20  # the axis spans the data (10..12) and 12


def test_typed_panel_edits_come_back_after_a_lost_sign_in(page: Page, fleet: Server) -> None:
    """The sign-in ends while a panel's form is being typed in (signed out in another tab,
    a restart, a cluster's lost login): saving asks to sign in, and after signing in the
    edit page shows what was typed, not yet saved; saving then keeps it."""
    two_panel_board(fleet, "fleet")
    sign_in(page, fleet)
    page.goto(f"{fleet.url}/dashboards/fleet/edit")
    form = page.locator("#edit-mem")
    form.get_by_label("title").fill("Memory, typed while signed out")
    other = page.context.new_page()  # signed out in another tab: the same cookie ends
    other.goto(f"{fleet.url}/logout")
    other.get_by_role("button", name=re.compile("Sign out", re.I)).click()
    other.close()
    form.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)dashboards(/|%2F)fleet(/|%2F)edit$"))
    page.get_by_label("admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboards/fleet/edit$"))
    expect(page.locator("#edit-problem")).to_contain_text("what you typed in panel 'mem'")
    title = page.locator("#edit-mem").get_by_label("title")
    expect(title).to_have_value("Memory, typed while signed out")
    page.locator("#edit-mem").get_by_role("button", name="Save").click()
    expect(page.get_by_role("status")).to_contain_text("Saved “mem”")
    page.goto(f"{fleet.url}/dashboards/fleet")
    expect(page.locator("#panel-mem")).to_contain_text("Memory, typed while signed out")
