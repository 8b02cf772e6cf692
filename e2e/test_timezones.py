"""The same instants in every browser, whatever its own time zone; ``tz`` writes them elsewhere."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.conftest import Server

# Three points at 12:00, 12:30 and 13:00 UTC (the case).
NOON_CSV = ("timestamp,temp\n2024-05-01T12:00:00Z,20\n2024-05-01T12:30:00Z,21\n"
            "2024-05-01T13:00:00Z,22\n")


@pytest.fixture(scope="module")
def noon_server(demo_server: Server) -> Iterator[Server]:
    """The module's server with a ``noon`` dataset."""
    demo_server.write_csv("noon", NOON_CSV)
    yield demo_server


def plotted(page: Page, server: Server, query: str = "") -> dict[str, object]:
    """Open the view and wait for the live chart; what the chart plots along x."""
    page.goto(f"{server.url}/")
    expect(page.get_by_role("link", name="noon", exact=True)).to_be_visible(timeout=10_000)
    page.goto(f"{server.url}/d/noon{query}")
    expect(page.locator("#chart")).not_to_have_attribute("data-version", "")
    expect(page.locator("#chart .xtick").first).to_be_visible()
    result: dict[str, object] = page.evaluate("""() => {
        const chart = document.getElementById("chart");
        return {
            range: chart._fullLayout.xaxis.range,
            ticks: [...chart.querySelectorAll(".xtick text")].map((t) => t.textContent),
            title: chart._fullLayout.xaxis.title.text,
            hover: chart.data[0].x,
        };
    }""")
    return result


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/Los_Angeles"])
def test_the_chart_draws_the_same_instants_in_every_browser_zone(
        browser: Browser, noon_server: Server, zone: str) -> None:
    seen = {}
    for browser_zone in ("UTC", zone):
        context = browser.new_context(timezone_id=browser_zone)
        try:
            page = context.new_page()
            # Chromium may name a zone by its older alias (Asia/Calcutta): same offsets.
            offset = page.evaluate("new Date('2024-05-01T12:00:00Z').getTimezoneOffset()")
            assert offset == {"UTC": 0, "Asia/Kolkata": -330, "America/Los_Angeles": 420}[
                browser_zone]
            seen[browser_zone] = plotted(page, noon_server)
        finally:
            context.close()
    assert seen[zone] == seen["UTC"]
    utc = seen["UTC"]
    assert utc["title"] == "time (UTC)"
    assert utc["hover"] == ["2024-05-01T12:00:00", "2024-05-01T12:30:00", "2024-05-01T13:00:00"]
    start, end = (str(edge) for edge in utc["range"])  # type: ignore[attr-defined]
    assert "2024-05-01 11:50" < start <= "2024-05-01 12:00"  # markers get a little room
    assert "2024-05-01 13:00" <= end < "2024-05-01 13:10"


def test_tz_writes_the_instants_in_that_zone_in_every_browser(browser: Browser,
                                                              noon_server: Server) -> None:
    context = browser.new_context(timezone_id="America/Los_Angeles")
    try:
        page = context.new_page()
        tokyo = plotted(page, noon_server, "?tz=Asia/Tokyo")
        assert tokyo["title"] == "time (Asia/Tokyo)"
        start, end = (str(edge) for edge in tokyo["range"])  # type: ignore[attr-defined]
        assert "2024-05-01 20:50" < start <= "2024-05-01 21:00"  # 12:00 UTC is 21:00 there
        assert "2024-05-01 22:00" <= end < "2024-05-01 22:10"
        expect(page.locator("#stats thead")).to_contain_text("last at (Asia/Tokyo)")
        expect(page.locator("#stats tbody tr").first).to_contain_text("2024-05-01 22:00:00")
        expect(page.locator("#table tbody tr").first).to_contain_text("2024-05-01 22:00:00")
    finally:
        context.close()


def test_use_my_time_zone_is_one_click(browser: Browser, noon_server: Server) -> None:
    context = browser.new_context(timezone_id="Asia/Kolkata")
    try:
        page = context.new_page()
        plotted(page, noon_server)
        zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
        assert zone in ("Asia/Kolkata", "Asia/Calcutta")  # Chromium says the older alias
        page.get_by_role("button", name=f"use my time zone ({zone})").click()
        expect(page).to_have_url(f"{noon_server.url}/d/noon?metric=temp&tz={zone}")
        expect(page.locator("#stats thead")).to_contain_text(f"last at ({zone})")
        expect(page.locator("#stats tbody tr").first).to_contain_text("2024-05-01 18:30:00")
        expect(page.get_by_role("button", name=f"use my time zone ({zone})")).to_be_hidden()
    finally:
        context.close()
