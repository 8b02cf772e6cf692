"""Pages showing a dashboard: its Socket.IO room, the views each page joined for it, and
``dashboard_changed`` announcements (to sockets and to dashboard long-polls)."""
from __future__ import annotations

import threading
from typing import Any

from .transport import Transport
from .waiting import Waiters


def board_room(name: str) -> str:
    """The room of every page showing dashboard ``name`` (dataset names hold no ``:``),
    and the long-poll key of its document."""
    return f"dashboard:{name}"


class Boards:
    """Which view rooms each socket joined for which dashboard; ``dashboard_changed``.

    The view rooms themselves are ordinary views (``Rooms``): a panel's view is shared with
    every page and dashboard that shows it. What is kept here is only which of a socket's
    view rooms it holds for a dashboard, so that leaving (or a new layout) leaves exactly
    those and no view another dashboard of the same socket still shows.
    """

    def __init__(self, transport: Transport, waiters: Waiters) -> None:
        self.transport = transport
        self.waiters = waiters
        self._joined: dict[str, dict[str, tuple[str, ...]]] = {}  # sid -> name -> view rooms
        self._announced: dict[str, int] = {}  # name -> announcements so far
        self._lock = threading.Lock()

    def joined(self, sid: str, name: str, rooms: tuple[str, ...]) -> tuple[str, ...]:
        """Record that ``sid`` shows dashboard ``name`` with these view rooms (whatever it
        showed of ``name`` before, with other overrides or layout, is replaced); the view
        rooms it held for ``name`` before and no longer needs (to leave)."""
        with self._lock:
            mine = self._joined.setdefault(sid, {})
            before = mine.get(name, ())
            mine[name] = rooms
            still = {room for other, held in mine.items() for room in held}
        return tuple(room for room in before if room not in still)

    def left(self, sid: str, name: str) -> tuple[str, ...]:
        """Forget dashboard ``name`` for ``sid``; the view rooms no other dashboard of
        ``sid`` holds (to leave)."""
        with self._lock:
            mine = self._joined.get(sid, {})
            before = mine.pop(name, ())
            still = {room for held in mine.values() for room in held}
            if not mine:
                self._joined.pop(sid, None)
        return tuple(room for room in before if room not in still)

    def forget(self, sid: str) -> None:
        """A socket went away (Socket.IO takes it out of its rooms)."""
        with self._lock:
            self._joined.pop(sid, None)

    def generation(self, name: str) -> int:
        """How many changes of ``name`` were announced so far: a long-poll compares it
        instead of reading the document at every data change."""
        with self._lock:
            return self._announced.get(name, 0)

    def announce(self, name: str, version: int | None) -> None:
        """``dashboard_changed`` ``{"name", "version"}`` to every page showing ``name``
        (``version`` ``None``: deleted), and wake its long-polls."""
        payload: dict[str, Any] = {"name": name, "version": version}
        with self._lock:
            self._announced[name] = self._announced.get(name, 0) + 1
        self.transport.emit_room(board_room(name), "dashboard_changed", payload)
        self.waiters.changed(board_room(name))
