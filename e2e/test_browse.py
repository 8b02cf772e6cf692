"""Browsing a view: HTMX fragments and history, facets, export, and the page without JavaScript."""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from e2e.conftest import Server

HOSTS = {"web-1": "eu", "web-2": "eu", "web-3": "us"}


def hosts_csv() -> str:
    """30 minutes of cpu per host (web-3 from minute 20 on): distinct counts per facet value."""
    lines = ["time,cpu,host,region"]
    for minute in range(30):
        for n, (host, region) in enumerate(HOSTS.items()):
            if host == "web-3" and minute < 20:
                continue
            lines.append(f"2024-05-01 10:{minute:02d}:00,{100 * n + minute},{host},{region}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def hosts_server(demo_server: Server) -> Iterator[Server]:
    """The module's server with a ``hosts`` dataset in its data folder."""
    demo_server.write_csv("hosts", hosts_csv())
    yield demo_server


def open_hosts(page: Page, server: Server, query: str = "metric=cpu") -> None:
    page.goto(f"{server.url}/")
    expect(page.get_by_role("link", name="hosts", exact=True)).to_be_visible(timeout=10_000)
    page.goto(f"{server.url}/d/hosts?{query}")


def facet(page: Page, label: str, value: str) -> Locator:
    return page.locator(f'#facets section[data-label="{label}"] li').filter(
        has=page.get_by_role("link", name=value, exact=True))


def test_filters_swap_fragments_push_the_url_and_back_restores(page: Page,
                                                               hosts_server: Server) -> None:
    open_hosts(page, hosts_server, "metric=cpu&agg=raw")
    rows = page.locator("#table tbody tr")
    expect(facet(page, "host", "web-1")).to_contain_text("30")
    expect(facet(page, "host", "web-3")).to_contain_text("10")
    expect(page.locator("#chart .main-svg").first).to_be_visible()
    expect(rows.first).to_contain_text("web-3")  # newest first: 10:29, web-3 is listed last
    page.evaluate("window.__sameDocument = true")  # gone if the browser reloads the page

    facet(page, "host", "web-2").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/d/hosts\?metric=cpu&host=web-2&agg=raw$"))
    expect(rows.first).to_contain_text("web-2")
    expect(rows.filter(has_text="web-1")).to_have_count(0)
    expect(page.locator("#table")).to_contain_text("30 rows")
    expect(facet(page, "host", "web-2").get_by_role("link")).to_have_attribute(
        "aria-current", "true")
    expect(page.locator("#controls .chip")).to_have_text(re.compile(r"host = web-2"))

    page.select_option("#f-by", "region")  # the form applies itself on change
    expect(page).to_have_url(re.compile(r"host=web-2&agg=raw&by=region$"))
    expect(page.locator("#stats tbody tr")).to_have_count(1)
    expect(page.locator("#stats tbody tr").first).to_contain_text("eu")
    expect(page.locator("#chart")).to_have_attribute(
        "data-query", "metric=cpu&host=web-2&agg=raw&by=region")
    assert page.evaluate("window.__sameDocument") is True  # fragments swapped, no reload

    page.go_back()
    expect(page).to_have_url(re.compile(r"/d/hosts\?metric=cpu&host=web-2&agg=raw$"))
    expect(page.locator("#f-by")).to_have_value("series")
    expect(page.locator("#chart")).to_have_attribute("data-query", "metric=cpu&host=web-2&agg=raw")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/d/hosts\?metric=cpu&agg=raw$"))
    expect(facet(page, "host", "web-2").get_by_role("link")).not_to_have_attribute(
        "aria-current", "true")
    expect(page.locator("#table")).to_contain_text("70 rows")


def test_pagination_shows_one_page_at_a_time(page: Page, hosts_server: Server) -> None:
    open_hosts(page, hosts_server, "metric=cpu&agg=raw")
    expect(page.locator("#table tbody tr")).to_have_count(50)
    expect(page.locator(".pager")).to_contain_text("page 1 of 2")
    page.get_by_role("link", name="older →").click()
    expect(page).to_have_url(re.compile(r"page=2$"))
    expect(page.locator("#table tbody tr")).to_have_count(20)
    expect(page.locator("#table tbody tr").last).to_contain_text("2024-05-01 10:00:00")


def test_export_downloads_the_rows_of_the_view(page: Page, hosts_server: Server) -> None:
    open_hosts(page, hosts_server, "metric=cpu&host=web-1&agg=raw")
    first_row = page.locator("#table tbody tr").first
    expect(first_row).to_contain_text("2024-05-01 10:29:00")
    with page.expect_download() as download:
        page.get_by_role("link", name="CSV").click()
    assert download.value.suggested_filename == "hosts.csv"
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["timestamp", "metric", "value", "host", "region"]
    assert rows[1] == ["2024-05-01T10:29:00Z", "cpu", "29.0", "web-1", "eu"]
    assert len(rows) == 1 + 30


def test_the_view_works_without_javascript(browser: Browser, hosts_server: Server) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto(f"{hosts_server.url}/d/hosts?metric=cpu&agg=raw&by=none")
        offline = page.locator(".live-bar .status[data-state=offline]")
        expect(offline).to_have_text("live updates need JavaScript")
        expect(offline).to_be_visible()
        expect(page.locator("#live-status")).to_be_hidden()
        expect(page.locator("svg.svg-chart polyline.trace")).to_have_count(1)
        expect(page.locator("svg.svg-chart .x-ticks text").first).to_be_visible()
        expect(page.locator("#table tbody tr")).to_have_count(50)
        expect(facet(page, "host", "web-3")).to_contain_text("10")

        page.select_option("#f-by", "host")
        page.get_by_role("button", name="Apply").click()
        expect(page).to_have_url(re.compile(r"/d/hosts\?metric=cpu&agg=raw&by=host$"))
        expect(page.locator("svg.svg-chart polyline.trace")).to_have_count(3)
        expect(page.locator("svg.svg-chart .legend")).to_contain_text("web-3")

        facet(page, "region", "us").get_by_role("link").click()
        expect(page).to_have_url(re.compile(r"region=us"))
        expect(page.locator("svg.svg-chart polyline.trace")).to_have_count(1)
        expect(page.locator("#stats tbody tr")).to_have_count(1)
        expect(page.locator("#stats tbody tr").first).to_contain_text("web-3")

        page.goto(f"{hosts_server.url}/d/hosts?metric=cpu&window=2hours")
        expect(page.locator(".problem")).to_contain_text("window")
        expect(page.locator("#controls")).to_be_visible()
    finally:
        context.close()
