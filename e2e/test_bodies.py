"""Request bodies against the real server, byte by byte over raw sockets: a body is read
whole or refused, never stored in part; chunked bodies count against the size limit;
headers that never finish are closed."""
from __future__ import annotations

import hashlib
import json
import socket
import time
import urllib.error
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from e2e.conftest import ADMIN_TOKEN, INGEST_TOKEN, Server, run_server

READ_TIMEOUT = 10.0  # seconds for any answer
BODY_LIMIT = 1000  # DASH_MAX_BODY_BYTES of these servers
HEADER_TIMEOUT = 1.0  # DASH_HEADER_TIMEOUT of these servers (10 s by default)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module; each test sends to a dataset of its own (``name``)."""
    with run_server(tmp_path_factory.mktemp("bodies"), demo=False,
                    env={"DASH_MAX_BODY_BYTES": str(BODY_LIMIT),
                         "DASH_HEADER_TIMEOUT": str(HEADER_TIMEOUT)}) as running:
        yield running


@pytest.fixture
def name(request: pytest.FixtureRequest) -> str:
    """A dataset name no other test of the module uses."""
    return "t" + hashlib.sha1(request.node.nodeid.encode()).hexdigest()[:16]


def line(n: int) -> bytes:
    """One NDJSON point: 63 bytes with its newline (n < 10)."""
    return (json.dumps({"timestamp": f"2024-05-01T00:00:{n:02d}Z", "v": n, "host": "web-1"})
            + "\n").encode()


def head(server: Server, extra: str, name: str) -> bytes:
    netloc = urlsplit(server.url).netloc
    return (f"POST /api/d/{name}/points HTTP/1.1\r\nHost: {netloc}\r\n"
            f"Authorization: Bearer {INGEST_TOKEN}\r\n"
            f"Content-Type: application/x-ndjson\r\n{extra}\r\n").encode()


def exchange(server: Server, data: bytes, close_after: bool = True) -> tuple[int, bytes]:
    """Send ``data`` (then close our sending side), read the answer: (status, body)."""
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(data)
        if close_after:
            sock.shutdown(socket.SHUT_WR)  # the client went away mid-body
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, f"closed without an answer after {answer!r}"
            answer += chunk
        top, body = answer.split(b"\r\n\r\n", 1)
        lines = top.decode("latin-1").split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in lines[1:])}
        length = int(headers.get("content-length", -1))
        while length >= 0 and len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return int(lines[0].split()[1]), body


def stored(server: Server, name: str) -> int | None:
    """Points of dataset ``name``, None if there is none."""
    listed = {d["name"]: d for d in server.get_json("/api/datasets")}
    return listed[name]["points"] if name in listed else None


def chunked(*parts: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


def test_a_body_cut_short_of_its_content_length_is_a_400_and_nothing_is_stored(
        server: Server, name: str) -> None:
    status, body = exchange(server, head(server, "Content-Length: 1000\r\n", name) + line(1))
    assert status == 400
    assert json.loads(body)["error"] == ("the body ended before its Content-Length of 1000 "
                                         "bytes: nothing was stored")
    assert stored(server, name) is None


def test_a_client_dropped_after_6_of_10_lines_stores_none_and_its_retry_stores_10(
        server: Server, name: str) -> None:
    lines = [line(n) for n in range(10)]
    whole = b"".join(lines)
    size = f"Content-Length: {len(whole)}\r\n"
    status, _ = exchange(server, head(server, size, name) + b"".join(lines[:6]))
    assert (status, stored(server, name)) == (400, None)
    status, body = exchange(server, head(server, size + "Connection: close\r\n", name) + whole,
                            close_after=False)
    assert (status, json.loads(body)["accepted"]) == (200, 10)
    assert stored(server, name) == 10


@pytest.mark.parametrize("lengths, status", [
    (("63", "5"), 400),
    (("5", "63"), 400),
    (("63", "63"), 200),  # the same value twice is one length (RFC 9110, 8.6)
])
def test_conflicting_content_length_headers_are_a_400(server: Server, name: str,
                                                       lengths: tuple[str, str],
                                                       status: int) -> None:
    extra = "".join(f"Content-Length: {n}\r\n" for n in lengths) + "Connection: close\r\n"
    got, _ = exchange(server, head(server, extra, name) + line(1), close_after=False)
    assert got == status
    assert stored(server, name) == (1 if status == 200 else None)


def test_a_chunked_body_is_read_whole(server: Server, name: str) -> None:
    body = chunked(line(1), line(2)[:30], line(2)[30:] + line(3))
    status, answer = exchange(server, head(server, "Transfer-Encoding: chunked\r\n"
                                                    "Connection: close\r\n", name) + body,
                              close_after=False)
    assert (status, json.loads(answer)["accepted"]) == (200, 3)
    assert stored(server, name) == 3


@pytest.mark.parametrize("parts", [
    [line(n) for n in range(16)],  # 1,014 bytes in 16 chunks
    [b"".join(line(n) for n in range(16))],  # in one
], ids=["many-chunks", "one-chunk"])
def test_a_chunked_body_over_the_size_limit_is_a_413(server: Server, name: str,
                                                     parts: list[bytes]) -> None:
    status, answer = exchange(server, head(server, "Transfer-Encoding: chunked\r\n", name)
                              + chunked(*parts), close_after=False)
    assert status == 413
    assert json.loads(answer)["error"] == (f"body is over the limit of {BODY_LIMIT} bytes "
                                           "(DASH_MAX_BODY_BYTES)")
    assert stored(server, name) is None


def test_a_chunked_body_cut_before_its_last_chunk_is_a_400(server: Server, name: str) -> None:
    body = chunked(line(1), line(2))[:-5]  # the closing "0" chunk never comes
    status, answer = exchange(server, head(server, "Transfer-Encoding: chunked\r\n", name) + body)
    assert status == 400
    assert json.loads(answer)["error"] == ("the body ended before its last chunk: nothing was "
                                           "stored")
    assert stored(server, name) is None


def test_a_transfer_coding_other_than_chunked_is_a_501(server: Server, name: str) -> None:
    status, _ = exchange(server, head(server, "Transfer-Encoding: gzip, chunked\r\n", name)
                         + chunked(line(1)))
    assert status == 501
    assert stored(server, name) is None


@pytest.mark.parametrize("sent", [
    b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # the blank line never comes
    b"GET /heal",  # not even the request line
    b"",  # a connection that says nothing
])
def test_headers_that_do_not_arrive_in_time_are_closed(server: Server, sent: bytes) -> None:
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=READ_TIMEOUT) as sock:
        started = time.monotonic()
        sock.sendall(sent)
        assert sock.recv(1024) == b""  # closed by the server, no answer
        waited = time.monotonic() - started
    assert HEADER_TIMEOUT * 0.9 <= waited < HEADER_TIMEOUT + 2


def test_a_body_that_stalls_is_dropped_and_nothing_is_stored(server: Server, name: str) -> None:
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(head(server, "Content-Length: 500\r\n", name) + line(1))
        started = time.monotonic()
        answer = sock.recv(65536)  # the rest never comes
        waited = time.monotonic() - started
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
    assert waited < HEADER_TIMEOUT + 2
    assert stored(server, name) is None


def test_an_idle_keep_alive_connection_is_closed_after_the_header_timeout(
        server: Server) -> None:
    address = urlsplit(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=READ_TIMEOUT) as sock:
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {address.netloc}\r\n\r\n".encode())
        answer: Any = b""
        while b'"status"' not in answer:
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert sock.recv(1024) == b""
    assert time.monotonic() - started < HEADER_TIMEOUT + 2


def test_a_chunked_body_elsewhere_is_bounded_too(server: Server) -> None:
    """Forms and dashboard documents stop at Flask's MAX_CONTENT_LENGTH (1 MiB)."""
    netloc = urlsplit(server.url).netloc
    form = b"next=/&token=" + b"x" * (2 * 1024 * 1024)
    head = (f"POST /login HTTP/1.1\r\nHost: {netloc}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    status, body = exchange(server, head + chunked(*(form[i:i + 65536]
                                                  for i in range(0, len(form), 65536))),
                         close_after=False)
    assert status == 413, body[:300]


def open_socket(server: Server) -> socket.socket:
    address = urlsplit(server.url)
    return socket.create_connection((address.hostname, address.port), timeout=READ_TIMEOUT)


def closed_within(sock: socket.socket, seconds: float, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``sock`` (reading whatever it answers), sending one
    byte of ``trickle`` whenever 0.25 s pass without news; fails past ``seconds``."""
    started = time.monotonic()
    sock.settimeout(0.25)
    sent = 0
    while time.monotonic() - started < seconds:
        try:
            if not sock.recv(65536):
                return time.monotonic() - started
        except TimeoutError:
            if sent < len(trickle):
                try:
                    sock.sendall(trickle[sent:sent + 1])
                except OSError:
                    return time.monotonic() - started
                sent += 1
        except OSError:  # reset
            return time.monotonic() - started
    raise AssertionError(f"still open after {seconds} s")


@pytest.mark.parametrize("path, upgrade", [
    ("/api/d/{name}/points", "Upgrade: websocket\r\nConnection: Upgrade\r\n"),
    ("/login", "Upgrade: websocket\r\n"),
])
def test_an_upgrade_header_does_not_dodge_the_timeouts(server: Server, name: str, path: str,
                                                       upgrade: str) -> None:
    netloc = urlsplit(server.url).netloc
    with open_socket(server) as sock:
        sock.sendall((f"POST {path.format(name=name)} HTTP/1.1\r\nHost: {netloc}\r\n"
                      f"Authorization: Bearer {INGEST_TOKEN}\r\n{upgrade}"
                      "Content-Type: text/csv\r\nContent-Length: 100\r\n\r\n").encode())
        assert closed_within(sock, HEADER_TIMEOUT + 3) >= HEADER_TIMEOUT * 0.9
    assert stored(server, name) is None


def test_a_body_trickled_a_byte_at_a_time_is_dropped_and_nothing_is_stored(
        server: Server, name: str) -> None:
    body = b"".join(line(n) for n in range(8))  # 504 bytes, one every 0.25 s: 2 min
    with open_socket(server) as sock:
        sock.sendall(head(server, f"Content-Length: {len(body)}\r\n", name))
        # Past the header timeout a body owes 500 bytes a second (DASH_MIN_TRANSFER_RATE).
        assert closed_within(sock, HEADER_TIMEOUT + 5, trickle=body) < HEADER_TIMEOUT + 5
    assert stored(server, name) is None


def test_a_client_that_reads_its_answer_too_slowly_is_dropped(server: Server) -> None:
    rows = "".join(f"2024-05-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z,{n},"
                   f"host-{n % 7}\n" for n in range(200_000))
    server.write_csv("big", "timestamp,cpu,host\n" + rows)  # its export is ~10 MB
    netloc = urlsplit(server.url).netloc
    deadline = time.monotonic() + READ_TIMEOUT
    while "big" not in {d["name"] for d in server.get_json("/api/datasets")}:
        assert time.monotonic() < deadline, "big.csv was not loaded"
    with open_socket(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(f"GET /api/d/big/rows?format=csv&agg=raw HTTP/1.1\r\nHost: {netloc}\r\n"
                     "\r\n".encode())
        sock.settimeout(0.5)
        started, got = time.monotonic(), 0
        while time.monotonic() - started < 30:  # a reader of 2 bytes a second
            try:
                data = sock.recv(1)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            got += 1
        waited = time.monotonic() - started
    assert waited < 30, f"still served after 30 s ({got} bytes read)"


DASHBOARD = json.dumps({"title": "Cut", "panels": [
    {"id": "p", "type": "timeseries", "dataset": "x", "query": ""}]}).encode()


def test_a_dashboard_put_cut_short_is_a_400_and_nothing_is_stored(server: Server) -> None:
    netloc = urlsplit(server.url).netloc
    put = (f"PUT /api/dashboards/cut HTTP/1.1\r\nHost: {netloc}\r\n"
           f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(DASHBOARD) + 40}\r\n\r\n").encode()
    status, body = exchange(server, put + DASHBOARD)  # a whole document, then nothing
    assert status == 400
    assert json.loads(body)["error"] == (f"the body ended before its Content-Length of "
                                         f"{len(DASHBOARD) + 40} bytes: nothing was stored")
    with pytest.raises(urllib.error.HTTPError) as missing:
        server.get_json("/api/dashboards/cut")
    assert missing.value.code == 404


def answer_of(server: Server, data: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send ``data`` and read until the server closes: (status line, headers, the rest)."""
    with open_socket(server) as sock:
        sock.sendall(data)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    top, _, rest = received.partition(b"\r\n\r\n")
    status, *lines = top.decode("latin-1").split("\r\n")
    return status, {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in lines)}, rest


SMUGGLED = b"GET /api/d/smuggled/figure HTTP/1.1\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize("framing, status", [
    ("Transfer-Encoding: \x0bchunked\r\n", "501"),
    ("Transfer-Encoding: chunked\r\nContent-Length: 40\r\n", "400"),
    ("Content-Length : 40\r\n", "400"),
    ("Content-Length: 40\r\nContent-Length: 4\r\n", "400"),
    ("Content-Length: +40\r\n", "400"),
])
def test_framing_read_two_ways_is_refused_and_the_connection_closed(
        server: Server, name: str, framing: str, status: str) -> None:
    body = chunked(line(1)) + SMUGGLED
    answer, headers, rest = answer_of(server, head(server, framing, name) + body)
    assert answer.split()[1] == status
    assert headers["connection"] == "close"
    assert b"HTTP/1.1" not in rest  # no answer to the smuggled request
    assert stored(server, name) is None


@pytest.mark.parametrize("request_bytes, status", [
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "501"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length : 1\r\n\r\n", "400"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", "414"),
    (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n", "431"),
    (b"NONSENSE\r\n\r\n", "400"),
])
def test_the_servers_own_error_answers_carry_the_security_headers(
        server: Server, request_bytes: bytes, status: str) -> None:
    answer, headers, _ = answer_of(server, request_bytes)
    assert answer.split()[1] == status
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
