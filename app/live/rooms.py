"""The watched views: one Socket.IO room each; who is in a room, Socket.IO's manager keeps."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from ..engine.view import View
from .figures import room_name
from .transport import Transport

# Views one socket may watch at once: a view page watches one, a dashboard page one per
# panel, and a dashboard has at most 24 panels (app.data.dashboards.MAX_PANELS). A page
# that swaps its views (other overrides, a new layout) leaves the old ones in the same
# step as it joins the new (``Rooms.replace``), so 24 always fit; 32 leaves 8 for views
# the same connection watches besides.
MAX_VIEWS_PER_SOCKET = 32
# Distinct views watched at once over all sockets (DASH_MAX_VIEWS): each is computed on
# every change of its dataset. Unbounded, 300 connections x 16 views kept a core busy
# and /healthz took 2.2 s at the median.
MAX_VIEWS = 2000
# Views the connections of one client address watch together (DASH_MAX_VIEWS_PER_IP; a
# connection watching none counts as one): a budget per client, so one client cannot
# take the server's whole MAX_VIEWS. One address with 300 connections x 16 views took all
# 2,000, and /healthz answered in 9.8 s, ingest in 5.8 s.
MAX_VIEWS_PER_CLIENT = 128


class TooManyViews(ValueError):
    """A socket asked to watch more views than allowed; the message says the limit."""


def _client_message(limit: int) -> str:
    return (f"your address watches its limit of {limit} live views already, over all its "
            "connections (DASH_MAX_VIEWS_PER_IP); close some pages or views first")


@dataclass
class Watched:
    """A view that at least one socket watches, and what its room was sent last."""

    dataset: str
    view: View
    sent: dict[str, Any] | None = None  # the base of the next extend_chart


class Rooms:
    """Which views are watched (room name -> ``Watched``); membership is Socket.IO's."""

    def __init__(self, transport: Transport, max_per_socket: int = MAX_VIEWS_PER_SOCKET,
                 max_views: int = MAX_VIEWS,
                 max_per_client: int = MAX_VIEWS_PER_CLIENT) -> None:
        self.transport = transport
        self.max_per_socket = max_per_socket
        self.max_views = max_views
        self.max_per_client = max_per_client
        self.watched: dict[str, Watched] = {}
        self._client: dict[str, str] = {}  # sid -> its client's address
        self._views: dict[str, int] = {}  # sid -> view rooms it is in
        # address -> views its connections watch, each at least one. Kept as they change:
        # summed on every connect, 1,100 connections of one address took O(n^2) and the
        # first clients missed their pings.
        self._load: dict[str, int] = {}

    # -- clients: the budget of views per address ----------------------------------------

    def arrive(self, sid: str, client: str) -> None:
        """Connection ``sid`` comes from address ``client`` (after trusted proxies)."""
        self._client[sid] = client
        self._views[sid] = 0
        self._load[client] = self._load.get(client, 0) + 1

    def arrival_refusal(self, client: str) -> str | None:
        """None if address ``client`` may open another connection (it counts as one view
        until it watches more), else why not."""
        if self._load.get(client, 0) + 1 > self.max_per_client:
            return _client_message(self.max_per_client)
        return None

    def _check_client(self, sid: str, after: int) -> None:
        """``TooManyViews`` if ``sid`` watching ``after`` views puts its address over
        its budget."""
        client = self._client.get(sid)
        if client is None:
            return
        load = self._load[client] - max(1, self._views[sid]) + max(1, after)
        if load > self.max_per_client:
            raise TooManyViews(_client_message(self.max_per_client))

    def _count(self, sid: str, views: int) -> None:
        """``sid`` is in ``views`` view rooms now."""
        client = self._client.get(sid)
        if client is not None:
            self._load[client] += max(1, views) - max(1, self._views[sid])
            self._views[sid] = views

    def join(self, sid: str, dataset: str, view: View) -> str:
        """Put ``sid`` into the view's room and return the room; ``TooManyViews`` past the
        cap per socket, or for a view nobody watches yet once ``max_views`` are watched."""
        room = room_name(dataset, view)
        mine = self.rooms_of(sid)  # view rooms only: a dashboard's own room is not a view
        if room not in mine and len(mine) >= self.max_per_socket:
            raise TooManyViews(f"a connection may watch at most {self.max_per_socket} views; "
                               "unsubscribe from one first")
        if room not in mine:
            self._check_client(sid, len(mine) + 1)
        if room not in self.watched and len(self.watched) >= self.max_views:
            raise TooManyViews(f"the server already follows its limit of {self.max_views} "
                               "distinct live views (DASH_MAX_VIEWS); views others watch "
                               "still work, or try again later")
        self.watched.setdefault(room, Watched(dataset, view.chart))
        self.transport.enter(sid, room)
        if room not in mine:
            self._count(sid, len(mine) + 1)
        return room

    def replace(self, sid: str, old: Collection[str],
                views: Sequence[tuple[str, View]]) -> list[str]:
        """In one step, take ``sid`` out of the rooms in ``old`` it no longer needs and into
        the room of each (dataset, view) in ``views``; the new rooms, in order.

        Both caps count what is watched afterwards, not old and new together: what ``sid``
        watches (``max_per_socket``), and the server's distinct views (``max_views``, the
        views only ``sid`` watched and leaves making room). ``TooManyViews`` (and nothing
        changed) only past one of them.
        """
        rooms = [room_name(dataset, view) for dataset, view in views]
        mine = self.rooms_of(sid)
        leaving = (mine & set(old)) - set(rooms)
        after = (mine - leaving) | set(rooms)
        if len(after) > self.max_per_socket:
            raise TooManyViews(f"a connection may watch at most {self.max_per_socket} views "
                               f"and this would make it {len(after)}; unsubscribe from some "
                               "first")
        self._check_client(sid, len(after))
        fresh = {room for room in rooms if room not in self.watched}
        freed = {room for room in leaving if set(self.transport.members(room)) <= {sid}}
        if fresh and len(self.watched) - len(freed) + len(fresh) > self.max_views:
            raise TooManyViews(f"the server already follows its limit of {self.max_views} "
                               "distinct live views (DASH_MAX_VIEWS); views others watch "
                               "still work, or try again later")
        for room in leaving:
            self.leave(sid, room)
        for room, (dataset, view) in zip(rooms, views, strict=True):
            self.watched.setdefault(room, Watched(dataset, view.chart))
            self.transport.enter(sid, room)
        self._count(sid, len(after))
        return rooms

    def welcomed(self, room: str, payload: dict[str, Any]) -> None:
        """A new watcher got ``payload``: if the room has sent nothing yet, deltas start there."""
        watched = self.watched.get(room)
        if watched is not None and watched.sent is None:
            watched.sent = payload

    def leave(self, sid: str, room: str) -> None:
        """Take ``sid`` out of ``room``; the view is forgotten once nobody watches it."""
        mine = self.rooms_of(sid) if sid in self._client else set()
        self.transport.leave(sid, room)
        self.prune(room)
        if room in mine:
            self._count(sid, len(mine) - 1)

    def drop(self, sid: str) -> None:
        """Forget the views only a disconnecting ``sid`` watched (it leaves its rooms next),
        and its place in its address's budget."""
        client = self._client.pop(sid, None)
        if client is not None:
            left = self._load[client] - max(1, self._views.pop(sid))
            if left > 0:
                self._load[client] = left
            else:
                del self._load[client]
        for room in self.transport.rooms_of(sid):
            if set(self.transport.members(room)) <= {sid}:
                self.watched.pop(room, None)

    def prune(self, room: str) -> bool:
        """Forget ``room``'s view if nobody watches it any more; True if forgotten."""
        if room in self.watched and not self.transport.members(room):
            del self.watched[room]
            return True
        return False

    def rooms_of(self, sid: str) -> set[str]:
        """The view rooms ``sid`` is in."""
        return {room for room in self.transport.rooms_of(sid) if room in self.watched}

    @property
    def clients(self) -> int:
        """Sockets of this process watching at least one view."""
        sids: set[str] = set()
        for room in self.watched:
            sids.update(self.transport.members(room))
        return len(sids)
