"""How the pages look and load in a browser: phone widths, dark mode, accessibility
(axe-core), the first paint before Plotly, and static files that are small and cached."""
from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Page, Route, ViewportSize, expect

from .conftest import ADMIN_TOKEN, Server

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
# The kinds of page a person meets: the list, a view, a dashboard, a refused view, the sign-in
# page and a dashboard's edit page (signed in).
PAGES = ["/", "/d/demo", "/dashboards/look", "/d/demo?window=2hours&agg=median", "/login",
         "/dashboards/look/edit"]
PHONE: ViewportSize = {"width": 390, "height": 844}
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


# The placeholder's text width in the box's own font, beside the room the box gives its text.
PLACEHOLDER_FIT = """el => {
  const style = getComputedStyle(el);
  const context = document.createElement("canvas").getContext("2d");
  context.font = `${style.fontStyle} ${style.fontWeight} ${style.fontSize} ${style.fontFamily}`;
  const room = el.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  return {text: context.measureText(el.placeholder).width, room};
}"""


@pytest.mark.parametrize("path, boxes", [
    ("/d/demo", ["#f-start", "#f-end"]),
    ("/dashboards/look", ["#o-start", "#o-end"]),
])
def test_the_from_to_hint_is_whole_on_a_phone(browser: Browser, look_server: Server,
                                              path: str, boxes: list[str]) -> None:
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(look_server.url + path)
        for selector in boxes:
            box = page.locator(selector)
            expect(box).to_have_attribute("placeholder", "YYYY-MM-DD hh:mm")
            fit = box.evaluate(PLACEHOLDER_FIT)
            assert fit["text"] <= fit["room"], f"{selector}: {fit}"
            assert box.evaluate("el => el.getBoundingClientRect().right") <= PHONE["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
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
        # The theme box switches to light, redraws the chart, and is remembered.
        choice = page.get_by_label("theme")
        expect(choice).to_have_value("system")
        expect(choice.locator("option:checked")).to_have_text("as the system (dark)")
        choice.select_option("light")
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        assert background(page, "html") == "rgb(248, 249, 251)"
        assert page.locator("#chart").evaluate("el => el._fullLayout.paper_bgcolor") == \
            "#ffffff"
        page.goto(look_server.url + "/dashboards/look")
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        plotly_drawn(page, ".panel-chart")
        assert page.locator(".panel-chart").first.evaluate(
            "el => el._fullLayout.paper_bgcolor") == "#ffffff"
        # ...and "as the system" goes back to following the system, remembered too.
        expect(page.get_by_label("theme")).to_have_value("light")
        page.get_by_label("theme").select_option("system")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        page.wait_for_function("() => document.querySelector('.panel-chart')"
                               "._fullLayout.paper_bgcolor === '#161b26'")
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(page.get_by_label("theme")).to_have_value("system")
        assert page.evaluate("localStorage.getItem('dash-theme')") is None
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
        # A function, polled by timer: an expression string is eval'd in the page on every
        # poll after the first, which the page's CSP refuses, and requestAnimationFrame (the
        # default polling) does not run while the held stylesheet blocks rendering: either
        # failed this test now and then whenever theme.js had not run at the first poll.
        page.wait_for_function("() => document.documentElement.dataset.theme !== undefined",
                               polling=100)
        assert page.evaluate("document.documentElement.dataset.theme") == "dark"
        for route in held:
            route.continue_()
        page.unroute("**/static/dash.css*")
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(page.locator("h1")).to_be_visible()
        assert background(page, "html") == "rgb(15, 19, 26)"
    finally:
        context.close()


def axe_violations(page: Page, target_size: bool = False) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now; with
    ``target_size``, also targets under 24 by 24 px (WCAG 2.5.8, off by default in axe)."""
    # Evaluated over the DevTools protocol: the page's CSP (no inline script) would block
    # it as a <script> tag, and the page is checked under its real headers.
    page.evaluate(AXE.read_text() + "\n;undefined")
    found = page.evaluate("""async (targetSize) => {
        const result = await axe.run(document, {resultTypes: ["violations"],
                                                rules: {"target-size": {enabled: targetSize}}});
        return result.violations.filter(v => ["serious", "critical"].includes(v.impact))
            .map(v => ({id: v.id, impact: v.impact,
                        nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
    }""", target_size)
    return list(found)


def open_for_axe(page: Page, server: Server, path: str) -> None:
    """Open ``path`` (signed in for an edit page) and wait until its charts are drawn."""
    if path.endswith("/edit"):
        page.goto(f"{server.url}/login")
        page.get_by_label("admin token").fill(ADMIN_TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("h1")).to_have_text("Dashboards")
    answer = page.goto(server.url + path)
    assert answer is not None
    assert answer.status == (400 if "median" in path else 200)
    if path in ("/d/demo", "/dashboards/look"):
        plotly_drawn(page, "#chart" if path == "/d/demo" else ".panel-chart")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_nothing_serious(browser: Browser, look_server: Server, path: str,
                                   scheme: Literal["light", "dark"]) -> None:
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    try:
        open_for_axe(page, look_server, path)
        assert axe_violations(page) == []
    finally:
        context.close()


@pytest.mark.parametrize("path", PAGES)
def test_axe_finds_nothing_serious_on_a_phone(browser: Browser, look_server: Server,
                                              path: str) -> None:
    """At 390 px: every target at least 24 px square (or spaced as far), and every box that
    scrolls sideways reachable by keyboard."""
    context = browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        open_for_axe(page, look_server, path)
        assert axe_violations(page, target_size=True) == []
    finally:
        context.close()


# Where keyboard focus is on the page, and how it is drawn: a checkbox's ring goes round its
# chip (label.check), everything else draws its own.
FOCUS_RING = """() => {
    const el = document.activeElement;
    const drawn = el.closest("label.check") || el;
    const style = getComputedStyle(drawn);
    return {what: drawn.textContent.trim().slice(0, 30) || el.id || el.tagName,
            ring: style.outlineStyle + " " + style.outlineWidth + " " + style.outlineColor};
}"""


@pytest.mark.parametrize(("scheme", "accent"), [("light", "rgb(29, 78, 216)"),
                                                ("dark", "rgb(140, 180, 255)")])
def test_keyboard_focus_is_always_drawn(browser: Browser, look_server: Server,
                                        scheme: Literal["light", "dark"], accent: str) -> None:
    context = browser.new_context(color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(look_server.url + "/d/demo?metric=cpu&window=15m")
        plotly_drawn(page)
        seen = []
        for _ in range(40):  # the header, every control, the range line, the chart's bar, ...
            page.keyboard.press("Tab")
            focused = page.evaluate(FOCUS_RING)
            seen.append(focused["what"])
            assert focused["ring"] == f"solid 2px {accent}", focused
        # The tour passed the new controls: a metric chip, a quick range, the details box.
        assert {"cpu", "15 min", "details", "pause"} <= set(seen), seen
    finally:
        context.close()


@pytest.mark.parametrize(("path", "current"), [
    ("/d/demo?metric=cpu&window=15m", "15 min"),
    ("/d/demo?metric=cpu&window=all", "all data"),
    ("/d/demo?metric=cpu&window=2hours", None),  # refused: nothing is the current range
])
def test_the_current_quick_range_is_filled(page: Page, look_server: Server, path: str,
                                          current: str | None) -> None:
    page.goto(look_server.url + path)
    chips = page.locator(".quick-ranges a.quick")
    expect(chips).to_have_count(8)
    filled = [chip.inner_text() for chip in chips.all()
              if chip.evaluate("el => getComputedStyle(el).backgroundColor") ==
              "rgb(29, 78, 216)"]
    assert filled == ([current] if current else [])


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
