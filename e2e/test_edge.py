"""The edge on the real server: Host names (DNS rebinding) on Socket.IO's own paths, and
pages that work in a browser under their Content-Security-Policy."""
from __future__ import annotations

import base64
import os
import socket
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from e2e.conftest import Server

READ_TIMEOUT = 10.0


def answer(server: Server, request: str) -> tuple[int, dict[str, str]]:
    """Send a raw request; (status, headers) of the answer."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(request.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, data
            data += chunk
    lines = data.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    return int(lines[0].split()[1]), {k.lower(): v.strip() for k, v in
                                      (line.split(":", 1) for line in lines[1:])}


def handshake(host: str, origin: str, websocket: bool) -> str:
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = (f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               "Sec-WebSocket-Version: 13\r\n") if websocket else "Connection: close\r\n"
    transport = "websocket" if websocket else "polling"
    return (f"GET /socket.io/?EIO=4&transport={transport} HTTP/1.1\r\nHost: {host}\r\n"
            f"Origin: {origin}\r\n{upgrade}\r\n")


@pytest.mark.parametrize("websocket", [False, True], ids=["polling", "websocket"])
def test_a_rebound_host_name_gets_no_socket(demo_server: Server, websocket: bool) -> None:
    port = urlsplit(demo_server.url).port
    evil = f"evil.example:{port}"
    status, headers = answer(demo_server, handshake(evil, f"http://{evil}", websocket))
    assert status == 400
    assert headers["content-security-policy"].startswith("default-src 'self'")
    ours = f"127.0.0.1:{port}"
    status, _ = answer(demo_server, handshake(ours, f"http://{ours}", websocket))
    assert status == (101 if websocket else 200)


def test_the_pages_work_under_their_content_security_policy(page: Page,
                                                             demo_server: Server) -> None:
    refused: list[str] = []

    def note(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            refused.append(message.text)
    page.on("console", note)
    response = page.goto(demo_server.url)
    assert response is not None
    assert "script-src 'self';" in response.headers["content-security-policy"]
    page.get_by_role("link", name="demo", exact=True).click()
    chart = page.locator("#chart")
    expect(chart.locator(".scatterlayer .trace path.js-line").first).to_be_visible()
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")
    chart.hover()
    with page.expect_download() as download:  # plotly draws the PNG through a blob: URL
        page.locator(".modebar-btn[data-title='Download plot as a PNG']").click()
    assert download.value.suggested_filename.endswith(".png")
    assert refused == []
