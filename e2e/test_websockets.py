"""WebSockets against the real server, byte by byte: stalled readers, heartbeats, many viewers.

No browser here: a bare client (``RawSocketIO``) controls exactly when it reads,
what it answers and how many connections it holds, which a browser cannot.
"""
from __future__ import annotations

import base64
import json
import os
import resource
import socket
import struct
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import Server, run_server

READ_TIMEOUT = 10.0  # seconds any single expected message may take


class Closed(Exception):
    """The server ended the connection."""


class RawSocketIO:
    """A bare Socket.IO v5 client on one WebSocket (Engine.IO v4), driven by hand."""

    def __init__(self, server: Server, receive_buffer: int | None = None) -> None:
        address = urlsplit(server.url)
        self.sock = socket.socket()
        if receive_buffer:  # a small window: the server's writes back up sooner
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        self.sock.settimeout(READ_TIMEOUT)
        self.sock.connect((address.hostname, address.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                           f"Host: {address.netloc}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                           f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self._recv()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head
        opened = self.text()
        assert opened.startswith("0"), opened  # Engine.IO OPEN
        self.ping_interval = json.loads(opened[1:])["pingInterval"] / 1000
        self.send("40")  # Socket.IO CONNECT to "/"
        connected = self.text()
        assert connected.startswith("40"), connected
        self.pings = 0
        self.acks = 0

    def _recv(self) -> bytes:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise Closed
        return chunk

    def frame(self) -> tuple[int, bytes]:
        """The next frame: (opcode, payload). Server frames are never masked.

        Nothing is consumed until the whole frame is here, so a read that times out
        leaves the stream intact.
        """
        while True:
            parsed = self._parse()
            if parsed is not None:
                return parsed
            self.buffer += self._recv()

    def _parse(self) -> tuple[int, bytes] | None:
        if len(self.buffer) < 2:
            return None
        first, second = self.buffer[0], self.buffer[1]
        assert first & 0x80 and not second & 0x80, (first, second)  # final, unmasked
        size, start = second & 0x7F, 2
        if size == 126:
            if len(self.buffer) < 4:
                return None
            (size,), start = struct.unpack_from("!H", self.buffer, 2), 4
        elif size == 127:
            if len(self.buffer) < 10:
                return None
            (size,), start = struct.unpack_from("!Q", self.buffer, 2), 10
        if len(self.buffer) < start + size:
            return None
        payload = self.buffer[start:start + size]
        self.buffer = self.buffer[start + size:]
        return first & 0x0F, payload

    def text(self) -> str:
        """The next text frame; a close frame raises ``Closed``."""
        opcode, payload = self.frame()
        if opcode == 8:
            code = struct.unpack_from("!H", payload)[0] if payload else None
            raise Closed(f"closing frame, code {code}")
        assert opcode == 1, opcode
        return payload.decode()

    def send(self, text: str) -> None:
        """One masked text frame (clients must mask)."""
        payload, mask = text.encode(), os.urandom(4)
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x81, 0x80 | size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, size)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, size)
        key = int.from_bytes(mask * (size // 4 + 1), "big") >> (8 * (4 - size % 4))
        masked = (int.from_bytes(payload, "big") ^ key).to_bytes(size, "big") if size else b""
        self.sock.sendall(head + mask + masked)

    def subscribe(self, dataset: str, query: str, ack_id: int = 1) -> None:
        """Send ``subscribe`` without waiting for anything."""
        body = json.dumps(["subscribe", {"dataset": dataset, "query": query}])
        self.send(f"42{ack_id}{body}")

    def event(self, answer_pings: bool = True) -> tuple[str, Any]:
        """The next Socket.IO event (acks and pings are counted and skipped)."""
        while True:
            message = self.text()
            if message == "2":  # Engine.IO PING
                self.pings += 1
                if answer_pings:
                    self.send("3")
            elif message.startswith("43"):  # an ack
                self.acks += 1
            elif message.startswith("42"):
                name, data = json.loads(message[2:])
                return name, data
            elif message == "1":  # Engine.IO CLOSE
                raise Closed("CLOSE packet")

    def answer_pings(self, count: int) -> None:
        """Read until ``count`` pings have been answered; nothing else may arrive."""
        while self.pings < count:
            message = self.text()
            assert message == "2", message
            self.pings += 1
            self.send("3")

    def version_arrives(self, version: int) -> dict[str, Any]:
        """Read events until one carries ``version``."""
        while True:
            _, data = self.event()
            if data["version"] >= version:
                return data

    def close(self) -> None:
        self.sock.close()


def stamp(second: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1_714_521_600 + second))


def series(count: int, start: int = 0) -> list[dict[str, Any]]:
    """``count`` points one second apart from ``start``."""
    return [{"timestamp": stamp(start + i), "v": float(i % 97), "host": "web-1"}
            for i in range(count)]


def big_series() -> list[dict[str, Any]]:
    """20,000 points (~0.5 MB a figure): ten hosts taking turns, a second apart. Ten
    series of 2,000 points each, so the chart draws every one (a single trace of 20,000
    would be thinned to 2,000 for the screen)."""
    return [{**point, "host": f"web-{i % 10}"} for i, point in enumerate(series(20_000))]


def points_of(data: dict[str, Any]) -> int:
    """Points in every trace of an ``update_chart`` payload."""
    return sum(len(trace["x"]) for trace in data["figure"]["data"])


def test_a_client_that_stops_reading_holds_up_no_one_and_gets_every_frame_intact(
        live_server: Server) -> None:
    """A viewer whose network stalls must not delay the others. Its messages wait for it,
    in order, and not one byte of a frame interleaves with another."""
    live_server.post_points("big", big_series())  # a ~0.5 MB figure per update_chart
    live_server.post_points("small", series(10))
    stalled = RawSocketIO(live_server, receive_buffer=4096)
    # 20 whole figures, ~10 MB: far more than the kernel buffers, and as many as one
    # connection may ask for at once (app.state.JOINS_BURST).
    for ack_id in range(20):
        stalled.subscribe("big", "agg=raw&window=all", ack_id)
    stalled.send("6")  # an Engine.IO NOOP: not a server-bound packet, ignored as engineio does

    watcher = RawSocketIO(live_server)
    watcher.subscribe("small", "window=all")
    first = watcher.version_arrives(0)
    version = live_server.post_points("small", series(1, start=10))["version"]
    assert version > first["version"]
    assert watcher.version_arrives(version)["version"] == version  # not queued behind it

    figures: list[dict[str, Any]] = []
    while len(figures) < 20:
        name, data = stalled.event()
        assert name == "update_chart"
        figures.append(data)
    assert stalled.text().startswith("4319[")  # the last ack, after its figure
    assert all(points_of(f) == 20_000 for f in figures)
    stalled.close()
    watcher.close()


@pytest.mark.parametrize("direct", ["1", "0"])
def test_every_viewer_gets_every_update_with_either_websocket_server(
        tmp_path: Path, direct: str) -> None:
    """DASH_DIRECT_WEBSOCKETS=0 (python-engineio's own WebSockets) stays a working way out."""
    with run_server(tmp_path, demo=False, env={"DASH_DIRECT_WEBSOCKETS": direct}) as server:
        server.post_points("m", series(5))
        viewers = [RawSocketIO(server) for _ in range(3)]
        for viewer in viewers:
            viewer.subscribe("m", "window=all")
            assert viewer.version_arrives(0)["figure"]["data"][0]["y"] == [0, 1, 2, 3, 4]
        for second in range(5, 8):
            version = server.post_points("m", series(1, start=second))["version"]
            for viewer in viewers:
                update = viewer.version_arrives(version)
                assert update["version"] == version
        for viewer in viewers:
            viewer.close()


def test_a_client_cut_off_mid_backlog_still_gets_only_whole_frames(live_server: Server) -> None:
    """A malformed packet ends the connection while figures are still queued for it: the
    frame on the wire is finished, the rest dropped, and the close is a proper one."""
    live_server.post_points("big", big_series())
    stalled = RawSocketIO(live_server, receive_buffer=4096)
    for ack_id in range(30):  # ~15 MB, most of it waiting in the server
        stalled.subscribe("big", "agg=raw&window=all", ack_id)
    other = RawSocketIO(live_server)  # a round trip through the server after those 30:
    other.subscribe("big", "agg=raw&window=all")  # by its answer they are all queued
    other.version_arrives(0)
    stalled.send("x")  # not an Engine.IO packet at all
    figures = 0
    with pytest.raises(Closed, match="closing frame"):
        while True:
            name, data = stalled.event()  # a cut frame would not parse here
            assert name == "update_chart" and points_of(data) == 20_000
            figures += 1
    assert 0 < figures < 30  # what was on the wire arrived whole; the queued rest was dropped
    stalled.close()
    other.close()


@pytest.fixture
def fast_heartbeat_server(tmp_path: Path) -> Iterator[Server]:
    with run_server(tmp_path, demo=False, env={"DASH_PING_INTERVAL": "1",
                                               "DASH_PING_TIMEOUT": "1"}) as server:
        yield server


def test_an_idle_viewer_is_pinged_and_stays_live(fast_heartbeat_server: Server) -> None:
    server = fast_heartbeat_server
    server.post_points("m", series(5))
    viewer = RawSocketIO(server)
    assert viewer.ping_interval >= 1
    viewer.subscribe("m", "window=all")
    viewer.version_arrives(0)
    assert viewer.text().startswith("431[")  # the ack follows the figure
    started = time.monotonic()
    viewer.answer_pings(3)  # idle: nothing but heartbeats, each answered
    assert time.monotonic() - started >= 2 * viewer.ping_interval
    version = server.post_points("m", series(1, start=5))["version"]
    assert viewer.version_arrives(version)["version"] == version
    viewer.close()


def test_a_viewer_that_never_answers_pings_is_dropped(fast_heartbeat_server: Server) -> None:
    server = fast_heartbeat_server
    server.post_points("m", series(5))
    silent = RawSocketIO(server)
    silent.subscribe("m", "window=all")
    silent.version_arrives(0)
    started = time.monotonic()
    with pytest.raises(Closed) as closed:
        while True:
            silent.event(answer_pings=False)
    assert time.monotonic() - started < 2 + 2 + 3  # interval + timeout + slack
    assert str(closed.value) == "closing frame, code None"  # a normal close, not an error
    assert '"event": "disconnect"' in server.log()  # the server forgot it first
    silent.close()


def test_more_viewers_than_eventlets_request_pool(tmp_path: Path) -> None:
    """eventlet serves at most 1,024 requests at once; a WebSocket is not one for its life."""
    viewers = 1_100
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2 * viewers + 100:
        pytest.skip(f"the open-files limit ({hard}) is too low for {viewers} connections")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    # Every viewer here shares the loopback address: give it the budget of 1,100 clients.
    env = {"DASH_MAX_VIEWS_PER_IP": str(2 * viewers),
           "DASH_MAX_WEBSOCKETS_PER_IP": str(2 * viewers)}
    with run_server(tmp_path, demo=False, env=env) as server, ExitStack() as stack:
        server.post_points("m", series(5))
        clients = []
        for _ in range(viewers):
            client = RawSocketIO(server)
            stack.callback(client.close)
            client.subscribe("m", "window=all")
            clients.append(client)
        for client in clients:
            client.version_arrives(0)
        assert server.get_json("/healthz")["clients"] == viewers
        version = server.post_points("m", series(1, start=5))["version"]
        assert all(c.version_arrives(version)["version"] == version for c in clients)
