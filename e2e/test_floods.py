"""Floods against the real server (loopback only, bounded in count and time): however many
clients wait or never finish their headers, /healthz, pages and ingest answer within a
second, and waiting requests past the limits get 503 with Retry-After at once; WebSockets
past their limits get 429/503 before any upgrade, and past the open files the server waits
and accepts again instead of exiting."""
from __future__ import annotations

import json
import re
import resource
import socket
import struct
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, WebSocket, expect

from e2e.conftest import INGEST_TOKEN, Server, run_server

LONG_POLLS = 1100
SOCKETIO_POLLS = 300
HALF_OPEN = 1100
SOURCES = 30  # client addresses 127.0.0.2..31: the per-address limit (64) is not all we hit
ANSWER_WITHIN = 1.0  # seconds for /healthz, a page and ingest, however many wait
PROBE_TIMEOUT = 10.0


def connect(server: Server, n: int) -> socket.socket:
    """A connection from loopback address 127.0.0.<2 + n % SOURCES>."""
    address = urlsplit(server.url)
    sock = socket.socket()
    sock.bind((f"127.0.0.{2 + n % SOURCES}", 0))
    sock.settimeout(PROBE_TIMEOUT)
    sock.connect((address.hostname, address.port))
    return sock


def raw_get(server: Server, path: str) -> str:
    return f"GET {path} HTTP/1.1\r\nHost: {urlsplit(server.url).netloc}\r\n\r\n"


def status_of(sock: socket.socket) -> tuple[int, bytes]:
    """The status of the answer waiting on ``sock``, and its head (read without blocking)."""
    sock.setblocking(False)
    try:
        data = sock.recv(4096)
    except BlockingIOError:
        return 0, b""  # still waiting
    finally:
        sock.setblocking(True)
    return (int(data.split()[1]), data) if data else (-1, b"")


def timed(fn: Callable[..., None], *args: object) -> float:
    """Seconds ``fn(*args)`` took."""
    started = time.monotonic()
    fn(*args)
    return time.monotonic() - started


@pytest.fixture
def nofile() -> Iterator[None]:
    """Room for ~2,600 client sockets in this process (the soft limit is raised to at most
    the hard one, and put back after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * (LONG_POLLS + SOCKETIO_POLLS + HALF_OPEN) + 256
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} is below the {needed} this flood needs")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, needed), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_waiting_and_half_open_clients_never_keep_the_site_from_answering(
        tmp_path_factory: pytest.TempPathFactory, nofile: None) -> None:
    workdir = tmp_path_factory.mktemp("flood")
    (workdir / "data").mkdir()
    (workdir / "data" / "quiet.csv").write_text(
        "timestamp,cpu,host\n2024-05-01T00:00:00Z,1,a\n2024-05-01T00:01:00Z,2,b\n")
    with run_server(workdir, demo=False) as server, ExitStack() as held:
        figure = server.get_json("/api/d/quiet/figure?metric=cpu")
        poll = (f"/api/d/quiet/poll?metric=cpu&since={figure['version']}"
                f"&epoch={figure['epoch']}&timeout=60")  # nothing changes: they all wait
        started = time.monotonic()
        polls = [held.enter_context(connect(server, n)) for n in range(LONG_POLLS)]
        for sock in polls:
            sock.sendall(raw_get(server, poll).encode())
        sids = [socketio_session(server, n) for n in range(SOCKETIO_POLLS)]
        engine = [held.enter_context(connect(server, n)) for n in range(SOCKETIO_POLLS)]
        for sock, sid in zip(engine, sids, strict=True):
            sock.sendall(raw_get(server, f"/socket.io/?EIO=4&transport=polling&sid={sid}")
                         .encode())
        half_open = [held.enter_context(connect(server, n)) for n in range(HALF_OPEN)]
        for sock in half_open:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        opened = time.monotonic() - started

        # Everybody is in: now the site must answer as if nobody were there.
        took = {
            "healthz": max(timed(get, server, "/healthz") for _ in range(5)),
            "page": max(timed(get, server, "/d/quiet?metric=cpu") for _ in range(3)),
            "index": timed(get, server, "/"),
            "ingest": max(timed(ingest, server, n) for n in range(3)),
        }
        # Past the limits, waiting requests were refused at once, with Retry-After.
        answers = [status_of(sock) for sock in polls + engine]
        refused = [head for status, head in answers if status == 503]
        waiting = sum(1 for status, _ in answers if status == 0)
        print(f"opened {LONG_POLLS + SOCKETIO_POLLS + HALF_OPEN} connections in {opened:.1f} s;"
              f" answer times {took}; waiting {waiting}, refused {len(refused)}")
        assert all(seconds < ANSWER_WITHIN for seconds in took.values()), took
        assert waiting <= 512
        assert len(refused) >= LONG_POLLS + SOCKETIO_POLLS - 512
        assert all(b"Retry-After: 5" in head for head in refused)
        assert time.monotonic() - started < 60


def get(server: Server, path: str) -> None:
    with urllib.request.urlopen(f"{server.url}{path}", timeout=PROBE_TIMEOUT) as response:
        assert response.status == 200
        response.read()


def ingest(server: Server, n: int) -> None:
    body = json.dumps([{"timestamp": f"2024-05-02T00:00:{n:02d}Z", "cpu": n, "host": "c"}])
    request = urllib.request.Request(
        f"{server.url}/api/d/pushed/points", data=body.encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {INGEST_TOKEN}"})
    with urllib.request.urlopen(request, timeout=PROBE_TIMEOUT) as response:
        assert response.status == 200


def socketio_session(server: Server, n: int) -> str:
    """Open an Engine.IO polling session (the handshake answers at once); its sid."""
    with connect(server, n) as sock:
        sock.sendall((raw_get(server, "/socket.io/?EIO=4&transport=polling")[:-2]
                      + "Connection: close\r\n\r\n").encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    body = data.split(b"\r\n\r\n", 1)[1]
    return str(json.loads(body[body.index(b"{"):])["sid"])


OPEN_FILES = 1200  # the server's open-files limit (soft and hard), lowered once it runs
WEBSOCKETS = 1300  # idle WebSockets opened, past it
STALLED = 2.0  # seconds without an answer to a handshake: the server stopped accepting


def websocket_upgrade(server: Server, sid: str | None = None) -> bytes:
    """A WebSocket handshake to Engine.IO: a new session, or the upgrade of session ``sid``."""
    netloc = urlsplit(server.url).netloc
    session = f"&sid={sid}" if sid else ""
    return (f"GET /socket.io/?EIO=4&transport=websocket{session} HTTP/1.1\r\nHost: {netloc}"
            "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").encode()


def open_websocket(server: Server, source: str, held: ExitStack, sid: str | None = None,
                   timeout: float = PROBE_TIMEOUT) -> tuple[socket.socket, int, bytes]:
    """A WebSocket handshake from address ``source``: the socket (closed with ``held``), the
    answer's status (0: none within ``timeout``) and what was read of it."""
    address = urlsplit(server.url)
    sock = held.enter_context(socket.create_connection(
        (address.hostname, address.port), timeout=timeout, source_address=(source, 0)))
    sock.sendall(websocket_upgrade(server, sid))
    try:
        head = sock.recv(4096)
    except TimeoutError:
        return sock, 0, b""
    return sock, int(head[9:12] or -1), head


def vanish(sock: socket.socket, reset: bool) -> None:
    """Go without a WebSocket closing frame: a TCP reset, or a plain close (FIN)."""
    if reset:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def accept_errors(server: Server) -> list[dict[str, object]]:
    """The server's JSON log lines about failed accepts."""
    lines = (json.loads(line) for line in server.log().splitlines() if line.startswith("{"))
    return [line for line in lines if line.get("event") == "accept_error"]


def test_idle_websockets_past_the_open_files_limit_do_not_stop_the_server(
        tmp_path_factory: pytest.TempPathFactory, nofile: None) -> None:
    if not hasattr(resource, "prlimit"):
        pytest.skip("lowering another process's open-files limit needs Linux's prlimit")
    workdir = tmp_path_factory.mktemp("websockets")
    with ExitStack() as held:
        server = held.enter_context(run_server(workdir, demo=False))
        # As if the hard limit were lowered (or other files held them): the server sized
        # its WebSockets for more open files than it now has.
        resource.prlimit(server.process.pid, resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
        started = time.monotonic()

        # One address gets its 256 WebSockets (DASH_MAX_WEBSOCKETS_PER_IP), then 429s.
        statuses = [open_websocket(server, "127.0.0.2", held)[1] for _ in range(WEBSOCKETS)]
        assert statuses.count(101) == 256, {s: statuses.count(s) for s in set(statuses)}
        assert statuses.count(429) == WEBSOCKETS - 256
        _, status, head = open_websocket(server, "127.0.0.2", held)
        assert status == 429 and b"Retry-After: 5" in head
        assert b"DASH_MAX_WEBSOCKETS_PER_IP" in head

        # Many addresses together pass the open files: the server stops accepting, but
        # stays up and serves the connections it has.
        sockets, stalled, n = [], None, 0
        while stalled is None and n < WEBSOCKETS:
            sock, status, _ = open_websocket(server, f"127.0.0.{3 + n % SOURCES}", held,
                                             timeout=STALLED)
            assert status in (0, 101), status
            if status == 0:
                stalled = sock
            else:
                sockets.append(sock)
            n += 1
        print(f"{256 + len(sockets)} WebSockets open when accept() stalled: "
              f"{accept_errors(server)[:1]}")
        assert stalled is not None, f"{n} more WebSockets never reached the open-files limit"
        assert server.process.poll() is None, "the server exited:\n" + server.log()[-2000:]
        errors = accept_errors(server)
        assert errors and errors[0]["errno"] == "EMFILE"
        # Logged at once, then at most every 10 s.
        assert len(errors) <= 1 + (time.monotonic() - started) / 10

        # WebSockets that go free room for the one that waited, and for /healthz.
        for sock in sockets[:50]:
            vanish(sock, reset=True)
        stalled.settimeout(PROBE_TIMEOUT)
        assert stalled.recv(64)[9:12] == b"101"
        assert timed(get, server, "/healthz") < ANSWER_WITHIN
        assert server.process.poll() is None


CAPPED = {"DASH_MAX_WEBSOCKETS": "12", "DASH_MAX_WEBSOCKETS_PER_IP": "8"}


def reopen(server: Server, source: str, held: ExitStack, deadline: float) -> int:
    """Open a WebSocket from ``source`` until one is let in (places are given back as the
    server notices its sockets gone) or ``deadline`` passes; the last status."""
    while True:
        _, status, _ = open_websocket(server, source, held)
        if status == 101 or time.monotonic() > deadline:
            return status


def test_websocket_places_per_address_and_in_all_come_back_when_clients_vanish(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("websocket-places")
    with ExitStack() as held:
        server = held.enter_context(run_server(workdir, demo=False, env=CAPPED))
        first = [open_websocket(server, "127.0.0.2", held) for _ in range(8)]
        assert [status for _, status, _ in first] == [101] * 8
        _, status, head = open_websocket(server, "127.0.0.2", held)
        assert status == 429 and b"Retry-After: 5" in head
        assert b"8 WebSockets from your address are open already" in head
        second = [open_websocket(server, "127.0.0.3", held) for _ in range(4)]
        assert [status for _, status, _ in second] == [101] * 4
        _, status, head = open_websocket(server, "127.0.0.4", held)
        assert status == 503 and b"Retry-After: 5" in head
        assert b"12 WebSockets are open already (DASH_MAX_WEBSOCKETS)" in head

        # The page's client upgrades a polling session: refused, the session polls on.
        sid = socketio_session(server, 2)  # from 127.0.0.4
        _, status, _ = open_websocket(server, "127.0.0.4", held, sid=sid)
        assert status == 503
        polling = f"{server.url}/socket.io/?EIO=4&transport=polling&sid={sid}"
        connect_packet = urllib.request.Request(polling, data=b"40", method="POST",
                                                headers={"Content-Type": "text/plain"})
        with urllib.request.urlopen(connect_packet, timeout=PROBE_TIMEOUT) as response:
            assert response.read() == b"OK"
        with urllib.request.urlopen(polling, timeout=PROBE_TIMEOUT) as response:
            assert response.read().startswith(b'40{"sid":')  # Socket.IO connected

        # Every client goes without a closing frame (resets, plain closes); all 12
        # places come back, long before a heartbeat (25 + 20 s) would notice.
        for n, (sock, _, _) in enumerate(first + second):
            vanish(sock, reset=n % 2 == 0)
        deadline = time.monotonic() + PROBE_TIMEOUT
        again = [reopen(server, "127.0.0.2", held, deadline) for _ in range(8)]
        again += [reopen(server, "127.0.0.3", held, deadline) for _ in range(4)]
        assert again == [101] * 12
        _, status, _ = open_websocket(server, "127.0.0.4", held)
        assert status == 503  # exactly 12 again: none counted twice, none lost


def test_websocket_places_come_back_when_silent_clients_miss_their_heartbeat(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    workdir = tmp_path_factory.mktemp("websocket-heartbeat")
    env = {**CAPPED, "DASH_PING_INTERVAL": "1", "DASH_PING_TIMEOUT": "1"}
    with ExitStack() as held:
        server = held.enter_context(run_server(workdir, demo=False, env=env))
        silent = [open_websocket(server, "127.0.0.2", held) for _ in range(8)]
        assert [status for _, status, _ in silent] == [101] * 8
        _, status, _ = open_websocket(server, "127.0.0.2", held)
        assert status == 429
        # They never answer a ping (nor close): the server drops each after its heartbeat
        # (1 + 1 s), and its place comes back.
        for sock, _, _ in silent:
            while sock.recv(4096):  # the server's pings, its close; then end of stream
                pass
        deadline = time.monotonic() + PROBE_TIMEOUT
        assert [reopen(server, "127.0.0.2", held, deadline) for _ in range(8)] == [101] * 8


LIVE_TIMEOUT = 15_000  # ms: the demo ticks every 0.5 s, but the machine is shared


def test_a_page_whose_websocket_is_refused_stays_live_on_long_polling(
        page: Page, server_factory: Callable[..., Server]) -> None:
    server = server_factory(demo=True, env={"DASH_MAX_WEBSOCKETS": "1"})
    with ExitStack() as held:
        _, status, _ = open_websocket(server, "127.0.0.2", held)  # the only place
        assert status == 101
        tried: list[WebSocket] = []
        page.on("websocket", lambda socket: tried.append(socket))
        page.goto(f"{server.url}/d/demo?metric=cpu")
        live = page.locator("#live-status")
        expect(live).to_have_attribute("data-transport", "polling", timeout=LIVE_TIMEOUT)
        expect(live).to_have_text(re.compile(r"^Live · newest point"))
        chart = page.locator("#chart")
        expect(chart).not_to_have_attribute("data-version", "", timeout=LIVE_TIMEOUT)
        version = int(chart.get_attribute("data-version") or 0)
        page.wait_for_function(  # the demo's ticks keep arriving, by long-polling
            "n => Number(document.getElementById('chart').dataset.version) >= n",
            arg=version + 4, timeout=LIVE_TIMEOUT)
        assert tried, "the page never tried to upgrade to a WebSocket"
        expect(live).to_have_attribute("data-transport", "polling")
