"""The shipped nginx configuration, run by Debian's nginx in front of small stand-in processes."""
from __future__ import annotations

import http.cookiejar
import os
import socket
import socketserver
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from deploy import nginx_config
from e2e.services import NGINX, NginxProxy, nginx_proxy


class Upstream(BaseHTTPRequestHandler):
    """Answers GET with its port and the forwarded headers; upgrades to an echo socket."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms stalls

    def do_GET(self) -> None:
        """One line of text, or a 101 followed by echoing bytes back."""
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self.send_response(101)
            self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while data := self.connection.recv(1024):
                self.connection.sendall(data)
            return
        port = self.connection.getsockname()[1]
        forwarded = [self.headers.get(h, "-") for h in
                     ("X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Host")]
        body = " ".join([str(port), *forwarded]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        """Quiet."""


class UpstreamServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """A stand-in product process on a free loopback port."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Upstream)
        self.connections: set[socket.socket] = set()

    def get_request(self) -> tuple[socket.socket, object]:
        """Accept, and remember the connection so that ``kill`` can cut it."""
        conn, address = super().get_request()
        self.connections.add(conn)
        return conn, address

    @property
    def address(self) -> str:
        """host:port."""
        return f"127.0.0.1:{self.server_address[1]}"

    def kill(self) -> None:
        """Die as a killed process does: stop listening and cut every open connection."""
        self.shutdown()
        self.server_close()
        for conn in self.connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def upstreams() -> Iterator[list[UpstreamServer]]:
    """Three stand-in processes, each serving in a thread until the test ends."""
    servers = [UpstreamServer() for _ in range(3)]
    for server in servers:
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield servers
    for server in servers:
        server.kill()


@pytest.fixture
def proxy(tmp_path: Path, upstreams: list[UpstreamServer]) -> Iterator[NginxProxy]:
    """nginx with the shipped configuration in front of ``upstreams``."""
    if not os.access(NGINX, os.X_OK):
        pytest.fail(f"{NGINX} is missing: run tools/apt-ensure /usr/sbin/nginx=nginx",
                    pytrace=False)
    with nginx_proxy(tmp_path, [s.address for s in upstreams]) as running:
        yield running


def browser() -> Callable[[str], str]:
    """A client with its own cookie jar, as a browser has: GET url -> body."""
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def get(url: str) -> str:
        with opener.open(url, timeout=10) as response:
            return response.read().decode()
    return get


@pytest.mark.parametrize("upstreams_, listen, server_name, message", [
    ([], "80", "_", "at least one upstream"),
    (["127.0.0.1"], "80", "_", "not host:port"),
    (["127.0.0.1:5001; evil"], "80", "_", "not host:port"),
    (["127.0.0.1:5001"], "80; include /etc/passwd", "_", "listen"),
    (["127.0.0.1:5001"], "80", "a; b", "server name"),
])
def test_arguments_that_would_break_the_configuration_are_refused(
        upstreams_: list[str], listen: str, server_name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        nginx_config.render_site(upstreams_, listen, server_name)


def test_each_browser_sticks_to_one_process_and_browsers_spread(proxy: NginxProxy) -> None:
    ports = set()
    for _ in range(20):  # every test client is on 127.0.0.1: ip_hash would pick one port
        get = browser()
        seen = {get(f"{proxy.url}/d/demo").split()[0] for _ in range(4)}
        assert len(seen) == 1
        ports |= seen
    assert len(ports) >= 2


def test_the_processes_are_told_who_asked(proxy: NginxProxy) -> None:
    _, forwarded_for, proto, host, plain_host = browser()(f"{proxy.url}/").split()
    assert (forwarded_for, proto) == ("127.0.0.1", "http")
    assert host == f"127.0.0.1:{proxy.port}"
    assert plain_host == f"127.0.0.1:{proxy.port}"  # as the browser sent it, port included


def test_a_browser_whose_process_died_is_served_by_another(
        proxy: NginxProxy, upstreams: list[UpstreamServer]) -> None:
    get = browser()
    first = int(get(f"{proxy.url}/").split()[0])
    next(s for s in upstreams if s.server_address[1] == first).kill()
    answers = {int(get(f"{proxy.url}/").split()[0]) for _ in range(3)}
    assert first not in answers and len(answers) == 1


def test_websocket_upgrades_pass_through(proxy: NginxProxy) -> None:
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as conn:
        conn.sendall(b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                     b"Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            head += conn.recv(1024)
        assert head.startswith(b"HTTP/1.1 101")
        conn.sendall(b"2probe")
        assert conn.recv(1024) == b"2probe"


def test_metrics_are_not_served_through_the_proxy(proxy: NginxProxy) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        browser()(f"{proxy.url}/metrics")
    assert refused.value.code == 404



def test_a_restarted_proxy_sends_everyone_to_the_processes_it_names(
        proxy: NginxProxy, upstreams: list[UpstreamServer]) -> None:
    port = proxy.port
    proxy.restart([upstreams[2].address])
    answers = {int(browser()(f"{proxy.url}/").split()[0]) for _ in range(10)}
    assert answers == {upstreams[2].server_address[1]} and proxy.port == port
