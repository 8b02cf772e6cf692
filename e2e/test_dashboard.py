"""What a user sees in a browser, against the real server (``python wsgi.py``)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from .conftest import Server

DEMO_HOSTS = ["web-1", "web-2", "web-3", "web-4"]
# A wide file: a `time` column (not `timestamp`), two numeric metrics and a string label.
# One row per instant, so its default view draws the raw points: one per row.
FLEET_CSV = """time,cpu,mem,host
2024-05-01T00:00:00Z,10.5,50,db-1
2024-05-01T00:01:00Z,12.0,51,db-2
2024-05-01T00:02:00Z,11.5,52,db-1
2024-05-01T00:03:00Z,13.0,53,db-2
2024-05-01T00:04:00Z,12.5,54,db-1
"""
FLEET_ROWS = 5
# No column called timestamp/time/date/datetime/ts and none that parses as dates.
BROKEN_CSV = """host,status
web-1,up
web-2,down
"""
VERSION = re.compile(r"^\d+$")
# The first point of a Plotly line: `M<x>,<y>` followed by at least one more point.
LINE_PATH = re.compile(r"^M-?[\d.]+,-?[\d.]+[LHVC]")


def chart_drawn(page: Page) -> None:
    """Wait until the live chart has been drawn from an ``update_chart`` at least once."""
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-version", VERSION)
    expect(chart.locator(".main-svg").first).to_be_visible()
    expect(chart.locator(".scatterlayer .trace path.js-line").first).to_have_attribute(
        "d", LINE_PATH)


def test_demo_chart_draws_and_grows_by_itself(page: Page, demo_server: Server) -> None:
    page.goto(demo_server.url + "/d/demo")
    chart = page.locator("#chart")
    chart_drawn(page)
    first_version = chart.get_attribute("data-version")
    first_points = int(chart.get_attribute("data-points") or 0)
    assert first_points > 0

    expect(chart).not_to_have_attribute("data-version", first_version or "")
    assert int(chart.get_attribute("data-version") or 0) > int(first_version or 0)
    expect(chart).not_to_have_attribute("data-points", str(first_points), timeout=10_000)
    assert int(chart.get_attribute("data-points") or 0) > first_points

    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "live")
    expect(status).to_have_attribute("data-transport", "websocket")
    # Plain words; the transport and version are in the details.
    expect(status).to_have_text(re.compile(r"^Live · newest point (just now|\d s ago)$"))
    expect(status).to_have_attribute("title", re.compile(r"^WebSocket · showing version \d+"))


def wait_until_listed(page: Page, name: str) -> None:
    """Wait until the server lists dataset ``name``, without relying on the index refreshing.

    The page (already on the server's origin) polls ``/api/datasets`` and marks ``<body>``
    when the name shows up; ``expect`` does the waiting.
    """
    page.evaluate("""(name) => {
        const check = async () => {
            const answer = await fetch("/api/datasets", {cache: "no-store"});
            if ((await answer.json()).some((d) => d.name === name)) {
                document.body.dataset.listed = name;
            } else {
                setTimeout(check, 100);
            }
        };
        check();
    }""", name)
    expect(page.locator("body")).to_have_attribute("data-listed", name, timeout=10_000)


def listed_row(page: Page, server: Server, name: str, text: str) -> Locator:
    """Drop ``<name>.csv`` into the server's folder, open ``/`` once it is listed; its row."""
    server.write_csv(name, text)
    page.goto(server.url + "/")
    wait_until_listed(page, name)
    page.goto(server.url + "/")
    return page.locator(f'tr[data-dataset="{name}"]')


def test_csv_dropped_in_shows_up_on_index_without_reload(page: Page,
                                                         live_server: Server) -> None:
    page.goto(live_server.url + "/")
    expect(page.locator("#datasets")).to_contain_text("No datasets yet")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    live_server.write_csv("fleet", FLEET_CSV)
    row = page.locator('tr[data-dataset="fleet"]')
    expect(row).to_be_visible(timeout=10_000)
    expect(row.locator("td").nth(3)).to_have_text("cpu, mem")
    expect(row.locator("td").nth(4)).to_contain_text("host")
    expect(row.get_by_role("link", name="fleet")).to_have_attribute("href", "/d/fleet")
    assert page.evaluate("window.__sameDocument === true"), "the index page was reloaded"


def test_csv_dropped_in_is_listed_and_opens_as_a_chart(page: Page,
                                                       demo_server: Server) -> None:
    row = listed_row(page, demo_server, "fleet", FLEET_CSV)
    expect(row.locator("td").nth(3)).to_have_text("cpu, mem")
    expect(row.locator("td").nth(4)).to_contain_text("host")

    row.get_by_role("link", name="fleet").click()
    expect(page).to_have_url(demo_server.url + "/d/fleet")
    chart_drawn(page)
    # One row per instant: the default view (cpu, auto) draws every row as a point.
    expect(page.locator("#chart")).to_have_attribute("data-points", str(FLEET_ROWS))
    expect(page.locator("#live-status")).to_have_text(re.compile(r"^Live · newest point "))
    expect(page.locator("#live-status")).to_have_attribute("data-transport",
                                                          re.compile(r"^(websocket|polling)$"))


def test_index_counts_the_rows_of_a_wide_csv(page: Page, demo_server: Server) -> None:
    row = listed_row(page, demo_server, "fleet_rows", FLEET_CSV)
    expect(row.locator("td").nth(1)).to_have_text(str(FLEET_ROWS))


def test_broken_csv_shows_its_error_and_the_server_keeps_going(page: Page,
                                                               demo_server: Server) -> None:
    broken = listed_row(page, demo_server, "broken", BROKEN_CSV)
    expect(broken.locator(".error")).to_contain_text("no timestamp column")
    expect(page.locator('tr[data-dataset="demo"]').get_by_role("link", name="demo")).to_be_visible()

    health = page.request.get(demo_server.url + "/healthz")
    assert health.status == 200, demo_server.log()
    assert health.json()["status"] == "ok"
    page.goto(demo_server.url + "/d/demo")
    chart_drawn(page)


@pytest.mark.parametrize(("query", "param", "allowed"), [
    ("window=3x", "window", "is not a duration: a whole number and a unit, s, m, h, d or w"),
    ("agg=median", "agg", "auto, raw, mean, sum, min, max, count, p50, p90, p95, p99"),
    ("nosuchlabel=x", "nosuchlabel", "host, region"),
])
def test_bad_parameter_is_a_400_that_names_it(page: Page, demo_server: Server, query: str,
                                              param: str, allowed: str) -> None:
    response = page.goto(f"{demo_server.url}/d/demo?{query}")
    assert response is not None
    assert response.status == 400
    problem = page.get_by_role("alert")
    expect(problem).to_be_visible()
    expect(problem.locator("strong")).to_have_text(param)
    expect(problem).to_contain_text(allowed)
    controls = page.locator("form#controls")
    expect(controls).to_be_visible()
    expect(controls.get_by_role("button", name="Apply")).to_be_visible()


def test_split_by_host_draws_one_trace_per_host(page: Page, demo_server: Server) -> None:
    page.goto(demo_server.url + "/d/demo")
    chart_drawn(page)

    page.get_by_label("split by").select_option("host")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"/d/demo\?(.*&)?by=host(&|$)"))
    expect(page.get_by_label("split by")).to_have_value("host")
    chart = page.locator("#chart")
    expect(chart.locator(".legend .traces .legendtext")).to_have_text(DEMO_HOSTS)
    names = page.evaluate("document.getElementById('chart').data.map(t => t.name)")
    assert sorted(names) == DEMO_HOSTS
