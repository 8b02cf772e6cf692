"""Open WebSockets counted (app.live.transport.places)."""
from __future__ import annotations

import pytest

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
