"""Places for open WebSockets: at most so many in all and per client address.

Upgraded WebSockets leave eventlet's connection pool (``websocket.Protocol`` hands each to
a green thread of its own), so the pool's bounds no longer hold them, and each keeps one
open file until it closes. Unbounded, 1,300 idle WebSockets from one address used up a
server's 1,200 open files: ``accept()`` failed with EMFILE and the process exited. Here
``http.Protocol`` takes a place for every WebSocket handshake before it is upgraded (or
answers 503/429 with ``Retry-After``: the page's Socket.IO client then stays on
long-polling, or retries), and whoever holds the connection last gives the place back
when it closes, however it closes (``websocket._read_detached``, or the request itself).

Plain counting, no library internals: used from one eventlet hub, so it needs no lock.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

RETRY_AFTER = 5  # seconds, as every other admission refusal says


@dataclass(frozen=True)
class Refused:
    """Why a WebSocket was not let in: the HTTP status and a message naming the setting."""

    status: int  # 503: the server is full; 429: the client's address is
    reason: str


class Place:
    """One open WebSocket's place; ``release`` gives it back (once, however often called)."""

    __slots__ = ("_places", "client")

    def __init__(self, places: WebSocketPlaces, client: str) -> None:
        self._places: WebSocketPlaces | None = places
        self.client = client

    @property
    def held(self) -> bool:
        """True until released."""
        return self._places is not None

    def release(self) -> None:
        """Give the place back; later calls do nothing (several paths close a socket)."""
        places, self._places = self._places, None
        if places is not None:
            places._give_back(self.client)


class WebSocketPlaces:
    """Open WebSockets, at most ``total`` at once and ``per_client`` from one address.

    ``exempt(address)`` is True for addresses without a cap of their own (trusted proxies:
    every client behind one shares its address; ``total`` still holds).
    """

    def __init__(self, total: int, per_client: int,
                 exempt: Callable[[str], bool] = lambda _: False) -> None:
        self.total, self.per_client, self.exempt = total, per_client, exempt
        self.open = 0
        self.by_client: dict[str, int] = {}
        self.refused = 0

    def take(self, client: str) -> Place | Refused:
        """A place for a WebSocket from address ``client``, or why there is none."""
        if self.open >= self.total:
            self.refused += 1
            return Refused(503, f"{self.total} WebSockets are open already "
                                "(DASH_MAX_WEBSOCKETS); try again in a moment")
        mine = self.by_client.get(client, 0)
        if mine >= self.per_client and not self.exempt(client):
            self.refused += 1
            return Refused(429, f"{self.per_client} WebSockets from your address are open "
                                "already (DASH_MAX_WEBSOCKETS_PER_IP); close one or try again "
                                "in a moment")
        self.open += 1
        self.by_client[client] = mine + 1
        return Place(self, client)

    def _give_back(self, client: str) -> None:
        self.open -= 1
        left = self.by_client[client] - 1
        if left:
            self.by_client[client] = left
        else:
            del self.by_client[client]


# Open files kept for everything but connections: data files, logs, Redis, the listener.
FILES_RESERVE = 1024


def websockets_that_fit(open_files: int | None, connections: int, wanted: int) -> int:
    """How many WebSockets a process with ``open_files`` (None: no limit) may hold beside
    a pool of ``connections`` and ``FILES_RESERVE``: ``wanted``, or fewer when the limit
    is lower (what the pool leaves, but never less than half of what the reserve leaves,
    so a pool too large for the limit does not shut WebSockets out altogether)."""
    if open_files is None:
        return wanted
    spare = open_files - FILES_RESERVE
    return max(0, min(wanted, max(spare - connections, spare // 2)))
