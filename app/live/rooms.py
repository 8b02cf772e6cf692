"""The watched views: one Socket.IO room each; who is in a room, Socket.IO's manager keeps."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..engine.view import View
from .figures import room_name
from .transport import Transport

# Views one socket may watch at once: a view page watches one, a dashboard page one per
# panel, and a dashboard has at most 24 panels (app.data.dashboards.MAX_PANELS). 32 leaves
# room for a page that swaps its layout (new views joined before the old ones are left).
MAX_VIEWS_PER_SOCKET = 32


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

    def __init__(self, transport: Transport, max_per_socket: int = MAX_VIEWS_PER_SOCKET) -> None:
        self.transport = transport
        self.max_per_socket = max_per_socket
        self.watched: dict[str, Watched] = {}

    def join(self, sid: str, dataset: str, view: View) -> str:
        """Put ``sid`` into the view's room and return the room; ``TooManyViews`` past the cap."""
        room = room_name(dataset, view)
        mine = self.rooms_of(sid)  # view rooms only: a dashboard's own room is not a view
        if room not in mine and len(mine) >= self.max_per_socket:
            raise TooManyViews(f"a connection may watch at most {self.max_per_socket} views; "
                               "unsubscribe from one first")
        self.watched.setdefault(room, Watched(dataset, view.chart))
        self.transport.enter(sid, room)
        return room

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
