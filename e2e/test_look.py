"""How the pages look and load in a browser: phone widths, dark mode, accessibility
(axe-core), the first paint before Plotly, and static files that are small and cached."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from .conftest import Server

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
DASHBOARD = {
    "title": "Look", "window": "15m",
    "panels": [
        {"id": "cpu", "title": "CPU by host", "type": "timeseries", "width": 8,
         "dataset": "demo", "query": "metric=cpu&by=host",
         "thresholds": [{"value": 70, "color": "orange"}]},
        {"id": "mem", "title": "Memory now", "type": "stat", "width": 4, "dataset": "demo",
         "query": "metric=mem", "reduce": "last"},
        {"id": "rows", "title": "Latest", "type": "table", "width": 12, "dataset": "demo",
         "query": "metric=cpu&agg=raw"},
    ],
}
# The four kinds of page a person meets: the list, a view, a dashboard, a refused view.
PAGES = ["/", "/d/demo", "/dashboards/look", "/d/demo?window=2hours&agg=median"]
# Records layout shifts from the start of the page (buffered), as Core Web Vitals count
# them: shifts within 500 ms of a user's input do not count.
CLS_OBSERVER = """
window.__cls = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (!entry.hadRecentInput) window.__cls += entry.value;
  }
}).observe({type: "layout-shift", buffered: true});
"""
PLOTLY = re.compile(r"/static/vendor/plotly-[^/]*\.js")


@pytest.fixture(scope="module")
def look_server(demo_server: Server) -> Iterator[Server]:
    """The demo server with a dashboard over the demo stream."""
    demo_server.put_dashboard("look", DASHBOARD)
    yield demo_server


def plotly_drawn(page: Page, selector: str = "#chart") -> None:
    """Wait until Plotly has drawn into ``selector``."""
    expect(page.locator(f"{selector}.js-plotly-plot .main-svg").first).to_be_visible()


@pytest.mark.parametrize("width", [390, 360])
@pytest.mark.parametrize("path", ["/", "/d/demo", "/dashboards/look"])
def test_no_sideways_scroll_on_a_phone(browser: Browser, look_server: Server, path: str,
                                       width: int) -> None:
    context = browser.new_context(viewport={"width": width, "height": 800},
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(look_server.url + path)
        if path != "/":
            plotly_drawn(page, "#chart" if path.startswith("/d/") else ".panel-chart")
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        # Wide tables scroll inside their own box instead.
        for box in page.locator("#datasets, #stats, #table, .panel-table").all():
            assert box.evaluate("el => el.getBoundingClientRect().right") <= width
    finally:
        context.close()


def background(page: Page, selector: str) -> str:
    return str(page.locator(selector).first.evaluate(
        "el => getComputedStyle(el).backgroundColor"))


def test_dark_scheme_colours_the_page_and_the_chart(browser: Browser,
                                                    look_server: Server) -> None:
    context = browser.new_context(color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(look_server.url + "/d/demo")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert background(page, "html") == "rgb(15, 19, 26)"
        plotly_drawn(page)
        assert page.locator("#chart").evaluate("el => el._fullLayout.paper_bgcolor") == \
            "#161b26"
        # The toggle switches to light, redraws the chart, and is remembered.
        toggle = page.get_by_role("button", name="dark theme")
        expect(toggle).to_have_attribute("aria-pressed", "true")
        toggle.click()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        expect(toggle).to_have_attribute("aria-pressed", "false")
        assert background(page, "html") == "rgb(248, 249, 251)"
        assert page.locator("#chart").evaluate("el => el._fullLayout.paper_bgcolor") == \
            "#ffffff"
        page.goto(look_server.url + "/dashboards/look")
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        plotly_drawn(page, ".panel-chart")
        assert page.locator(".panel-chart").first.evaluate(
            "el => el._fullLayout.paper_bgcolor") == "#ffffff"
    finally:
        context.close()


def test_the_theme_is_set_before_the_first_paint(browser: Browser,
                                                 look_server: Server) -> None:
    context = browser.new_context(color_scheme="light")
    context.add_init_script("localStorage.setItem('dash-theme', 'dark')")
    page = context.new_page()
    held: list[Route] = []
    # The stylesheet holds back the first paint; by the time the page asks for it,
    # theme.js (in <head>, not deferred) has already set the reader's theme.
    page.route("**/static/dash.css*", lambda route: held.append(route))
    try:
        page.goto(look_server.url + "/", wait_until="commit")
        page.wait_for_function("document.documentElement.dataset.theme !== undefined")
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        for route in held:
            route.continue_()
        page.unroute("**/static/dash.css*")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(page.locator("h1")).to_be_visible()
        assert background(page, "html") == "rgb(15, 19, 26)"
    finally:
        context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now."""
    # Evaluated over the DevTools protocol: the page's CSP (no inline script) would block
    # it as a <script> tag, and the page is checked under its real headers.
    page.evaluate(AXE.read_text() + "\n;undefined")
    found = page.evaluate("""async () => {
        const result = await axe.run(document, {resultTypes: ["violations"]});
        return result.violations.filter(v => ["serious", "critical"].includes(v.impact))
            .map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
    }""")
    return list(found)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_nothing_serious(browser: Browser, look_server: Server, path: str,
                                   scheme: Literal["light", "dark"]) -> None:
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    try:
        answer = page.goto(look_server.url + path)
        assert answer is not None
        assert answer.status == (400 if "median" in path else 200)
        if path in ("/d/demo", "/dashboards/look"):
            plotly_drawn(page, "#chart" if path == "/d/demo" else ".panel-chart")
        assert axe_violations(page) == []
    finally:
        context.close()


def test_the_live_chart_has_a_text_alternative(page: Page, look_server: Server) -> None:
    page.goto(look_server.url + "/d/demo")
    plotly_drawn(page)
    expect(page.locator("#chart-summary")).to_have_text(re.compile(
        r"^Chart of demo: cpu\. 4 lines from .* \(UTC\)\. Last values: web-1 [\d.]+%"))
    # The state word is announced when it changes; the age beside it is not.
    expect(page.locator("#live-status").get_by_role("status")).to_have_text("Live")


def test_first_paint_is_the_servers_svg_and_nothing_moves(page: Page,
                                                          look_server: Server) -> None:
    held: list[Route] = []
    page.add_init_script(CLS_OBSERVER)
    page.route(PLOTLY, lambda route: held.append(route))  # Plotly does not arrive until we say so
    page.goto(look_server.url + "/d/demo", wait_until="commit")
    placeholder = page.locator(".chart-placeholder svg.svg-chart")
    expect(placeholder).to_be_visible()
    expect(placeholder.locator("polyline.trace")).to_have_count(4)
    box = page.locator(".chart-box").bounding_box()
    assert box is not None and box["height"] >= 300
    below = page.locator("#add-panel").bounding_box()
    assert held, "plotly was requested"
    held[0].continue_()
    page.unroute(PLOTLY)
    plotly_drawn(page)
    expect(placeholder).to_be_hidden()
    for locator, before in ((".chart-box", box), ("#add-panel", below)):
        after = page.locator(locator).bounding_box()
        assert after is not None and before is not None
        assert after["y"] == pytest.approx(before["y"], abs=1), locator
        assert after["height"] == pytest.approx(before["height"], abs=1), locator
    assert page.evaluate("window.__cls") <= 0.1


def test_static_files_are_compressed_and_cached_for_a_year(page: Page,
                                                           look_server: Server) -> None:
    answers: dict[str, dict[str, str]] = {}
    page.on("response", lambda r: answers.__setitem__(r.url, r.all_headers())
            if "/static/" in r.url else None)
    page.goto(look_server.url + "/d/demo")
    plotly_drawn(page)
    scripts = {url: headers for url, headers in answers.items() if url.endswith(".js") or
               ".js?" in url}
    assert any(PLOTLY.search(url) for url in scripts)
    for url, headers in answers.items():
        assert re.search(r"\?v=[0-9a-f]{12}$", url), url
        assert headers["cache-control"] == "public, max-age=31536000, immutable", url
    for url, headers in scripts.items():
        assert headers.get("content-encoding") in ("br", "gzip"), url
    plotly = next(h for u, h in scripts.items() if PLOTLY.search(u))
    assert int(plotly["content-length"]) < 420_000  # 1.19 MB as it is
