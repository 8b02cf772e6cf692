"""Take the README's screenshots again: ``.venv/bin/python -m docs.screenshots``.

Starts the real server (demo stream, the example dashboard) in a temporary folder and
photographs it with Debian's chromium through Playwright: light, dark, a phone, the
dashboard, and the page without JavaScript. Writes docs/*.png.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from playwright.sync_api import Browser, sync_playwright

from e2e.conftest import CHROMIUM_ARGS, run_server

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
Scheme = Literal["light", "dark"]
# (file, path, width, height, colour scheme, JavaScript on, selector drawn by Plotly)
SHOTS: list[tuple[str, str, int, int, Scheme, bool, str | None]] = [
    ("view.png", "/d/demo", 1280, 900, "light", True, "#chart"),
    ("view-dark.png", "/d/demo?metric=cpu&metric=latency_ms&by=none", 1280, 900, "dark",
     True, "#chart"),
    ("phone.png", "/d/demo", 390, 844, "light", True, "#chart"),
    ("dashboard.png", "/dashboards/demo", 1280, 1000, "light", True, ".panel-chart"),
    ("no-js.png", "/d/demo?metric=cpu&by=region", 1280, 900, "light", False, None),
]


def shoot(browser: Browser, url: str, out: Path, width: int, height: int, scheme: Scheme,
          javascript: bool, drawn: str | None) -> None:
    """One screenshot of ``url`` once its charts are drawn."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  color_scheme=scheme, java_script_enabled=javascript,
                                  is_mobile=width < 600, device_scale_factor=1)
    page = context.new_page()
    try:
        page.goto(url)
        if drawn:
            page.locator(f"{drawn}.js-plotly-plot .main-svg").first.wait_for()
            # Let a few live updates land so the status line reads as it does in use.
            page.wait_for_function("() => document.querySelector('#live-status')"
                                   ".dataset.state === 'live'")
        page.screenshot(path=str(out))
    finally:
        context.close()


def main() -> None:
    """Take every screenshot in SHOTS."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        boards = work / "data" / "dashboards"
        boards.mkdir(parents=True)
        shutil.copy(ROOT / "data" / "dashboards" / "demo.json", boards / "demo.json")
        with run_server(work, demo=True) as server, sync_playwright() as playwright:
            options: dict[str, Any] = {"executable_path": "/usr/bin/chromium",
                                       "args": CHROMIUM_ARGS}
            browser = playwright.chromium.launch(**options)
            try:
                for name, path, width, height, scheme, javascript, drawn in SHOTS:
                    shoot(browser, server.url + path, DOCS / name, width, height, scheme,
                          javascript, drawn)
                    print(json.dumps({"wrote": f"docs/{name}"}))
            finally:
                browser.close()


if __name__ == "__main__":
    main()
