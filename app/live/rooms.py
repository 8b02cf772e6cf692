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


class TooManyViews(ValueError):
    """A socket asked to watch more views than allowed; the message says the limit."""


@dataclass
class Watched:
    """A view that at least one socket watches, and what its room was sent last."""

    dataset: str
    view: View
    sent: dict[str, Any] | None = None  # the base of the next extend_chart


class Rooms:
    """Which views are watched (room name -> ``Watched``); membership is Socket.IO's."""

    def __init__(self, transport: Transport, max_per_socket: int = MAX_VIEWS_PER_SOCKET,
                 max_views: int = MAX_VIEWS) -> None:
        self.transport = transport
        self.max_per_socket = max_per_socket
        self.max_views = max_views
        self.watched: dict[str, Watched] = {}

    def join(self, sid: str, dataset: str, view: View) -> str:
        """Put ``sid`` into the view's room and return the room; ``TooManyViews`` past the
        cap per socket, or for a view nobody watches yet once ``max_views`` are watched."""
        room = room_name(dataset, view)
        mine = self.rooms_of(sid)  # view rooms only: a dashboard's own room is not a view
        if room not in mine and len(mine) >= self.max_per_socket:
            raise TooManyViews(f"a connection may watch at most {self.max_per_socket} views; "
                               "unsubscribe from one first")
        if room not in self.watched and len(self.watched) >= self.max_views:
            raise TooManyViews(f"the server already follows its limit of {self.max_views} "
                               "distinct live views (DASH_MAX_VIEWS); views others watch "
                               "still work, or try again later")
        self.watched.setdefault(room, Watched(dataset, view.chart))
        self.transport.enter(sid, room)
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
        return rooms

    def welcomed(self, room: str, payload: dict[str, Any]) -> None:
        """A new watcher got ``payload``: if the room has sent nothing yet, deltas start there."""
        watched = self.watched.get(room)
        if watched is not None and watched.sent is None:
            watched.sent = payload

    def leave(self, sid: str, room: str) -> None:
        """Take ``sid`` out of ``room``; the view is forgotten once nobody watches it."""
        self.transport.leave(sid, room)
        self.prune(room)

    def drop(self, sid: str) -> None:
        """Forget the views only a disconnecting ``sid`` watched (it leaves its rooms next)."""
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
