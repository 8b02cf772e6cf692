"""Open WebSockets counted (app.live.transport.places), and the listener that rides out a
shortage of open files (app.live.transport.http.Listener)."""
from __future__ import annotations

import errno
import logging
from typing import Any

import pytest

from app.live.transport.http import Listener
from app.live.transport.places import Place, Refused, WebSocketPlaces, websockets_that_fit

A, B, PROXY = "192.0.2.1", "192.0.2.2", "10.0.0.1"


def statuses(places: WebSocketPlaces, clients: list[str]) -> list[int]:
    """101 for each WebSocket let in, else the refusal's status."""
    return [101 if isinstance(taken, Place) else taken.status
            for taken in (places.take(client) for client in clients)]


@pytest.mark.parametrize(("total", "per_client", "clients", "expected"), [
    # an address gets its own places, then 429; the server's, then 503 for everyone
    (4, 2, [A, A, A], [101, 101, 429]),
    (4, 2, [A, A, B, B, B], [101, 101, 101, 101, 503]),
    (3, 2, [A, B, A, B], [101, 101, 101, 503]),
    # a trusted proxy has no cap of its own, only the server's
    (4, 1, [PROXY, PROXY, PROXY, PROXY, PROXY], [101, 101, 101, 101, 503]),
    (4, 1, [A, A, PROXY], [101, 429, 101]),
])
def test_places_per_address_and_in_all(total: int, per_client: int, clients: list[str],
                                       expected: list[int]) -> None:
    places = WebSocketPlaces(total, per_client, exempt=lambda client: client == PROXY)
    assert statuses(places, clients) == expected
    assert places.refused == expected.count(429) + expected.count(503)


@pytest.mark.parametrize(("refusal", "status", "setting"), [
    ([A, A, A], 429, "2 WebSockets from your address are open already "
                     "(DASH_MAX_WEBSOCKETS_PER_IP)"),
    ([A, B, B, A], 503, "3 WebSockets are open already (DASH_MAX_WEBSOCKETS)"),
])
def test_a_refusal_names_its_setting(refusal: list[str], status: int, setting: str) -> None:
    places = WebSocketPlaces(3, 2)
    for client in refusal[:-1]:
        places.take(client)
    refused = places.take(refusal[-1])
    assert isinstance(refused, Refused)
    assert refused.status == status and refused.reason.startswith(setting)


def test_a_place_comes_back_once_however_often_it_is_released() -> None:
    places = WebSocketPlaces(2, 2)
    first, second = places.take(A), places.take(B)
    assert isinstance(first, Place) and isinstance(second, Place)
    for _ in range(3):  # the reader, the request and a close may each release it
        first.release()
    assert not first.held and second.held
    assert (places.open, places.by_client) == (1, {B: 1})
    second.release()
    assert (places.open, places.by_client) == (0, {})
    assert statuses(places, [A, A, A]) == [101, 101, 503]


@pytest.mark.parametrize(("open_files", "connections", "wanted", "fit"), [
    (None, 4096, 4096, 4096),  # no limit
    (9216, 4096, 4096, 4096),  # the defaults, raised to fit: 4,096 + 4,096 + 1,024
    (20000, 4096, 4096, 4096),
    (6144, 4096, 4096, 2560),  # what the pool and the 1,024 reserved leave
    (4096, 4096, 4096, 1536),  # the pool alone passes the limit: half of 4,096 - 1,024
    (1536, 256, 4096, 256),
    (1000, 256, 4096, 0),  # not even the reserve fits
])
def test_websockets_that_fit_the_open_files_limit(open_files: int | None, connections: int,
                                                  wanted: int, fit: int) -> None:
    assert websockets_that_fit(open_files, connections, wanted) == fit


class Socket:
    """A listening socket whose accepts fail with ``errors`` (errno values) first."""

    family = "AF_TEST"

    def __init__(self, errors: list[int]) -> None:
        self.errors = list(errors)

    def accept(self) -> tuple[str, str]:
        if self.errors:
            code = self.errors.pop(0)
            raise OSError(code, f"errno {code}")
        return "connection", "address"


class Clock:
    """Seconds that pass only when the listener sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def listener(errors: list[int], clock: Clock, log: logging.Logger,
             first_pause: float = 0.005) -> Listener:
    return Listener(Socket(errors), first_pause=first_pause, longest_pause=1.0,
                    log_every=10.0, sleep=clock.sleep, clock=lambda: clock.now, log=log)


@pytest.mark.parametrize(("errors", "pauses"), [
    ([], []),
    ([errno.EMFILE], [0.005]),
    # doubling from 5 ms up to 1 s, like Go's net/http
    ([errno.EMFILE] * 10, [0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0]),
    ([errno.ENFILE, errno.ENOBUFS, errno.ENOMEM], [0.005, 0.01, 0.02]),
    # a connection gone before it was accepted: the next one, at once
    ([errno.ECONNABORTED, errno.EPROTO, errno.ECONNRESET], []),
])
def test_accept_waits_out_a_shortage(errors: list[int], pauses: list[float]) -> None:
    clock = Clock()
    sock = listener(errors, clock, logging.getLogger("test.listener"))
    assert sock.accept() == ("connection", "address")
    assert clock.pauses == pytest.approx(pauses)
    assert sock.failures == len(pauses)
    assert sock.family == "AF_TEST"  # everything else is the socket's own


def test_a_shortage_is_logged_at_once_then_at_most_every_ten_seconds(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    sock = listener([errno.EMFILE] * 40, clock, logging.getLogger("test.listener"),
                    first_pause=1 / 128)  # every time below is exact in binary
    with caplog.at_level(logging.WARNING, logger="test.listener"):
        sock.accept()
    # Pauses double from 1/128 s to 1 s (the 8th), so failure k >= 8 comes at
    # 127/128 + (k - 8) s. Logged: failure 1 at 0 s; failure 18 at 10 127/128 s (17 since
    # the last line); 28 and 38 exactly 10 s after it and after each other (10 since
    # each); 39 and 40 not yet.
    records: list[Any] = caplog.records
    assert [r.failed for r in records] == [1, 17, 10, 10]
    assert all(r.event == "accept_error" and r.errno == "EMFILE" for r in records)
    assert "EMFILE" in records[0].getMessage()


@pytest.mark.parametrize("code", [errno.EBADF, errno.EINVAL, errno.ENOTSOCK])
def test_other_accept_errors_are_raised(code: int) -> None:
    clock = Clock()
    sock = listener([code], clock, logging.getLogger("test.listener"))
    with pytest.raises(OSError) as raised:
        sock.accept()
    assert raised.value.errno == code and clock.pauses == []
