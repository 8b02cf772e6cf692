"""Live on every transport: WebSockets blocked, no WebSocket at all, no socket at all,
a server restart, pause and resume."""
from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect

from e2e.conftest import Server, run_server


def point(second: int, value: float) -> dict[str, Any]:
    return {"timestamp": f"2024-05-01T00:{second // 60:02d}:{second % 60:02d}Z", "v": value}


def open_view(page: Page, server: Server, name: str) -> None:
    page.goto(f"{server.url}/d/{name}?metric=v&agg=raw")
    expect(page.locator("#chart .main-svg").first).to_be_visible()


def updates_after_ingest(page: Page, server: Server, name: str) -> None:
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-points", "1")
    answer = server.post_points(name, [point(1, 2.0), point(2, 3.0)])
    expect(chart).to_have_attribute("data-points", "3")
    expect(chart).to_have_attribute("data-version", str(answer["version"]))


def close_websockets(route: WebSocketRoute) -> None:
    route.close()  # as a proxy that kills WebSockets does


@pytest.mark.parametrize("block, transport", [
    ("route", "polling"),  # WebSocket connections are closed
    ("no-websocket", "polling"),  # the browser has no WebSocket at all
    ("no-socket", "long-poll"),  # nothing under /socket.io/ answers
])
def test_the_view_stays_live_when_websockets_are_blocked(
        page: Page, live_server: Server, block: str, transport: str) -> None:
    name = f"blocked_{block.replace('-', '_')}"
    live_server.post_points(name, [point(0, 1.0)])
    if block == "route":
        page.route_web_socket(re.compile(r".*/socket\.io/.*"), close_websockets)
    elif block == "no-websocket":
        page.add_init_script("delete window.WebSocket;")
    else:
        page.route(re.compile(r".*/socket\.io/.*"), lambda route: route.abort())
    open_view(page, live_server, name)
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-transport", transport, timeout=15_000)
    expect(status).to_have_text(re.compile(r"^Live · newest point "))
    updates_after_ingest(page, live_server, name)


def test_the_page_reconnects_after_a_server_restart_and_shows_the_right_data(
        page: Page, tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("restart")
    with run_server(workdir, demo=False) as server:
        server.post_points("steady", [point(0, 1.0)])
        open_view(page, server, "steady")
        chart = page.locator("#chart")
        expect(chart).to_have_attribute("data-points", "1")
        port = int(server.url.rsplit(":", 1)[1])
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "reconnecting")
    with run_server(workdir, demo=False, port=port) as server:
        expect(status).to_have_attribute("data-state", "live", timeout=15_000)
        answer = server.post_points("steady", [point(1, 2.0)])
        expect(chart).to_have_attribute("data-version", str(answer["version"]))
        expect(chart).to_have_attribute("data-epoch", answer["epoch"])
        expect(chart).to_have_attribute("data-points", "2")  # no gap, no duplicate


def open_counting_draws(page: Page, server: Server, name: str) -> None:
    """Open a view of ``name`` (one point) and count the chart's draws in ``window.__draws``."""
    server.post_points(name, [point(0, 1.0)])
    open_view(page, server, name)
    expect(page.locator("#chart")).to_have_attribute("data-points", "1")
    page.evaluate("""() => { window.__draws = 0;
        document.getElementById('chart').on('plotly_afterplot', () => { window.__draws += 1; });
    }""")


def held_back(page: Page, server: Server, name: str) -> tuple[str | None, int]:
    """Post 5 updates while the page holds them; prove they arrived but were not drawn.

    Returns the version still drawn and the newest version posted.
    """
    chart = page.locator("#chart")
    version = chart.get_attribute("data-version")
    for second in range(1, 6):
        last = server.post_points(name, [point(second, float(second))])
    expect(chart).to_have_attribute("data-pending", str(last["version"]))
    expect(chart).to_have_attribute("data-version", str(version))
    assert page.evaluate("window.__draws") == 0
    return version, last["version"]


def caught_up_in_one_draw(page: Page, newest: int) -> None:
    chart = page.locator("#chart")
    expect(chart).to_have_attribute("data-version", str(newest))
    expect(chart).to_have_attribute("data-points", "6")
    assert page.evaluate("window.__draws") == 1  # one full figure, not five updates replayed


def test_pause_holds_updates_and_resume_catches_up_in_one_step(
        page: Page, live_server: Server) -> None:
    open_counting_draws(page, live_server, "paused")
    page.get_by_role("button", name="pause").click()
    status = page.locator("#live-status")
    expect(status).to_have_attribute("data-state", "paused")
    paused_mark = page.locator("#chart .annotation-text", has_text="Paused")
    expect(paused_mark).to_be_visible()  # drawn on the chart: one draw, not an update
    page.evaluate("window.__draws = 0")
    shown, newest = held_back(page, live_server, "paused")
    expect(status).to_have_text("Paused · new data waiting")
    expect(status).to_have_attribute(
        "title", re.compile(rf"showing version {shown} · version {newest} waiting"))
    page.get_by_role("button", name="resume").click()
    caught_up_in_one_draw(page, newest)
    expect(paused_mark).to_have_count(0)


def test_a_background_tab_piles_up_nothing_and_catches_up_when_shown(
        page: Page, live_server: Server) -> None:
    open_counting_draws(page, live_server, "hidden")
    page.evaluate("""() => {
        window.__hidden = true;
        Object.defineProperty(document, 'hidden', {configurable: true,
                                                   get: () => window.__hidden});
        document.dispatchEvent(new Event('visibilitychange'));
    }""")
    _, newest = held_back(page, live_server, "hidden")
    page.evaluate("""() => { window.__hidden = false;
        document.dispatchEvent(new Event('visibilitychange')); }""")
    caught_up_in_one_draw(page, newest)


@pytest.mark.parametrize("setting, accepted", [("0", False), ("1", True)])
def test_the_server_declines_per_client_websocket_compression(
        page: Page, tmp_path_factory: pytest.TempPathFactory, setting: str,
        accepted: bool) -> None:
    """Browsers offer permessage-deflate; deflating each figure per client would cost
    milliseconds per viewer, so the handshake comes back without it (unless
    DASH_COMPRESSION=1). Either way the page stays live over the WebSocket: shared
    frames without compression, one compressed frame per client with it."""
    with run_server(tmp_path_factory.mktemp("ws"), demo=False,
                    env={"DASH_COMPRESSION": setting}) as server:
        headers = websocket_handshake(server)
        assert any(h.lower().startswith("sec-websocket-extensions: permessage-deflate")
                   for h in headers) is accepted
        server.post_points("m", [point(0, 1.0)])
        open_view(page, server, "m")
        expect(page.locator("#live-status")).to_have_attribute("data-transport", "websocket")
        updates_after_ingest(page, server, "m")


def websocket_handshake(live_server: Server) -> list[str]:
    """Open a WebSocket to Socket.IO offering permessage-deflate; the 101's headers."""
    import base64
    import os
    import socket
    from urllib.parse import urlsplit

    address = urlsplit(live_server.url)
    key = base64.b64encode(os.urandom(16)).decode()
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                      f"Host: {address.netloc}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Extensions: permessage-deflate; "
                      f"client_max_window_bits\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, f"connection closed after {head!r}"
            head += chunk
    status, *headers = head.split(b"\r\n\r\n")[0].decode().split("\r\n")
    assert status.startswith("HTTP/1.1 101")
    return headers
